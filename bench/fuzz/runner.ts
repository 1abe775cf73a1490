/**
 * The fuzz run: starts a real node (`node bin/veza-stream start`, as a user would) and the good
 * pair, then throws batches of fast-check inputs at the node over real sockets and checks it after
 * each batch (bench/fuzz/checks.ts). Bounded by an input count and a time budget; stops by itself.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { startNodeProcess, type NodeProcess } from "../../test/support/node-process";
import { checkNode, healthStatus, isStuck } from "./checks";
import { INSPECT_OPTIONS, NodeInspector } from "./inspector";
import { readMemory, readingMiB, type MemoryReading } from "./memory";
import { binaryInput, jsonInput, pingInput } from "./gen-ws";
import { httpInput, upgradeInput } from "./gen-net";
import { authInput } from "./gen-auth";
import { authEnvironment, type LimitsMode } from "./auth";
import { startGoodPair, type GoodPair, type PairReport } from "./good-pair";
import { KINDS, inputToJson, type FuzzInput, type Kind } from "./inputs";
import { Senders } from "./senders";
import { emptySummary, type FuzzSummary } from "./summary";

export interface FuzzOptions {
  /** Stop after this many inputs. */
  inputs: number;
  /** Stop after this many seconds of fuzzing (the settle time and start-up come on top), s. */
  seconds: number;
  /** Inputs per batch: the checks run after each batch. */
  batch: number;
  /** Inputs in flight at once. */
  concurrency: number;
  /** fast-check seed of the first batch; batch i uses seed + i. */
  seed: number;
  /** Bound on the node's VmRSS, MiB. */
  maxRssMiB: number;
  /** Longest allowed wait between two frames at the good listener, ms. */
  maxGapMs: number;
  /** Idle wait after the last batch before the final RSS reading, s. */
  settleSeconds: number;
  /** Stop at the first failed check (else a dead node is restarted and the run goes on). */
  stopOnFailure: boolean;
  /** Folder for failure records (each failing batch's inputs as JSON). */
  failuresDir: string;
  /** Progress lines (to stderr by the CLI). */
  log: (line: string) => void;
  /**
   * Niceness the fuzzer process takes once the node and the good pair run (they keep theirs), so
   * that on a busy machine the fuzzer slows down rather than starving what it checks.
   */
  nice: number;
  /** Text over 64 KiB meant for a live broadcaster goes to a fresh one (see `WsPool`): avoids the ghost-broadcaster bug. */
  spareLive: boolean;
  /** Batches after which the warm baseline RSS is read. */
  warmBatches: number;
  /** A memory sample (no GC) every this many batches, 0 for none (summary `memory.samples`). */
  memEvery: number;
  /** A memory sample after full GCs every this many batches (the plateau test), 0 for none. */
  gcEvery: number;
  /** Full GCs before the baseline, warm and final readings (a second one frees what the first one's finalizers released). */
  gcs: number;
  /** The node's rate limits: `high` (RATE_LIMITS far above the fuzzer's rates) or `default` (as shipped): bench/fuzz/auth.ts. */
  limits: LimitsMode;
  /** Extra environment of the node (e.g. MALLOC_ARENA_MAX=2), `NAME=value` each. */
  nodeEnv: string[];
  /** Folder for heap snapshots of the node at the warm and final readings (diagnosis; each stops the node for seconds), or null. */
  heapSnapshots: string | null;
  /** Polled before each batch: true ends the run early (e.g. after SIGINT). */
  stop: () => boolean;
}

export const DEFAULTS: FuzzOptions = {
  inputs: 1_000_000,
  seconds: 1500,
  batch: 1000,
  concurrency: 64,
  seed: 1,
  maxRssMiB: 1024,
  maxGapMs: 1000,
  settleSeconds: 15,
  stopOnFailure: false,
  failuresDir: path.join(os.tmpdir(), "veza-fuzz-failures"),
  log: () => {},
  stop: () => false,
  nice: 10,
  spareLive: false,
  warmBatches: 10,
  memEvery: 50,
  gcEvery: 0,
  gcs: 2,
  limits: "high",
  nodeEnv: [],
  heapSnapshots: null,
};

/** Every input kind, weighted: cheap WebSocket messages most, new TCP connections less. */
export const anyInput: fc.Arbitrary<FuzzInput> = fc.oneof(
  { arbitrary: binaryInput, weight: 30 },
  { arbitrary: jsonInput, weight: 30 },
  { arbitrary: pingInput, weight: 18 },
  { arbitrary: httpInput, weight: 14 },
  { arbitrary: upgradeInput, weight: 8 },
  { arbitrary: authInput, weight: 10 },
);

const GOOD_STREAM = "good";

interface Target {
  node: NodeProcess;
  pair: GoodPair;
  senders: Senders;
  /** The node's inspector (memory readings, full GCs). */
  inspector: NodeInspector;
  /** The node's last 8 KiB of stderr (for a crash report). */
  stderr: () => string;
}

/** The node's environment: its inspector on a free port once opened, and `nodeEnv`'s `NAME=value`s. */
function nodeEnvironment(opts: FuzzOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} ${INSPECT_OPTIONS}`.trim(), ...authEnvironment(opts.limits) };
  for (const kv of opts.nodeEnv) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new Error(`--node-env wants NAME=value, got ${kv}`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

async function startTarget(opts: FuzzOptions): Promise<Target> {
  const node = await startNodeProcess([], nodeEnvironment(opts));
  let stderr = "";
  node.proc.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8192)));
  const inspector = new NodeInspector(node.proc);
  const pair = await startGoodPair(node.url, GOOD_STREAM).catch(async (err: unknown) => {
    await node.stop();
    throw err;
  });
  return { node, pair, inspector, senders: new Senders(node.port, GOOD_STREAM, opts.spareLive), stderr: () => stderr };
}

async function stopTarget(t: Target): Promise<void> {
  t.senders.close();
  await t.pair.stop();
  await t.node.stop();
}

const alive = (n: NodeProcess) => n.proc.exitCode === null && n.proc.signalCode === null;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** TCP inputs (HTTP, upgrades) waiting for an answer at once, at most: many wait out a timeout (a request the server holds). */
const TCP_IN_FLIGHT = 256;

/** TCP inputs still waiting for their answer; they may run on into the next batch (the slowest wait 1.5 s). */
const tcp = new Set<Promise<void>>();

/**
 * Sends `inputs` with `concurrency` WebSocket messages in flight, and TCP inputs beside them (up to
 * {@link TCP_IN_FLIGHT}); counts each input's outcome into `summary` once it has one. Resolves when
 * every WebSocket message is written and every TCP input started (await {@link tcp} for the rest).
 */
async function sendBatch(t: Target, inputs: FuzzInput[], concurrency: number, summary: FuzzSummary): Promise<void> {
  const count = (input: FuzzInput, outcome: string) => {
    summary.inputs++;
    summary.byKind[input.kind]++;
    const how = `${input.kind}/${input.how}`;
    summary.byHow[how] = (summary.byHow[how] ?? 0) + 1;
    summary.outcomes[outcome] = (summary.outcomes[outcome] ?? 0) + 1;
    if (/INTERNAL|close 1011/.test(outcome)) {
      summary.internalErrors.count++;
      if (summary.internalErrors.samples.length < 10) summary.internalErrors.samples.push({ input: inputToJson(input), outcome });
    }
  };
  let next = 0;
  const worker = async () => {
    while (next < inputs.length && alive(t.node)) {
      const input = inputs[next++]!;
      if (input.kind === "http" || input.kind === "upgrade" || (input.kind === "auth" && input.door === "upgrade")) {
        while (tcp.size >= TCP_IN_FLIGHT) await Promise.race(tcp);
        const p: Promise<void> = t.senders.send(input).then((o) => (count(input, o), void tcp.delete(p)));
        tcp.add(p);
      } else count(input, await t.senders.send(input));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Log lines of level error or fatal (pino ≥ 50) since the last call, counted; the node's log buffer is emptied. */
function drainLogs(t: Target, summary: FuzzSummary): void {
  for (const entry of t.node.logs) {
    if (typeof entry.level === "number" && entry.level >= 50) {
      summary.serverErrors.count++;
      if (summary.serverErrors.samples.length < 10) summary.serverErrors.samples.push(JSON.stringify(entry).slice(0, 400));
    }
  }
  t.node.logs.length = 0;
}

/** Runs the fuzzer and resolves with its summary. Every process it started is stopped before it resolves. */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzSummary> {
  const summary = emptySummary(opts);
  let t = await startTarget(opts);
  try {
    os.setPriority(Math.min(19, Math.max(os.getPriority(), opts.nice)));
  } catch {
    // not allowed: stay at the inherited priority
  }
  try {
    // warm-up: the pages are bundled on first request; the good pair reaches steady state
    for (const p of ["/", "/listen/good", "/broadcast/good"]) await fetch(`${t.node.http}${p}`).then((r) => r.arrayBuffer()).catch(() => undefined);
    await sleep(2000);
    let started = performance.now();
    const sample: Sample = async (label, gcs, waitMs = 0) => {
      const r = await readMemory(t.node.proc.pid!, t.inspector, label, summary.inputs, (performance.now() - started) / 1000, { gcs, waitMs });
      summary.memory.samples.push(readingMiB(r));
      return r;
    };
    const baseline = await sample("baseline", opts.gcs, 1000); // after full GCs too, where the inspector can be opened
    setBaseline(summary, baseline);
    await snapshot(t, opts, "baseline");
    let previous: PairReport | null = await t.pair.report();
    started = performance.now();
    const deadline = started + opts.seconds * 1000;
    let lastLog = started;
    let inputs: FuzzInput[] = [];
    let previousInputs: FuzzInput[] = [];
    for (let batch = 0; summary.inputs < opts.inputs && performance.now() < deadline && !opts.stop(); batch++) {
      const seed = opts.seed + batch;
      previousInputs = inputs;
      inputs = fc.sample(anyInput, { numRuns: Math.min(opts.batch, opts.inputs - summary.inputs), seed });
      await sendBatch(t, inputs, opts.concurrency, summary);
      summary.batches++;
      if (summary.batches === opts.warmBatches) {
        const warm = await sample("warm", opts.gcs, 1000);
        summary.rss.warmBaselineMiB = mib(warm.proc?.rss ?? 0);
        if (await snapshot(t, opts, "warm")) previous = await afterPause(t);
      } else if (opts.gcEvery > 0 && summary.batches % opts.gcEvery === 0) await sample("gc", opts.gcs, 1000);
      else if (opts.memEvery > 0 && summary.batches % opts.memEvery === 0) await sample("batch", 0);
      drainLogs(t, summary);
      probeSuspects(t, summary);
      const check = await checkNode(t.node.proc.pid!, alive(t.node), t.node.port, () => t.pair.report(), previous, { maxGapMs: opts.maxGapMs, maxRssBytes: opts.maxRssMiB * 2 ** 20 });
      if (check.rss !== null) summary.rss.peakSampledMiB = Math.max(summary.rss.peakSampledMiB, mib(check.rss));
      if (check.pair) accountPair(summary, check.pair, previous);
      previous = check.pair ?? previous;
      if (check.failures.length > 0) {
        const crashed = !alive(t.node);
        if (crashed) summary.crashes++;
        const file = recordFailure(opts.failuresDir, { seed, batch, failures: check.failures, stderr: crashed ? t.stderr() : "", inputs: inputs.map(inputToJson), previousBatchInputs: previousInputs.map(inputToJson) });
        summary.failures.push({ batch, seed, failures: check.failures, record: file });
        opts.log(`batch ${batch} (seed ${seed}) FAILED: ${check.failures.join("; ")} → ${file}`);
        if (opts.stopOnFailure) break;
        await Promise.all([...probes, ...tcp]);
        await stopTarget(t); // a fresh node and pair: the next batch starts clean
        t = await startTarget(opts);
        for (const pid of [t.node.proc.pid, t.pair.proc.pid]) {
          try {
            os.setPriority(pid!, 0); // started by the reniced fuzzer: back to normal where allowed
          } catch {
            // not allowed (not root): they run at the fuzzer's niceness
          }
        }
        previous = await t.pair.report();
      }
      const now = performance.now();
      if (now - lastLog > 10_000) {
        lastLog = now;
        const rate = summary.inputs / ((now - started) / 1000);
        opts.log(`${summary.inputs} inputs, ${rate.toFixed(0)}/s, rss ${mib(check.rss ?? 0).toFixed(0)} MiB, failures ${summary.failures.length}`);
      }
    }
    summary.seconds = (performance.now() - started) / 1000;
    summary.ratePerS = summary.inputs / summary.seconds;
    await Promise.all(tcp);
    t.senders.close();
    await Promise.all(probes);
    await settle(t, opts, summary, sample);
    drainLogs(t, summary);
    summary.rss.hwmMiB = mib(readHwm(t.node.proc.pid!));
    summary.wsCloses = Object.fromEntries(t.senders.pool.closes);
    summary.ok = summary.crashes === 0 && summary.failures.length === 0 && summary.framesLost === 0 && summary.stuckStreams.count === 0;
    return summary;
  } finally {
    await stopTarget(t);
  }
}

/** Probes of suspect streams still running (awaited before the summary). */
const probes = new Set<Promise<void>>();

/**
 * Probes, in the background, the streams the pool found refused, and records those stuck with a
 * broadcaster that is gone (bench/fuzz/checks.ts `isStuck`).
 */
function probeSuspects(t: Target, summary: FuzzSummary): void {
  for (const id of t.senders.pool.suspects) {
    const p: Promise<void> = isStuck(t.node.port, id).then((stuck) => {
      probes.delete(p);
      if (!stuck) return;
      summary.stuckStreams.count++;
      if (summary.stuckStreams.ids.length < 20) summary.stuckStreams.ids.push(id);
    });
    probes.add(p);
  }
  t.senders.pool.suspects.clear();
}

/** The baseline's figures in the summary. */
function setBaseline(summary: FuzzSummary, r: MemoryReading): void {
  summary.rss.gc = r.afterGc;
  summary.rss.baselineMiB = mib(r.proc?.rss ?? 0);
  summary.rss.heapBaselineMiB = mib(r.inside?.heapUsed ?? 0);
}

/** With `heapSnapshots`, a heap snapshot of the node named `label`; resolves whether one was written. */
async function snapshot(t: Target, opts: FuzzOptions, label: string): Promise<boolean> {
  if (!opts.heapSnapshots) return false;
  fs.mkdirSync(opts.heapSnapshots, { recursive: true });
  const file = path.join(opts.heapSnapshots, `${label}-${Date.now()}.heapsnapshot`);
  const ok = await t.inspector.heapSnapshot(file);
  opts.log(ok ? `heap snapshot ${file}` : `heap snapshot ${label} failed`);
  return ok;
}

/**
 * The good pair's report once it has seen frames again after the node stopped for a heap
 * snapshot: the stall is then counted in the report the next batch's check starts from, not
 * blamed on the next batch (the summary's `good.maxGapMs` and `gapsOver1s` still show it).
 */
async function afterPause(t: Target): Promise<PairReport> {
  await sleep(1500);
  return t.pair.report();
}

type Sample = (label: string, gcs: number, waitMs?: number) => Promise<MemoryReading>;

/** Idle for `settleSeconds` (the node's GC gets its pauses), then the final readings: before and after full GCs. */
async function settle(t: Target, opts: FuzzOptions, summary: FuzzSummary, sample: Sample): Promise<void> {
  const until = performance.now() + opts.settleSeconds * 1000;
  while (performance.now() < until) await sleep(500);
  const settled = await sample("settled", 0);
  summary.rss.beforeGcMiB = mib(settled.proc?.rss ?? 0);
  const final = await sample("final", opts.gcs, 1000);
  summary.rss.gc &&= final.afterGc;
  summary.rss.heapFinalMiB = mib(final.inside?.heapUsed ?? 0);
  summary.rss.finalMiB = mib(final.proc?.rss ?? 0);
  summary.rss.finalWithin10Pct = summary.rss.finalMiB <= summary.rss.baselineMiB * 1.1;
  summary.rss.finalWithin10PctOfWarm = summary.rss.warmBaselineMiB > 0 && summary.rss.finalMiB <= summary.rss.warmBaselineMiB * 1.1;
  await snapshot(t, opts, "final");
  summary.finalHealth = alive(t.node) ? await healthStatus(t.node.port) : 0;
  const pair = await t.pair.report().catch(() => null);
  if (pair) summary.good = { frames: pair.frames, lost: pair.lost, outOfOrder: pair.outOfOrder, maxGapMs: round(pair.maxGapMs), gapsOver1s: pair.gapsOver1s, sent: pair.sent, maxSendGapMs: round(pair.maxSendGapMs) };
}

/** Frames lost accumulate across restarts of the pair: add this report's growth since `previous`. */
function accountPair(summary: FuzzSummary, now: PairReport, previous: PairReport | null): void {
  summary.framesLost += now.lost - (previous?.lost ?? 0);
  summary.goodFrames += now.frames - (previous?.frames ?? 0);
}

function recordFailure(dir: string, record: Record<string, unknown>): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `batch-${String(record.batch)}-seed-${String(record.seed)}-${Date.now()}.json`);
  fs.writeFileSync(file, JSON.stringify(record, null, 1));
  return file;
}

function readHwm(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const mib = (bytes: number) => round(bytes / 2 ** 20);
const round = (x: number) => Math.round(x * 10) / 10;

export { KINDS, type Kind };
