/**
 * What a node can ask Moleculer's registry about the cluster: the live nodes (with their services
 * and CPU), the nodes running one service, and every stream actor's streams. Used by placement,
 * the gateway's HTTP API and the admin REPL.
 */
import type { ServiceBroker } from "moleculer";
import type { StreamInfo } from "../../media/wire/control";
import { call } from "../contract";

/** A live node as the registry lists it. */
export interface MemberNode {
  id: string;
  available: boolean;
  /** CPU use in %, from the node's heartbeats; null before the first. */
  cpu: number | null;
  services?: Array<{ name: string }>;
}

/** Live nodes, with their services. */
export function liveNodes(broker: ServiceBroker): MemberNode[] {
  // getNodeList is public in Moleculer 0.14 but missing from its typings
  const registry = broker.registry as unknown as { getNodeList(o: object): MemberNode[] };
  return registry.getNodeList({ onlyAvailable: true, withServices: true });
}

/** Ids of the live nodes running service `name`, sorted. */
export function nodesRunning(broker: ServiceBroker, name: string): string[] {
  return liveNodes(broker)
    .filter((n) => n.services?.some((s) => s.name === name))
    .map((n) => n.id)
    .sort();
}

/**
 * Every stream of the cluster, once each: `stream.list` of every node running the stream service
 * (a node that fails, or does not answer within `timeoutMs` when given, counts as none: then
 * `complete` is false), merged by {@link onePerStream}, sorted by stream id.
 */
export async function listAllStreams(broker: ServiceBroker, timeoutMs?: number): Promise<{ streams: StreamInfo[]; complete: boolean }> {
  let complete = true;
  const lists = await Promise.all(
    nodesRunning(broker, "stream").map((nodeID) =>
      call(broker, "stream.list", {}, { nodeID, ...(timeoutMs ? { timeout: timeoutMs, retries: 0 } : {}) }).catch(() => ((complete = false), [] as StreamInfo[])),
    ),
  );
  return { streams: onePerStream(lists.flat()).sort((a, b) => a.streamId.localeCompare(b.streamId)), complete };
}

/** One entry per stream id, the live one where a former owner still holds an offline copy. */
function onePerStream(streams: StreamInfo[]): StreamInfo[] {
  const byId = new Map<string, StreamInfo>();
  for (const info of streams) {
    const seen = byId.get(info.streamId);
    if (!seen || (seen.state !== "live" && info.state === "live")) byId.set(info.streamId, info);
  }
  return [...byId.values()];
}
