/**
 * Where each stream actor lives. Every live stream has exactly one owner node; gateways route its
 * control calls there with Moleculer's `nodeID` option (Moleculer's Shard strategy is not used: it
 * moves half the keys when a node joins, and `preferLocal` bypasses it).
 *
 * - A stream's owner, once live, is sticky: gateways learn it from `stream.*` events (which carry
 *   `owner`) and keep routing there while that node is alive, even if nodes join.
 * - A stream with no known live owner is placed by rendezvous (highest random weight) hashing of
 *   the stream id over the live nodes that run the `stream` service (Thaler & Ravishankar, "Using
 *   Name-Based Mappings to Increase Hit Rates", IEEE/ACM ToN 1998): every gateway with the same view
 *   of the cluster picks the same node, and a node joining or leaving moves only the streams that
 *   hash to it. Nodes the failure detector suspects (liveness.ts) count as gone. The stream actor then takes a lease in the cluster store (actors/cluster/store.ts),
 *   which settles the rare race between gateways whose views differ.
 */
import { createHash } from "node:crypto";
import type { ServiceBroker } from "moleculer";
import type { StreamInfo } from "../../media/wire/control";
import type { Liveness } from "./liveness";
import { nodesRunning } from "./members";

/** HRW weight of `nodeID` for `streamId`: the first 48 bits of SHA-1(streamId \0 nodeID). */
function weight(streamId: string, nodeID: string): number {
  return createHash("sha1").update(streamId).update("\0").update(nodeID).digest().readUIntBE(0, 6);
}

/** The node with the highest rendezvous weight for `streamId`, or undefined when `nodeIDs` is empty. */
export function rendezvousOwner(streamId: string, nodeIDs: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const id of nodeIDs) {
    const w = weight(streamId, id);
    if (w > bestWeight || (w === bestWeight && best !== undefined && id < best)) {
      best = id;
      bestWeight = w;
    }
  }
  return best;
}

/**
 * Whether `nodeID` is this node, or a live member of the cluster in `broker`'s registry that the
 * failure detector `liveness` (when given) does not suspect.
 */
export function isNodeAlive(broker: ServiceBroker, nodeID: string, liveness?: Pick<Liveness, "isSuspect">): boolean {
  if (nodeID === broker.nodeID) return true;
  const node = broker.registry.nodes.get(nodeID) as { available?: boolean } | undefined;
  return Boolean(node?.available) && !liveness?.isSuspect(nodeID);
}

export class Placement {
  /** Owners learnt from stream events. */
  private readonly known = new Map<string, string>();

  constructor(
    private readonly broker: ServiceBroker,
    private readonly liveness?: Pick<Liveness, "isSuspect">,
  ) {}

  /** Live nodes running the `stream` service that are not suspected, sorted. */
  workers(): string[] {
    return nodesRunning(this.broker, "stream").filter((id) => !this.liveness?.isSuspect(id));
  }

  /** Whether `nodeID` is a live member of the cluster, not suspected. */
  isAlive(nodeID: string): boolean {
    return isNodeAlive(this.broker, nodeID, this.liveness);
  }

  /** The node to send `streamId`'s calls to: its known live owner, else the rendezvous choice. */
  ownerOf(streamId: string): string | undefined {
    const known = this.known.get(streamId);
    if (known && this.isAlive(known)) return known;
    return rendezvousOwner(streamId, this.workers());
  }

  /** Learns the owner from a stream event or call result. */
  learn(info: Pick<StreamInfo, "streamId" | "owner" | "state">): void {
    if (info.owner) this.known.set(info.streamId, info.owner);
  }

  /** Forgets `streamId`'s owner (a stream gone idle: its calls go by rendezvous again). */
  forget(streamId: string): void {
    this.known.delete(streamId);
  }

  /** Streams whose owner is known here. */
  get size(): number {
    return this.known.size;
  }

  /** Forgets every owner that was `nodeID`. */
  forgetNode(nodeID: string): void {
    for (const [streamId, owner] of this.known) if (owner === nodeID) this.known.delete(streamId);
  }
}
