/**
 * The audio device's clock against the page's clock: a line "context frame F is heard at client
 * time L(F)" (µs), fitted to AudioContext.getOutputTimestamp() samples. Each sample pairs
 * `contextTime` (the frame the device is playing, s) with `performanceTime` (when, on the page's
 * performance timeline, ms), so the line includes the output latency, and its slope is the
 * device's real sample period, drift included.
 *
 * Fit: ordinary least squares over the last 20 s (sampled every 50 ms: about 400 points). The
 * noise is symmetric (the browser coarsens performanceTime to 100 µs, or 5 µs when the page is
 * cross-origin isolated, and the device reports its position at callback times with tens of µs of
 * jitter), unlike network delay, so least squares is the right estimator rather than a lower
 * envelope; one trimming pass drops late callbacks (residual > 3σ and > 200 µs). 20 s gives a slope
 * good to about 1 ppm while following a crystal's thermal drift (minutes). Until the points span
 * 1 s the slope is held at the nominal period (a fitted slope from a few points is worse than a
 * 100 ppm device error over the short extrapolation; after a step, the slope fitted before it). A
 * point more than 300 µs off the line is
 * held back; when 4 in a row (200 ms) are off the same way and agree within 200 µs, the device's
 * timeline stepped (a glitch, a restart, a suspension) and the fit starts again from them: least
 * squares would otherwise absorb the step over its 20 s window, one slow ramp of error. Single
 * outliers of 0.5–1.5 ms do occur (a late callback in headless Chromium on a loaded machine); they
 * are left out and do not restart the fit.
 */

/** Keep points from the last this many µs of client time. */
const WINDOW_US = 20e6;
/** Fit the slope once the points span this long, µs of client time. */
const SLOPE_AFTER_US = 1e6;
/** A point this far off the current line (µs) is held back: an outlier, or the start of a step. */
const STEP_US = 300;
/** This many points in a row off the line the same way make a step. */
const STEP_POINTS = 4;
/** Residuals above max(3σ, this) are trimmed before the final fit, µs. */
const TRIM_FLOOR_US = 200;

/** What the clock reads of an AudioContext (an AudioContext is one). */
export interface OutputTimestampSource {
  readonly state: string;
  readonly sampleRate: number;
  getOutputTimestamp(): { contextTime?: number; performanceTime?: number };
}

export interface AudioClockLine {
  /** A reference frame near the newest point, and its client time (µs). */
  frame: number;
  localUs: number;
  /** Client µs per device frame. */
  usPerFrame: number;
}

export class AudioClock {
  private frames: number[] = [];
  private locals: number[] = [];
  private line: AudioClockLine | null = null;
  /** Points off the line, held until enough say whether the timeline stepped. */
  private offLine: Array<{ frame: number; local: number; residual: number }> = [];
  /** Slope to hold while the points span under SLOPE_AFTER_US: the last fit's after a step, else nominal. */
  private slopeHint: number | null = null;
  /** Times the fit started again after a jump of the device's timeline. */
  restarts = 0;
  /** Points taken. */
  samples = 0;

  /**
   * @param ctx the player's AudioContext
   * @param clientUs the client clock at a performance-timeline time (ms), µs
   */
  constructor(
    private readonly ctx: OutputTimestampSource,
    private readonly clientUs: (performanceMs: number) => number,
  ) {}

  /** Takes one getOutputTimestamp() point (call every ~50 ms); ignored while the device is not playing. */
  sample(): void {
    if (this.ctx.state !== "running") return;
    const ts = this.ctx.getOutputTimestamp();
    const contextTime = ts.contextTime ?? 0;
    const performanceTime = ts.performanceTime ?? 0;
    if (contextTime <= 0 || performanceTime <= 0) return;
    const frame = contextTime * this.ctx.sampleRate;
    const local = this.clientUs(performanceTime);
    const n = this.frames.length;
    if (n > 0 && frame <= (this.frames[n - 1] ?? 0)) return; // no new device callback since the last point
    const residual = this.line ? local - this.localAt(frame) : 0;
    if (Math.abs(residual) > STEP_US) {
      this.offLine.push({ frame, local, residual });
      if (this.offLine.length < STEP_POINTS) return;
      const rs = this.offLine.map((p) => p.residual);
      const agree = rs.every((r) => Math.sign(r) === Math.sign(residual)) && Math.max(...rs) - Math.min(...rs) <= TRIM_FLOOR_US;
      if (!agree) {
        this.offLine.shift();
        return;
      }
      // the timeline stepped (its offset, not its rate): start again from the points after the step,
      // keeping the rate learnt so far until the new points span long enough to fit one
      this.slopeHint = this.line?.usPerFrame ?? null;
      this.frames = this.offLine.map((p) => p.frame);
      this.locals = this.offLine.map((p) => p.local);
      this.offLine = [];
      this.restarts++;
      this.samples++;
      this.line = this.fit();
      return;
    }
    this.offLine = [];
    this.frames.push(frame);
    this.locals.push(local);
    this.samples++;
    let drop = 0;
    while (drop < this.locals.length - 1 && local - (this.locals[drop] ?? 0) > WINDOW_US) drop++;
    if (drop > 0) (this.frames.splice(0, drop), this.locals.splice(0, drop));
    this.line = this.fit();
  }

  /** Whether a line is known (at least 3 points). */
  get ready(): boolean {
    return this.line !== null;
  }

  /** The current line, or null. */
  get current(): AudioClockLine | null {
    return this.line;
  }

  /** Client time (µs) at which context frame `frame` is heard. */
  localAt(frame: number): number {
    const l = this.line;
    if (!l) return NaN;
    return l.localUs + (frame - l.frame) * l.usPerFrame;
  }

  /** The device's clock against the client clock: its frames are this many ppm longer than nominal. */
  get driftPpm(): number | null {
    return this.line ? (this.line.usPerFrame / (1e6 / this.ctx.sampleRate) - 1) * 1e6 : null;
  }

  private fit(): AudioClockLine | null {
    const n = this.frames.length;
    if (n < 3) return null;
    const nominal = this.slopeHint ?? 1e6 / this.ctx.sampleRate;
    const free = (this.locals[n - 1] ?? 0) - (this.locals[0] ?? 0) >= SLOPE_AFTER_US;
    const all = Array.from({ length: n }, (_, i) => i);
    let line = leastSquares(this.frames, this.locals, all, free ? null : nominal);
    // one trimming pass: late device callbacks put points above the line
    const residuals = all.map((i) => (this.locals[i] ?? 0) - (line.localUs + ((this.frames[i] ?? 0) - line.frame) * line.usPerFrame));
    const sigma = Math.sqrt(residuals.reduce((a, r) => a + r * r, 0) / n);
    const bound = Math.max(3 * sigma, TRIM_FLOOR_US);
    const kept = all.filter((i) => Math.abs(residuals[i] ?? 0) <= bound);
    if (kept.length >= 3 && kept.length < n) line = leastSquares(this.frames, this.locals, kept, free ? null : nominal);
    return line;
  }
}

/**
 * Least-squares line through the points `idx` (slope fixed when `slope` is given), referred to the
 * last point's x. Sums are taken relative to the first point: client times are about 1.8e15 µs,
 * and a sum of hundreds of them would lose the µs in a double's 53 bits.
 */
function leastSquares(xs: number[], ys: number[], idx: number[], slope: number | null): AudioClockLine {
  const x0 = xs[idx[0] ?? 0] ?? 0;
  const y0 = ys[idx[0] ?? 0] ?? 0;
  let mx = 0;
  let my = 0;
  for (const i of idx) (mx += (xs[i] ?? 0) - x0), (my += (ys[i] ?? 0) - y0);
  mx /= idx.length;
  my /= idx.length;
  let b = slope;
  if (b === null) {
    let sxy = 0;
    let sxx = 0;
    for (const i of idx) {
      const dx = (xs[i] ?? 0) - x0 - mx;
      sxy += dx * ((ys[i] ?? 0) - y0 - my);
      sxx += dx * dx;
    }
    b = sxx > 0 ? sxy / sxx : 0;
  }
  const frame = xs[idx[idx.length - 1] ?? 0] ?? x0;
  return { frame, localUs: y0 + my + (frame - x0 - mx) * b, usPerFrame: b };
}
