import { startNodeProcess, waitFor, type NodeProcess } from "./node-process";
import { ensureNats, ensureRedis, NATS_URL, REDIS_URL } from "./services";

export interface NodeSpec {
  name: string;
  services: string;
}

/** Starts one node process per spec against the machine's NATS and Redis, in a fresh namespace. */
export async function startCluster(specs: NodeSpec[], extraEnv: Record<string, string> = {}): Promise<{ namespace: string; nodes: Record<string, NodeProcess>; stop(): Promise<void> }> {
  await ensureNats();
  await ensureRedis();
  const namespace = `t${process.pid}x${Date.now().toString(36)}`;
  const env = { NATS_URL, REDIS_URL, CLUSTER_NAMESPACE: namespace, ...extraEnv };
  const started = await Promise.all(specs.map((s) => startNodeProcess(["--node-id", s.name, "--services", s.services], env)));
  const nodes: Record<string, NodeProcess> = {};
  specs.forEach((s, i) => (nodes[s.name] = started[i]!));
  // wait until every gateway sees every node (Moleculer discovery over NATS)
  await waitFor(async () => {
    for (const n of Object.values(nodes)) {
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
