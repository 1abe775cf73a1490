/**
 * One synchronised-playout measurement: a stream from a skewed broadcaster, simulated listeners on
 * two gateway processes (cluster over NATS), each with its own clock offset and drift and jittery
 * links, and the statistics of when they played each frame. Used by bench/sync and test/e2e.
 * The nodes run on the test secret and rate limits (test/support/node-process.ts); the broadcaster
 * publishes with a token minted with that secret.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { encodeOpusLoop } from "../fanout/opus-source";
import { testToken } from "../../test/support/auth";
import { startCluster, streamOwnedBy } from "../../test/support/cluster";
import { clusterNowUs } from "../../media/clock/cluster-time";
import { MEDIA } from "../../test/support/node-process";
import type { PingSchedule } from "../../media/clock/clock-pinger";
import type { RealDelays, SimListenerResult } from "./sim-listener";
import type { SimCommand, SimReply, SimSpec } from "./sim-process";
import { seededRandom } from "./virtual-clock";
import { quantile, spreadSummary } from "../stats";

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
  /** Clock ping schedule. Default the SDK's. */
  pingSchedule?: PingSchedule;
  /** Processes the listeners are shared among (the broadcaster has one more of its own). Default 2. */
  processes?: number;
  /**
   * Kill the stream's owner this many seconds in (SIGKILL): the stream then lives on a third node,
   * a stream worker, and is re-homed on the first gateway's node (docs/failover.md). Default: none.
   */
  failoverAtSeconds?: number;
  /**
   * The two gateways' clocks skewed on purpose (VEZA_TEST_CLOCK_SKEW, media/clock/cluster-time.ts):
   * [first, second], each `<offset ms>,<drift ppm>`. The first gateway owns the stream.
   */
  gatewaySkew?: [string, string];
}

/** What an owner failover did to the listeners (with {@link SyncRunOptions.failoverAtSeconds}). */
export interface FailoverResult {
  /** Per listener, the longest time between two frames' play times across the failover, ms (p50, max). */
  gapMs: { p50: number; max: number };
  /** Spread of play times over the frames played in the 10 s after the gap, µs. */
  spreadAfterUs: { frames: number; p50: number; p99: number; max: number };
  /** The same over the 10 s before the failover. */
  spreadBeforeUs: { frames: number; p50: number; p99: number; max: number };
  /** Hard resyncs of the listeners' followers, in all, from the failover on. */
  resyncs: number;
}

export interface SyncRunResult {
  listeners: number;
  frames: number;
  /** Spread across listeners of each frame's play time, µs, after settling. */
  spreadUs: { p50: number; p99: number; max: number };
  /** The same over the frames played once every listener had been in for 30 s. */
  steadySpreadUs: { frames: number; p50: number; p99: number; max: number };
  /**
   * Per listener: time from join until it is converged, ms: from then on, 99% of its frames play
   * within 100 µs of the median listener (p50, p90, max over listeners; unconverged: never).
   */
  convergeMs: { p50: number; p90: number; max: number; unconverged: number };
  /**
   * Per frame, the median play time of the second gateway's listeners minus the first's, µs (over the
   * frames of the spread): how far apart the gateways' timelines are (p50 signed, p99 and max of |·|).
   */
  gatewayGapUs: { p50: number; p99: number; max: number };
  /** Median end-to-end delay (broadcaster capture → sound), ms, in the first and last 10 s, and its change. */
  e2eMs: { first: number; last: number; driftMs: number };
  underruns: number;
  /** With an owner failover: what it did. */
  failover?: FailoverResult;
  driftPpmEstimates: number[];
  /** Every listener's real one-way delays past its first 200 exchanges (bench/sync/offline.ts --real-file draws from them). */
  realDelayUs: RealDelays;
}


export async function runSync(o: SyncRunOptions): Promise<SyncRunResult> {
  const random = seededRandom(o.seed ?? 1);
  const loop = await encodeOpusLoop(path.join(MEDIA, "awakening.ogg"), { startSec: 30, seconds: 20, bitrate: 128_000 });
  const failover = o.failoverAtSeconds !== undefined;
  const cluster = await startCluster(
    [
      { name: "ga", services: "gateway,stream,encoder,relay", env: o.gatewaySkew ? { VEZA_TEST_CLOCK_SKEW: o.gatewaySkew[0] } : {} },
      { name: "gb", services: "gateway,relay", env: o.gatewaySkew ? { VEZA_TEST_CLOCK_SKEW: o.gatewaySkew[1] } : {} },
      ...(failover ? [{ name: "gc", services: "stream,encoder" }] : []),
    ],
    o.nodeEnv,
  );
  // with a failover, a stream the worker gc owns (rendezvous placement), re-homed on ga
  const streamId = failover ? streamOwnedBy("gc", ["ga", "gc"], "sync") : "sync";
  const urls = [cluster.nodes.ga!.url, cluster.nodes.gb!.url];
  const specs: SimSpec[] = [];
  for (let i = 0; i < o.listeners; i++) {
    specs.push({
      url: urls[i % 2]!,
      streamId,
      offsetUs: (random() * 2 - 1) * o.maxOffsetMs * 1000,
      driftPpm: (random() * 2 - 1) * o.maxDriftPpm,
      upJitterMs: o.upJitterMs,
      downJitterMs: o.downJitterMs,
      seed: Math.floor(random() * 2 ** 31),
      joinAfterMs: random() * (o.joinSpreadSeconds ?? 0) * 1000,
      compensateDrift: o.compensateDrift,
      pingSchedule: o.pingSchedule,
    });
  }
  const processes = o.processes ?? 2;
  const broadcaster = new SimProcess();
  const listenerProcs = Array.from({ length: processes }, () => new SimProcess());
  try {
    await broadcaster.run({ type: "broadcaster", url: urls[0]!, streamId, packets: loop.packets, skewPpm: o.broadcasterSkewPpm, token: await testToken("publish", [streamId], { sub: "sync-bench" }) });
    await Promise.all(listenerProcs.map((p, k) => p.run({ type: "listeners", specs: specs.filter((_, i) => i % processes === k) })));
    let failoverAtUs: number | null = null;
    const killer = failover
      ? setTimeout(() => {
          failoverAtUs = clusterNowUs();
          cluster.nodes.gc!.proc.kill("SIGKILL");
        }, o.failoverAtSeconds! * 1000)
      : null;
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    if (killer) clearTimeout(killer);
    const replies = await Promise.all(listenerProcs.map((p) => p.stop()));
    const captured = await broadcaster.stop();
    const results = replies.flatMap((r) => (r.type === "listeners" ? r.results : []));
    // each result's gateway (0: ga, 1: gb), in the order the processes returned them
    const gateways = listenerProcs.flatMap((_, k) => specs.filter((_, i) => i % processes === k).map((s) => (s.url === urls[0] ? 0 : 1)));
    const summary = summarise(o, results, captured.type === "broadcaster" ? captured.capturedUs : [], gateways);
    return failoverAtUs === null ? summary : { ...summary, failover: failoverOutcome(results, failoverAtUs) };
  } finally {
    broadcaster.kill();
    listenerProcs.forEach((p) => p.kill());
    await cluster.stop();
  }
}

/** A child process running bench/sync/sim-process.ts. */
class SimProcess {
  private readonly child: ChildProcess = fork(path.join(__dirname, "sim-process.ts"), [], {
    // tsx's CommonJS hook, whether this process runs under the tsx CLI or mocha's --require
    execArgv: ["--require", "tsx/cjs"],
    serialization: "advanced",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  private readonly replies: SimReply[] = [];
  private waiter: ((r: SimReply) => void) | null = null;

  constructor() {
    this.child.on("message", (r: SimReply) => {
      if (this.waiter) this.waiter(r);
      else this.replies.push(r);
    });
  }

  /**
   * Sends a command and waits for the next reply; an "error" reply, or the process gone without
   * one, rejects. Gone means "close", not "exit": a child that replies and leaves at once (stop)
   * can exit before the parent has read the reply off the IPC channel.
   */
  private ask(cmd: SimCommand, timeoutMs = 30_000): Promise<SimReply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sync sim process: no reply to ${cmd.type} in ${timeoutMs} ms`)), timeoutMs);
      const onExit = (code: number | null) => reject(new Error(`sync sim process exited (${code}) during ${cmd.type}`));
      this.child.once("close", onExit);
      this.waiter = (r) => {
        clearTimeout(timer);
        this.child.off("close", onExit);
        this.waiter = null;
        if (r.type === "error") reject(new Error(`sync sim process: ${r.message}`));
        else resolve(r);
      };
      const queued = this.replies.shift();
      if (queued) this.waiter(queued);
      this.child.send(cmd);
    });
  }

  async run(cmd: SimCommand): Promise<void> {
    await this.ask(cmd);
  }

  stop(): Promise<SimReply> {
    return this.ask({ type: "stop" });
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

function summarise(o: SyncRunOptions, sims: SimListenerResult[], capturedUs: number[], gateways: number[]): SyncRunResult {
  if (process.env.SYNC_DEBUG) {
    for (const s of sims) {
      // a frame's figure, over the frames played more than 5 s after the listener joined, sorted
      const after5s = (byFrame: Map<number, number>) =>
        [...byFrame].filter(([m]) => (s.played.get(m) ?? 0) - s.joinedAtUs > 5e6).map(([, e]) => e).sort((a, b) => a - b);
      const errs = after5s(s.errors);
      const se = after5s(s.syncErrors);
      const q = (xs: number[]) => {
        const sorted = xs.slice(1000).sort((a, b) => a - b);
        return [0.001, 0.01, 0.1, 0.5, 0.9].map((p) => `p${p * 100} ${quantile(sorted, p).toFixed(0)}`).join(" ");
      };
      console.log(`real delay up ${q(s.realDelayUs.up)} | down ${q(s.realDelayUs.down)}`);
      console.log(`sync err p1 ${quantile(se, 0.01).toFixed(0)} p50 ${quantile(se, 0.5).toFixed(0)} p99 ${quantile(se, 0.99).toFixed(0)} ` + `drift ${s.driftPpm.toFixed(1)} (true ${s.trueDriftPpm.toFixed(1)}) resyncs ${s.resyncs} err p1 ${quantile(errs, 0.01).toFixed(0)} p50 ${quantile(errs, 0.5).toFixed(0)} p99 ${quantile(errs, 0.99).toFixed(0)}`);
    }
  }
  const settleUs = (o.settleSeconds ?? 2) * 1e6;
  const spreads: number[] = [];
  // frames once every listener has been in for 30 s (past the burst and the settling pings)
  const lastJoinUs = Math.max(...sims.map((s) => s.joinedAtUs));
  const steadySpreads: number[] = [];
  const e2e: Array<{ at: number; ms: number }> = [];
  const frames = new Set<number>();
  const gatewayGaps: number[] = [];
  for (const s of sims) for (const m of s.played.keys()) frames.add(m);
  for (const m of [...frames].sort((a, b) => a - b)) {
    const times = sims.map((s) => ({ s, t: s.played.get(m) })).filter((x) => x.t !== undefined && x.t - x.s.joinedAtUs > settleUs).map((x) => x.t!);
    if (times.length < sims.length) continue;
    const median = (g: number) => quantile(sims.flatMap((s, i) => (gateways[i] === g ? [s.played.get(m)!] : [])).sort((a, b) => a - b), 0.5);
    gatewayGaps.push(median(1) - median(0));
    times.sort((a, b) => a - b);
    spreads.push(times[times.length - 1]! - times[0]!);
    if (times[0]! > lastJoinUs + 30e6) steadySpreads.push(times[times.length - 1]! - times[0]!);
    const sent = capturedUs[m / 960];
    if (sent !== undefined) e2e.push({ at: times[0]!, ms: (quantile(times, 0.5) - sent) / 1000 });
  }
  spreads.sort((a, b) => a - b);
  steadySpreads.sort((a, b) => a - b);
  // convergence against the median of all listeners
  const medians = new Map<number, number>();
  for (const m of frames) {
    const all = sims.map((x) => x.played.get(m)).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    medians.set(m, quantile(all, 0.5));
  }
  const converge: number[] = [];
  let unconverged = 0;
  for (const s of sims) {
    const ms = convergedAfterMs(s, medians);
    if (ms === null) unconverged++;
    else converge.push(ms);
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
    spreadUs: spreadSummary(spreads),
    gatewayGapUs: gapSummary(gatewayGaps),
    steadySpreadUs: { frames: steadySpreads.length, ...spreadSummary(steadySpreads) },
    convergeMs: { p50: quantile(converge, 0.5), p90: quantile(converge, 0.9), max: converge[converge.length - 1] ?? NaN, unconverged },
    e2eMs: { first, last, driftMs: last - first },
    underruns: sims.reduce((n, s) => n + s.underruns, 0),
    driftPpmEstimates: sims.map((s) => Math.round(s.driftPpm * 10) / 10),
    realDelayUs: {
      up: sims.flatMap((s) => s.realDelayUs.up.slice(200).map(Math.round)),
      down: sims.flatMap((s) => s.realDelayUs.down.slice(200).map(Math.round)),
    },
  };
}

/** Signed median, and p99 and max of the absolute values, µs. */
function gapSummary(gaps: number[]): { p50: number; p99: number; max: number } {
  const abs = gaps.map(Math.abs).sort((a, b) => a - b);
  return { p50: quantile(gaps.slice().sort((a, b) => a - b), 0.5), p99: quantile(abs, 0.99), max: abs.at(-1) ?? NaN };
}

/** Time from join to the first frame after which ≤ 1% of the listener's frames are > 100 µs off the median, ms; null if none. */
function convergedAfterMs(s: SimListenerResult, medians: Map<number, number>): number | null {
  const frames = [...s.played].sort((a, b) => a[1] - b[1]);
  const bad = frames.map(([m, t]) => Math.abs(t - medians.get(m)!) > 100);
  let badAfter = bad.filter(Boolean).length;
  for (let i = 0; i < frames.length; i++) {
    if (badAfter <= 0.01 * (frames.length - i)) return (frames[i]![1] - s.joinedAtUs) / 1000;
    if (bad[i]) badAfter--;
  }
  return null;
}

/**
 * The failover's effect: each listener's longest silence across it (between consecutive frames'
 * play times), and the spread of play times across listeners in the 10 s before it and in the
 * 10 s after the last listener played again (frames every listener played).
 */
function failoverOutcome(sims: SimListenerResult[], atUs: number): FailoverResult {
  const gaps: number[] = [];
  let resumedUs = atUs;
  for (const s of sims) {
    const times = [...s.played.values()].filter((t) => t > atUs - 1e6).sort((a, b) => a - b);
    let gap = 0;
    let end = atUs;
    for (let i = 1; i < times.length; i++) if (times[i]! - times[i - 1]! > gap) [gap, end] = [times[i]! - times[i - 1]!, times[i]!];
    gaps.push(gap / 1000);
    resumedUs = Math.max(resumedUs, end);
  }
  gaps.sort((a, b) => a - b);
  const spreadOver = (from: number, to: number) => {
    const spreads: number[] = [];
    for (const m of sims[0]?.played.keys() ?? []) {
      const times = sims.map((s) => s.played.get(m));
      if (times.some((t) => t === undefined || t < from || t >= to)) continue;
      spreads.push(Math.max(...(times as number[])) - Math.min(...(times as number[])));
    }
    spreads.sort((a, b) => a - b);
    return { frames: spreads.length, ...spreadSummary(spreads) };
  };
  return {
    gapMs: { p50: quantile(gaps, 0.5), max: gaps.at(-1) ?? NaN },
    spreadBeforeUs: spreadOver(atUs - 10e6, atUs),
    spreadAfterUs: spreadOver(resumedUs, resumedUs + 10e6),
    resyncs: sims.reduce((n, s) => n + s.resyncAtUs.filter((t) => t >= atUs).length, 0),
  };
}