/**
 * Cluster benchmark: what the NATS hop costs. Two node processes over the machine's NATS (node
 * "a": gateway and stream owner; node "b": gateway only), one 128 kbit/s stream broadcast to "a",
 * listeners on raw sockets in this process (same clock as the broadcaster):
 *   1. latency of same-node listeners (on "a") and cross-node listeners (on "b", one NATS hop) in
 *      one run, and the difference;
 *   2. the same total of listeners held by 1 gateway ("a") vs 2 gateways ("a" + "b"): delivered
 *      fraction, latency, CPU of each gateway process;
 *   3. as a reference, the same listeners on one node without NATS (in-process media bus).
 * In a cluster the owner's own gateway also receives the stream through the NATS server, so (1)
 * compares one NATS hop in the same process with one to another process; (3) shows NATS itself.
 * The nodes run on the test secret and rate limits (test/support/node-process.ts); the broadcaster
 * publishes with a token signed with that secret.
 * Method and results: docs/benchmarks.md, section "Cluster".
 *
 *   npx tsx bench/cluster/index.ts --listeners 500 --seconds 20
 */
import path from "node:path";
import { parseArgs } from "node:util";
import { Broadcaster } from "../fanout/broadcaster";
import { LatencyHistogram, type LatencySummary } from "../histogram";
import { encodeOpusLoop, packetKey } from "../fanout/opus-source";
import { sampleTree } from "../fanout/proc-stats";
import { RawWsClient } from "../fanout/ws-client";
import { testToken } from "../../test/support/auth";
import { startCluster } from "../../test/support/cluster";
import { MEDIA, startNodeProcess, type NodeProcess } from "../../test/support/node-process";

const { values } = parseArgs({ options: { listeners: { type: "string", default: "500" }, seconds: { type: "string", default: "20" } } });
const LISTENERS = Number(values.listeners);
const SECONDS = Number(values.seconds);

interface Group {
  name: string;
  latency: LatencyHistogram;
  received: number;
}

type Named = NodeProcess & { name: string };

async function phase(name: string, nodes: Named[], packets: Buffer[], layout: Array<{ node: Named; group: Group }>): Promise<{ groups: Group[]; sent: number; cpu: Record<string, number> }> {
  const index = new Map<number, number>();
  packets.forEach((p, i) => index.set(packetKey(p, 0, p.length), i));
  const sentAt = new Float64Array(packets.length).fill(-Infinity);
  /** Whether each packet's latest send fell inside the measured window. */
  const inWindow = new Uint8Array(packets.length);
  let measuring = false;
  let sent = 0;
  const streamId = `hop-${name}`;
  const clients: RawWsClient[] = [];
  const token = await testToken("publish", [streamId], { sub: "cluster-bench" });
  const { broadcaster } = await Broadcaster.connect(nodes[0]!.port, streamId, token, 5000);
  for (const [i, { node, group }] of layout.entries()) {
    clients.push(
      new RawWsClient(node.port, `/ws/listen/${streamId}`, {
        open: () => undefined,
        text: () => undefined,
        binary: (buf, start, end, atMs) => {
          const k = index.get(packetKey(buf, start + 16, end));
          if (k === undefined || !inWindow[k]) return;
          group.latency.record(atMs - sentAt[k]!);
          group.received++;
        },
        closed: () => undefined,
      }),
    );
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 100));
  }
  broadcaster.start(packets, 20, (i, atMs) => {
    sentAt[i] = atMs;
    inWindow[i] = measuring ? 1 : 0;
    if (measuring) sent++;
  });
  await new Promise((r) => setTimeout(r, 3000));
  const before = Object.fromEntries(nodes.map((n) => [n.name, sampleTree(n.proc.pid!).cpuSec]));
  measuring = true;
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  await new Promise((r) => setTimeout(r, 300)); // frames sent at the end of the window still arrive
  const cpu = Object.fromEntries(nodes.map((n) => [n.name, sampleTree(n.proc.pid!).cpuSec - before[n.name]!]));
  broadcaster.stop();
  for (const c of clients) c.destroy();
  await new Promise((r) => setTimeout(r, 500));
  return { groups: [...new Set(layout.map((l) => l.group))], sent, cpu };
}

const fmt = (s: LatencySummary) => `p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(2)} ms, max ${s.maxMs.toFixed(2)} ms`;

void (async () => {
  const loop = await encodeOpusLoop(path.join(MEDIA, "awakening.ogg"), { startSec: 30, seconds: 20, bitrate: 128_000 });
  const cluster = await startCluster([
    { name: "a", services: "gateway,stream,encoder,relay" },
    { name: "b", services: "gateway,relay" },
  ]);
  const a = Object.assign(cluster.nodes.a!, { name: "a" });
  const b = Object.assign(cluster.nodes.b!, { name: "b" });
  try {
    // 1. same-node vs cross-node, in one run
    const same: Group = { name: "same-node (a)", latency: new LatencyHistogram(), received: 0 };
    const cross: Group = { name: "cross-node (b, NATS hop)", latency: new LatencyHistogram(), received: 0 };
    const split = Array.from({ length: LISTENERS }, (_, i) => (i % 2 ? { node: b, group: cross } : { node: a, group: same }));
    const r1 = await phase("split", [a, b], loop.packets, split);
    console.log(`# NATS hop, ${LISTENERS} listeners (half per gateway), ${SECONDS} s`);
    for (const g of r1.groups) console.log(`${g.name}: ${fmt(g.latency.summary())}, delivered ${((100 * g.received) / (r1.sent * (LISTENERS / 2))).toFixed(2)} %`);
    const s = same.latency.summary();
    const c = cross.latency.summary();
    console.log(`added by the hop: p50 ${(c.p50Ms - s.p50Ms).toFixed(2)} ms, p99 ${(c.p99Ms - s.p99Ms).toFixed(2)} ms`);
    console.log(`gateway CPU: a ${r1.cpu.a!.toFixed(2)} s, b ${r1.cpu.b!.toFixed(2)} s over ${SECONDS} s`);
    // 2. all listeners on one gateway
    const one: Group = { name: "1 gateway (a)", latency: new LatencyHistogram(), received: 0 };
    const r2 = await phase("one", [a, b], loop.packets, Array.from({ length: LISTENERS }, () => ({ node: a, group: one })));
    console.log(`# ${LISTENERS} listeners on 1 gateway vs 2`);
    console.log(`1 gateway: ${fmt(one.latency.summary())}, delivered ${((100 * one.received) / (r2.sent * LISTENERS)).toFixed(2)} %, CPU a ${r2.cpu.a!.toFixed(2)} s`);
    const all = same.received + cross.received;
    console.log(`2 gateways: delivered ${((100 * all) / (r1.sent * LISTENERS)).toFixed(2)} %, CPU a ${r1.cpu.a!.toFixed(2)} s + b ${r1.cpu.b!.toFixed(2)} s`);
  } finally {
    await cluster.stop();
  }
  // 3. reference: one node without NATS (in-process media bus)
  const solo = Object.assign(await startNodeProcess(["--node-id", "solo"]), { name: "solo" });
  try {
    const local: Group = { name: "single node, no NATS", latency: new LatencyHistogram(), received: 0 };
    const r3 = await phase("local", [solo], loop.packets, Array.from({ length: LISTENERS }, () => ({ node: solo, group: local })));
    console.log(`# reference: ${LISTENERS} listeners on one node without NATS`);
    console.log(`${local.name}: ${fmt(local.latency.summary())}, delivered ${((100 * local.received) / (r3.sent * LISTENERS)).toFixed(2)} %, CPU ${r3.cpu.solo!.toFixed(2)} s`);
  } finally {
    await solo.stop();
  }
  process.exit(0);
})();
