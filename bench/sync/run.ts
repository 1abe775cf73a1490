/**
 * One synchronised-playout measurement: a stream from a skewed broadcaster, simulated listeners on
 * two gateway processes (cluster over NATS), each with its own clock offset and drift and jittery
 * links, and the statistics of when they played each frame. Used by bench/sync and test/e2e.
 */
import path from "node:path";
import { encodeOpusLoop } from "../fanout/opus-source";
import { startCluster } from "../../test/support/cluster";
import { MEDIA } from "../../test/support/node-process";
import { SimListener } from "./sim-listener";
import { SkewedBroadcaster } from "./skewed-broadcaster";
import { seededRandom, VirtualClock } from "./virtual-clock";

export interface SyncRunOptions {
  listeners: number;
  seconds: number;
  /** Max jitter up (listener → gateway) and down, ms. */
  upJitterMs: number;
  downJitterMs: number;
  maxOffsetMs: number;
  maxDriftPpm: number;
  broadcasterSkewPpm: number;
  /** Client drift compensation (switch off to show what it does). */
  compensateDrift?: boolean;
  /** Extra environment for the nodes (e.g. CLOCK_COMPENSATE_DRIFT=false). */
  nodeEnv?: Record<string, string>;
  seed?: number;
  /** Frames after join ignored by the spread statistics (convergence), s. Default 2. */
  settleSeconds?: number;
  /** Listeners join at random times over this many seconds (spreads their ping bursts). Default 0. */
  joinSpreadSeconds?: number;
}

export interface SyncRunResult {
  listeners: number;
  frames: number;
  /** Spread across listeners of each frame's play time, µs, after settling. */
  spreadUs: { p50: number; p99: number; max: number };
  /** Per listener: time from join until its error stays ≤ 100 µs, ms (p50, max). */
  convergeMs: { p50: number; max: number; unconverged: number };
  /** Median end-to-end delay (broadcaster send → sound), ms, in the first and last 10 s, and its change. */
  e2eMs: { first: number; last: number; driftMs: number };
  underruns: number;
  driftPpmEstimates: number[];
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

export async function runSync(o: SyncRunOptions): Promise<SyncRunResult> {
  const random = seededRandom(o.seed ?? 1);
  const loop = await encodeOpusLoop(path.join(MEDIA, "awakening.ogg"), { startSec: 30, seconds: 20, bitrate: 128_000 });
  const cluster = await startCluster(
    [
      { name: "ga", services: "gateway,stream,encoder,relay" },
      { name: "gb", services: "gateway,relay" },
    ],
    o.nodeEnv,
  );
  const urls = [cluster.nodes.ga!.url, cluster.nodes.gb!.url];
  const broadcaster = new SkewedBroadcaster(urls[0]!, "sync", loop.packets, o.broadcasterSkewPpm);
  const sims: SimListener[] = [];
  try {
    await broadcaster.start();
    for (let i = 0; i < o.listeners; i++) {
      const clock = new VirtualClock((random() * 2 - 1) * o.maxOffsetMs * 1000, (random() * 2 - 1) * o.maxDriftPpm);
      sims.push(new SimListener({ url: urls[i % 2]!, streamId: "sync", clock, upJitterMs: o.upJitterMs, downJitterMs: o.downJitterMs, random, compensateDrift: o.compensateDrift }));
    }
    const spreadMs = (o.joinSpreadSeconds ?? 0) * 1000;
    await Promise.all(sims.map((s) => new Promise((r) => setTimeout(r, random() * spreadMs)).then(() => s.start())));
    await new Promise((r) => setTimeout(r, Math.max(0, o.seconds * 1000 - spreadMs)));
  } finally {
    for (const s of sims) s.stop();
    broadcaster.stop();
    await cluster.stop();
  }
  return summarise(o, sims, broadcaster);
}

function summarise(o: SyncRunOptions, sims: SimListener[], broadcaster: SkewedBroadcaster): SyncRunResult {
  if (process.env.SYNC_DEBUG) {
    for (const s of sims) {
      const errs = [...s.errors.entries()].filter(([m]) => (s.played.get(m) ?? 0) - s.joinedAtUs > 5e6).map(([, e]) => e).sort((a, b) => a - b);
      console.log(`drift ${s.sync.driftPpm.toFixed(1)} resyncs ${s.follower.resyncs} err p1 ${quantile(errs, 0.01).toFixed(0)} p50 ${quantile(errs, 0.5).toFixed(0)} p99 ${quantile(errs, 0.99).toFixed(0)}`);
    }
  }
  const settleUs = (o.settleSeconds ?? 2) * 1e6;
  const spreads: number[] = [];
  const e2e: Array<{ at: number; ms: number }> = [];
  const frames = new Set<number>();
  for (const s of sims) for (const m of s.played.keys()) frames.add(m);
  for (const m of [...frames].sort((a, b) => a - b)) {
    const times = sims.map((s) => ({ s, t: s.played.get(m) })).filter((x) => x.t !== undefined && x.t - x.s.joinedAtUs > settleUs).map((x) => x.t!);
    if (times.length < sims.length) continue;
    times.sort((a, b) => a - b);
    spreads.push(times[times.length - 1]! - times[0]!);
    const sent = broadcaster.sentUs[m / 960];
    if (sent !== undefined) e2e.push({ at: times[0]!, ms: (quantile(times, 0.5) - sent) / 1000 });
  }
  spreads.sort((a, b) => a - b);
  // convergence against the median of all listeners: the last frame whose error exceeded 100 µs
  const converge: number[] = [];
  let unconverged = 0;
  for (const s of sims) {
    let lastBad = s.joinedAtUs;
    for (const [m, t] of s.played) {
      const all = sims.map((x) => x.played.get(m)).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
      if (Math.abs(t - quantile(all, 0.5)) > 100) lastBad = Math.max(lastBad, t);
    }
    const ms = (lastBad - s.joinedAtUs) / 1000;
    if (ms > (o.seconds - 5) * 1000) unconverged++;
    converge.push(ms);
  }
  converge.sort((a, b) => a - b);
  const window = (from: number, to: number) => {
    const xs = e2e.filter((x) => x.at >= from && x.at < to).map((x) => x.ms).sort((a, b) => a - b);
    return quantile(xs, 0.5);
  };
  const t0 = e2e[0]?.at ?? 0;
  const tEnd = e2e[e2e.length - 1]?.at ?? 0;
  const first = window(t0, t0 + 10e6);
  const last = window(tEnd - 10e6, tEnd + 1);
  return {
    listeners: sims.length,
    frames: spreads.length,
    spreadUs: { p50: quantile(spreads, 0.5), p99: quantile(spreads, 0.99), max: spreads[spreads.length - 1] ?? NaN },
    convergeMs: { p50: quantile(converge, 0.5), max: converge[converge.length - 1] ?? NaN, unconverged },
    e2eMs: { first, last, driftMs: last - first },
    underruns: sims.reduce((n, s) => n + s.underruns, 0),
    driftPpmEstimates: sims.map((s) => Math.round(s.sync.driftPpm * 10) / 10),
  };
}
