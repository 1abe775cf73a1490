import { rendezvousOwner } from "../../actors/cluster/placement";
import { startNodeProcess, waitFor, type NodeProcess } from "./node-process";
import { ensureNats, ensureRedis, NATS_URL, REDIS_URL } from "./services";

export interface NodeSpec {
  name: string;
  services: string;
  /** Network namespace to run the node in (test/support/netns.ts). */
  netns?: string;
  /** Environment of this node only (over the cluster's). */
  env?: Record<string, string>;
}

/** Starts one node process per spec against the machine's NATS and Redis, in a fresh namespace. */
export async function startCluster(specs: NodeSpec[], extraEnv: Record<string, string> = {}): Promise<{ namespace: string; nodes: Record<string, NodeProcess>; stop(): Promise<void> }> {
  await ensureNats();
  await ensureRedis();
  const namespace = `t${process.pid}x${Date.now().toString(36)}`;
  const env = { NATS_URL, REDIS_URL, CLUSTER_NAMESPACE: namespace, ...extraEnv };
  const settled = await Promise.allSettled(specs.map((s) => startNodeProcess(["--node-id", s.name, "--services", s.services], { ...env, ...s.env }, s.netns)));
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) {
    // stop the nodes that did start before reporting the one that did not
    await Promise.all(settled.map((r) => (r.status === "fulfilled" ? r.value.stop() : undefined)));
    throw failed.reason;
  }
  const nodes: Record<string, NodeProcess> = {};
  specs.forEach((s, i) => (nodes[s.name] = (settled[i] as PromiseFulfilledResult<NodeProcess>).value));
  // wait until every node knows every other (Moleculer discovery over NATS): a gateway's /health
  // lists the nodes it sees; every node logs "Node '<id>' connected." for each node it discovers.
  // A worker that has not yet seen a gateway sends it no stream.* events (Moleculer emits to the
  // nodes it knows), so that gateway's listeners would wait for a stream already live
  const knows = (n: NodeProcess, other: string) => n.logs.some((l) => l.msg === `Node '${other}' connected.` || l.msg === `Node '${other}' reconnected.`);
  await waitFor(async () => {
    for (const [name, n] of Object.entries(nodes)) {
      if (!specs.every((s) => s.name === name || knows(n, s.name))) return false;
      if (!n.port) continue;
      const health = (await (await fetch(`${n.http}/health`)).json()) as { nodes: string[] };
      if (health.nodes.length < specs.length) return false;
    }
    return true;
  }, 15_000, "cluster discovery");
  return {
    namespace,
    nodes,
    async stop() {
      await Promise.all(Object.values(nodes).map((n) => n.stop()));
    },
  };
}

/** The first stream id `<prefix><n>` whose rendezvous owner among `workers` is `owner`. */
export function streamOwnedBy(owner: string, workers: string[], prefix: string): string {
  for (let i = 0; ; i++) if (rendezvousOwner(`${prefix}${i}`, workers) === owner) return `${prefix}${i}`;
}
