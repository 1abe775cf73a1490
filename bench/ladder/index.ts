/**
 * Ladder, ABR and HLS benchmark (issue 13): what the rendition ladder costs in CPU per stream and
 * per rendition (bench/ladder/cpu.ts), how fast the gateway's ABR moves a throttled WebSocket
 * listener down and back up and whether the healthy listeners' latency moves meanwhile
 * (bench/ladder/abr.ts), and HLS latency from the broadcaster to a part's availability and to
 * hls.js playback (bench/ladder/hls.ts). Each part runs on a fresh node (default settings, the
 * test secret), with broadcasters sending a real recording as Opus.
 * Method and results: docs/benchmarks.md, section "Ladder, ABR and HLS".
 *
 *   npm run bench:ladder -- --streams 10 --seconds 15 [--only cpu|abr|hls] [--out results.json]
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { encodeOpusLoop } from "../fanout/opus-source";
import type { LatencySummary } from "../histogram";
import { Broadcaster } from "../fanout/broadcaster";
import { testToken } from "../../test/support/auth";
import { MEDIA, startNodeProcess, type NodeProcess } from "../../test/support/node-process";
import { abrReaction } from "./abr";
import { ladderCpu } from "./cpu";
import { hlsLatency } from "./hls";

const { values } = parseArgs({
  options: {
    streams: { type: "string", default: "10" },
    seconds: { type: "string", default: "15" },
    healthy: { type: "string", default: "50" },
    only: { type: "string" },
    out: { type: "string" },
  },
});
const STREAMS = Number(values.streams);
const SECONDS = Number(values.seconds);
const runs = (part: string) => values.only === undefined || values.only === part;

const fmt = (s: LatencySummary) => `p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(2)} ms, max ${s.maxMs.toFixed(2)} ms (${s.count} frames)`;

async function withNode<T>(fn: (node: NodeProcess) => Promise<T>): Promise<T> {
  const node = await startNodeProcess([]);
  try {
    return await fn(node);
  } finally {
    await node.stop();
  }
}

void (async () => {
  const loop = await encodeOpusLoop(path.join(MEDIA, "awakening.ogg"), { startSec: 30, seconds: 20, bitrate: 128_000 });
  const results: Record<string, unknown> = { date: new Date().toISOString(), streams: STREAMS, seconds: SECONDS };
  if (runs("cpu")) {
    const steps = await withNode((node) => ladderCpu(node, loop.packets, STREAMS, SECONDS));
    results.cpu = steps;
    console.log(`# ladder CPU: ${STREAMS} Opus streams on one node, ${SECONDS} s per step (node + its ffmpeg processes)`);
    let prev = 0;
    for (const s of steps) {
      const frames = s.rungFramesPerSecond === null ? "" : `, newest rung's listeners ${s.rungFramesPerSecond.toFixed(1)} frames/s`;
      console.log(`${s.renditions.padEnd(12)} ${s.cores.toFixed(3)} cores (+${((s.cores - prev) / STREAMS).toFixed(4)} per stream), ${s.ffmpegs} ffmpeg${frames}`);
      prev = s.cores;
    }
  }
  if (runs("abr")) {
    const healthy = Number(values.healthy);
    results.abr = [];
    const kinds = { sdk: "the SDK, with receiver reports", raw: "a raw WebSocket, no reports", none: "control: no slow listener" } as const;
    for (const slow of ["sdk", "raw", "none"] as const) {
      const r = await withNode((node) => abrReaction(node, loop.packets, healthy, SECONDS, 20, slow));
      (results.abr as unknown[]).push(r);
      console.log(`# ABR: one listener behind a 48 kbit/s link for 20 s (${kinds[slow]}), ${healthy} healthy listeners`);
      console.log(`healthy alone:     ${fmt(r.alone)}`);
      console.log(`healthy with slow: ${fmt(r.withSlow)}`);
      console.log(`switches (ms after the slow listener connected): ${r.switches.map(([t, d]) => `${d} ${t}`).join(", ")}`);
      console.log(`reaction (connect → first down) ${r.reactionMs} ms; recovery (link fast → back on r0) ${r.recoveryMs === null ? "-" : Math.round(r.recoveryMs)} ms; dropped ${r.dropped}`);
    }
  }
  if (runs("hls")) {
    const r = await withNode(async (node) => {
      const token = await testToken("publish", ["hls"], { sub: "hls-bench" });
      const { broadcaster } = await Broadcaster.connect(node.port, "hls", token, 5000);
      broadcaster.start(loop.packets, 20, () => undefined);
      try {
        await new Promise((res) => setTimeout(res, 4000));
        return await hlsLatency(node, "hls", SECONDS);
      } finally {
        broadcaster.stop();
      }
    });
    results.hls = r;
    const ms = (x: { p50: number; p99: number; max: number }) => `p50 ${x.p50} ms, p99 ${x.p99} ms, max ${x.max} ms`;
    console.log(`# HLS: ${r.reloads} blocking reloads of r0 in ${SECONDS} s`);
    console.log(`part's last sample → listed: ${ms(r.partEndMs)}`);
    console.log(`part's first sample → listed: ${ms(r.partStartMs)}`);
    for (const [mode, x] of Object.entries(r.hlsJs)) console.log(`hls.js ${mode}: ${x.median.toFixed(2)} s behind the broadcaster (${x.min.toFixed(2)}-${x.max.toFixed(2)})`);
  }
  if (values.out) fs.writeFileSync(values.out, JSON.stringify(results, null, 2));
  process.exit(0);
})().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
