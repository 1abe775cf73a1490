/**
 * Ground truth of a browser page's playout: when, on the machine's wall clock, the page scheduled
 * each frame to sound. The page's player traces the AudioContext frame at which each frame's first
 * sample is played (client/core/sync-playout.ts); the harness samples AudioContext
 * getOutputTimestamp() in the page by itself, and here each traced frame is mapped to wall-clock
 * µs through a local least-squares line of those samples (±0.5 s around it) and the page's own
 * performance.timeOrigin. Neither the player's audio clock fit nor its clock sync is used: on one
 * machine every process reads the same system clock, so these times are comparable across pages.
 */
import { quantile, spreadSummary } from "../stats";

/** What the harness reads from one page. */
export interface PageRecord {
  /** performance.timeOrigin, ms since the Unix epoch. */
  timeOrigin: number;
  /** getOutputTimestamp() samples: flat pairs [contextTime s, performanceTime ms]. */
  outputTimestamps: number[];
  /** The player's trace: flat pairs [media time, context frame at which the frame starts sounding]. */
  trace: number[];
  sampleRate: number;
}

/** Frames of the local fit on each side of a traced frame (0.5 s at 48 kHz). */
const HALF_WINDOW_FRAMES = 24_000;

export interface PlayoutTimes {
  /** Wall-clock µs at which each frame starts sounding, by media time. */
  times: Map<number, number>;
  /** RMS residual of the getOutputTimestamp samples about their local lines, µs. */
  residualUs: number;
  /** Frames of the trace that had fewer than 4 samples around them (not mapped). */
  unmapped: number;
}

/** Maps a page's traced frames to wall-clock µs. */
export function playoutTimes(r: PageRecord): PlayoutTimes {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i + 1 < r.outputTimestamps.length; i += 2) {
    const x = (r.outputTimestamps[i] ?? 0) * r.sampleRate;
    const perf = r.outputTimestamps[i + 1] ?? 0;
    if (x <= 0 || perf <= 0 || (xs.length > 0 && x <= xs[xs.length - 1]!)) continue; // not running, or no new device callback
    xs.push(x);
    ys.push(perf * 1000); // µs of the performance timeline; timeOrigin is added last, to keep the sums small
  }
  const times = new Map<number, number>();
  let unmapped = 0;
  let sumSq = 0;
  let count = 0;
  let lo = 0;
  let hi = 0;
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i + 1 < r.trace.length; i += 2) pairs.push([r.trace[i]!, r.trace[i + 1]!]);
  pairs.sort((a, b) => a[1] - b[1]);
  for (const [m, frame] of pairs) {
    while (lo < xs.length && xs[lo]! < frame - HALF_WINDOW_FRAMES) lo++;
    while (hi < xs.length && xs[hi]! <= frame + HALF_WINDOW_FRAMES) hi++;
    if (hi - lo < 4) {
      unmapped++;
      continue;
    }
    const { at, residuals } = localLine(xs, ys, lo, hi);
    times.set(m, r.timeOrigin * 1000 + at(frame));
    for (const e of residuals) (sumSq += e * e), count++;
  }
  return { times, residualUs: count ? Math.sqrt(sumSq / count) : NaN, unmapped };
}

/** Residuals above max(3σ, this) are trimmed (late device callbacks: single points 0.5–1.5 ms off), µs. */
const TRIM_FLOOR_US = 300;

/**
 * Least-squares line through points [lo, hi), with two trimming passes of outliers; sums are
 * relative to the first point. Returns the line and the residuals of the points kept.
 */
function localLine(xs: number[], ys: number[], lo: number, hi: number): { at: (x: number) => number; residuals: number[] } {
  const x0 = xs[lo]!;
  const y0 = ys[lo]!;
  let idx = Array.from({ length: hi - lo }, (_, k) => lo + k);
  let at = (_x: number) => 0;
  let residuals: number[] = [];
  for (let pass = 0; pass < 3; pass++) {
    let mx = 0;
    let my = 0;
    for (const i of idx) (mx += xs[i]! - x0), (my += ys[i]! - y0);
    mx /= idx.length;
    my /= idx.length;
    let sxy = 0;
    let sxx = 0;
    for (const i of idx) {
      const dx = xs[i]! - x0 - mx;
      sxy += dx * (ys[i]! - y0 - my);
      sxx += dx * dx;
    }
    const b = sxx > 0 ? sxy / sxx : 0;
    const mxc = mx;
    const myc = my;
    at = (x: number) => y0 + myc + (x - x0 - mxc) * b;
    residuals = idx.map((i) => ys[i]! - at(xs[i]!));
    const sigma = Math.sqrt(residuals.reduce((a, r) => a + r * r, 0) / residuals.length);
    const bound = Math.max(3 * sigma, TRIM_FLOOR_US);
    const kept = idx.filter((_, k) => Math.abs(residuals[k]!) <= bound);
    if (kept.length === idx.length || kept.length < 4) break;
    idx = kept;
  }
  return { at, residuals };
}

export interface Spread {
  /** Frames heard on every page (after each page's settle). */
  frames: number;
  /** max − min across pages of each frame's start, µs. */
  p50: number;
  /** 95 % of frames within this spread (the test's bound: an output underrun under CPU starvation can put a few frames of one page off). */
  p95: number;
  p99: number;
  max: number;
}

/**
 * Spread across pages of each frame's start, over the frames every page played at least
 * `settleUs` after its own first audible frame.
 */
export function spread(pages: PlayoutTimes[], settleUs: number): Spread {
  const firsts = pages.map((p) => Math.min(...p.times.values()));
  const spreads: number[] = [];
  const first = pages[0];
  if (first) {
    for (const m of first.times.keys()) {
      const ts = pages.map((p, i) => {
        const t = p.times.get(m);
        return t !== undefined && t - firsts[i]! >= settleUs ? t : undefined;
      });
      if (ts.some((t) => t === undefined)) continue;
      const vs = ts as number[];
      spreads.push(Math.max(...vs) - Math.min(...vs));
    }
  }
  spreads.sort((a, b) => a - b);
  return { frames: spreads.length, p95: quantile(spreads, 0.95), ...spreadSummary(spreads) };
}

/**
 * A late joiner's first audible frames against the others: of its first `window` frames, the first
 * `n` that another page also heard, each its start minus the median of the other pages' starts, µs.
 * A frame the others did not hear (the joiner's Chromium start can starve their audio threads into
 * an underrun just then) is passed over rather than ending the comparison.
 */
export function firstFramesOffsetUs(joiner: PlayoutTimes, others: PlayoutTimes[], n = 5, window = 25): number[] {
  const ms = [...joiner.times.keys()].sort((a, b) => a - b).slice(0, window);
  return ms
    .flatMap((m) => {
      const ts = others.map((o) => o.times.get(m)).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
      return ts.length === 0 ? [] : [joiner.times.get(m)! - quantile(ts, 0.5)];
    })
    .slice(0, n);
}

export interface ScheduleError {
  frames: number;
  /** Heard (ground truth) minus when the stream's ticks said the frame should sound, µs. */
  p1: number;
  p5: number;
  p50: number;
  p95: number;
  p99: number;
  /** Largest |error|, µs. */
  maxAbs: number;
}

/**
 * A page's error against the stream's schedule: each frame's start (wall clock, ground truth)
 * minus its playout time from the sync ticks (cluster time: the machine's clock as the nodes read
 * it), over the frames heard at least `settleUs` after the page's first audible frame.
 */
export function scheduleError(p: PlayoutTimes, playoutUs: (m: number) => number | undefined, settleUs = 0): ScheduleError {
  const first = Math.min(...p.times.values());
  const errors: number[] = [];
  for (const [m, t] of p.times) {
    const want = playoutUs(m);
    if (want !== undefined && t - first >= settleUs) errors.push(t - want);
  }
  errors.sort((a, b) => a - b);
  const q = (x: number) => quantile(errors, x);
  return { frames: errors.length, p1: q(0.01), p5: q(0.05), p50: q(0.5), p95: q(0.95), p99: q(0.99), maxAbs: Math.max(...errors.map(Math.abs)) };
}
