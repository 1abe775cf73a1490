/**
 * The JSON summary of a fuzz run (printed by `npm run bench:fuzz`): inputs by kind and by how they
 * were made, what came back, failed checks, crashes, the good listener's figures and the node's RSS.
 */
import type { FuzzOptions } from "./runner";
import { KINDS, type Kind } from "./inputs";

export interface FuzzSummary {
  /** True when nothing failed: no crash, no failed check, no frame lost, no stuck stream. */
  ok: boolean;
  options: { inputs: number; seconds: number; batch: number; concurrency: number; seed: number; maxRssMiB: number; maxGapMs: number; spareLive: boolean; limits: string; settleSeconds: number; warmBatches: number; gcs: number; nodeEnv: string[] };
  /** Inputs sent. */
  inputs: number;
  /** Fuzzing time (start-up and settle excluded), s. */
  seconds: number;
  /** Inputs per second over `seconds`. */
  ratePerS: number;
  batches: number;
  byKind: Record<Kind, number>;
  /** Inputs by `kind/how` (e.g. `binary/mutated`). */
  byHow: Record<string, number>;
  /** What came back, by outcome (e.g. `http 404`, `upgrade 101`, `ws publish-live`). */
  outcomes: Record<string, number>;
  /** Close codes the fuzz WebSockets saw (of the last node), by code. */
  wsCloses: Record<string, number>;
  /**
   * Fuzz streams that refused every new broadcaster with BROADCASTER_EXISTS (3 tries, 1 s apart)
   * after the fuzz broadcaster on them had been closed: a broadcaster the stream still counts on air
   * with no connection behind it. Count, and the first ids.
   */
  stuckStreams: { count: number; ids: string[] };
  /** Node processes that exited during the run (0 expected). */
  crashes: number;
  /** Batches after which a check failed, with the file holding that batch's inputs. */
  failures: Array<{ batch: number; seed: number; failures: string[]; record: string }>;
  /** Frames the good listener missed (seq gaps), over the whole run. */
  framesLost: number;
  /** Frames the good listener received during the batches. */
  goodFrames: number;
  /** The good pair at the end (since its last start): frames, lost, longest gap between frames (ms), broadcaster's longest send gap (ms). */
  good: { frames: number; lost: number; outOfOrder: number; maxGapMs: number; gapsOver1s: number; sent: number; maxSendGapMs: number } | null;
  /**
   * Inputs the server answered with an INTERNAL error or close code 1011 (a bug: bad input should
   * get a catalogued error), with the first few inputs. Not a failed check (the run goes on), but a finding.
   */
  internalErrors: { count: number; samples: Array<{ input: unknown; outcome: string }> };
  /** Log lines of level error or fatal the node wrote, with the first few. */
  serverErrors: { count: number; samples: string[] };
  /** GET /health after the settle time (200 expected). */
  finalHealth: number;
  /**
   * Node VmRSS, MiB: after start-up, the pages' first bundling and 2 s of the good pair (baseline);
   * after the first `warmBatches` batches and a full GC (warm baseline: what serving any input allocates once);
   * highest after a batch; the kernel's high-water mark (VmHWM); after the settle time (beforeGc);
   * then after a full GC (final), and whether final is within 10 % of each baseline. `gc`: whether
   * the full GCs ran (bench/fuzz/gc.ts, through the node's inspector); when false, baseline and
   * final are read without them. heapBaseline/heapFinal: the V8 heap's used size after those GCs.
   */
  rss: {
    baselineMiB: number; warmBaselineMiB: number; peakSampledMiB: number; hwmMiB: number; beforeGcMiB: number; finalMiB: number;
    finalWithin10Pct: boolean; finalWithin10PctOfWarm: boolean; gc: boolean; heapBaselineMiB: number; heapFinalMiB: number;
  };
  /**
   * Where the memory is (bench/fuzz/memory.ts), MiB: at the baseline, warm and final readings, every
   * `memEvery` batches, and after full GCs every `gcEvery` batches. Each sample: VmRSS and its
   * anonymous and file-backed parts, anonymous memory by mapping (glibc's main arena `brk`, its
   * thread `arenas`, the rest), and inside the node `process.memoryUsage()` and V8's code space.
   */
  memory: { samples: Array<Record<string, number | string | boolean>> };
}

export function emptySummary(o: FuzzOptions): FuzzSummary {
  return {
    ok: false,
    options: { inputs: o.inputs, seconds: o.seconds, batch: o.batch, concurrency: o.concurrency, seed: o.seed, maxRssMiB: o.maxRssMiB, maxGapMs: o.maxGapMs, spareLive: o.spareLive, limits: o.limits, settleSeconds: o.settleSeconds, warmBatches: o.warmBatches, gcs: o.gcs, nodeEnv: o.nodeEnv },
    inputs: 0,
    seconds: 0,
    ratePerS: 0,
    batches: 0,
    byKind: Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>,
    byHow: {},
    outcomes: {},
    wsCloses: {},
    stuckStreams: { count: 0, ids: [] },
    crashes: 0,
    failures: [],
    framesLost: 0,
    goodFrames: 0,
    good: null,
    internalErrors: { count: 0, samples: [] },
    serverErrors: { count: 0, samples: [] },
    finalHealth: 0,
    rss: { baselineMiB: 0, warmBaselineMiB: 0, peakSampledMiB: 0, hwmMiB: 0, beforeGcMiB: 0, finalMiB: 0, finalWithin10Pct: false, finalWithin10PctOfWarm: false, gc: false, heapBaselineMiB: 0, heapFinalMiB: 0 },
    memory: { samples: [] },
  };
}
