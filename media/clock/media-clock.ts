/**
 * The media clock of a stream: the mapping from media time (samples, nominally 48 kHz) to cluster
 * time (µs), kept by the stream's owner from the arrival time of each frame. A broadcaster's sound
 * card runs a few hundred ppm off 48 000 Hz, so its real rate in cluster time is estimated, with
 * the lower envelope of (media time, arrival time) over a window (Moon, Skelly & Towsley, INFOCOM
 * 1999): network and scheduling jitter only delay frames, so the floor of the arrivals is the
 * broadcaster's clock. Listeners play media time m at `clusterUs(m) + playoutDelay`, so the
 * end-to-end delay stays constant however long the stream runs.
 */
import { floorLine, lineAt, lowerEnvelope, type EnvelopeLine } from "./lower-envelope";
import { SampleWindow } from "./sample-window";

/** A published mapping: media time `anchorMediaTime` is at cluster time `anchorClusterUs`, and the stream advances `rateHz` samples per cluster second. */
export interface ClockMapping {
  anchorMediaTime: number;
  anchorClusterUs: number;
  rateHz: number;
}

/** Cluster time (µs) of media time `m` (samples) under `mapping`. */
export function clusterTimeOf(mapping: ClockMapping, m: number): number {
  return mapping.anchorClusterUs + ((m - mapping.anchorMediaTime) * 1e6) / mapping.rateHz;
}

export interface MediaClockOptions {
  /** Media time kept for the estimate, samples. Default 120 s at 48 kHz. */
  windowSamples?: number;
  /** Estimate the rate only once the window spans this many samples; before, assume 48 kHz. Default 10 s. */
  rateAfterSamples?: number;
  /** Whether to estimate the rate at all (tests switch it off to show the drift it removes). Default true. */
  compensateDrift?: boolean;
}

const NOMINAL_US_PER_SAMPLE = 1e6 / 48_000;

export class MediaClock {
  private readonly window: SampleWindow;
  private line: EnvelopeLine | null = null;
  private dirty = false;

  constructor(private readonly opts: MediaClockOptions = {}) {
    this.window = new SampleWindow(opts.windowSamples ?? 120 * 48_000);
  }

  /** Records that the frame starting at media time `mediaTime` arrived at cluster time `arrivalUs`. */
  add(mediaTime: number, arrivalUs: number): void {
    this.window.add(mediaTime, arrivalUs);
    this.dirty = true;
  }

  /** Forgets everything: a new broadcaster (another clock) or a gap. */
  reset(): void {
    this.window.clear();
    this.line = null;
  }

  /**
   * Starts again from a mapping another node published (a re-homed stream whose broadcaster goes
   * on): points on its line over the `spanSamples` before media time `until`, so the rate is known
   * at once and the floor stays where listeners have it, unless frames arrive below it.
   */
  seed(mapping: ClockMapping, until: number, spanSamples = 10 * 48_000): void {
    this.reset();
    for (let k = 10; k >= 1; k--) {
      const m = until - (spanSamples * k) / 10;
      this.add(m, clusterTimeOf(mapping, m));
    }
  }

  /** Frames in the window. */
  get samples(): number {
    return this.window.length;
  }

  /** The current mapping anchored at media time `at` (e.g. a little ahead of the newest frame), or null before any frame. */
  mapping(at: number): ClockMapping | null {
    this.refresh();
    if (!this.line) return null;
    return { anchorMediaTime: at, anchorClusterUs: lineAt(this.line, at), rateHz: 1e6 / this.line.slope };
  }

  /** Estimated broadcaster rate offset from 48 kHz, ppm. */
  get driftPpm(): number {
    this.refresh();
    return this.line ? (NOMINAL_US_PER_SAMPLE / this.line.slope - 1) * 1e6 : 0;
  }

  private refresh(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const { xs, ys } = this.window.views();
    const estimate = (this.opts.compensateDrift ?? true) && this.window.span >= (this.opts.rateAfterSamples ?? 10 * 48_000);
    const line = estimate ? lowerEnvelope(xs, ys) : null;
    // a nominal-rate floor until the window is long enough (or when compensation is off)
    this.line = line && line.slope > 0 ? line : floorLine(xs, ys, NOMINAL_US_PER_SAMPLE);
  }
}
