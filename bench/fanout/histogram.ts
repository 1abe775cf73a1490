/**
 * Latency histogram with fixed 10 µs buckets up to 2 s and an exact maximum: recording is one
 * array increment, so millions of samples cost no allocation. Samples of 2 s or more land in the
 * last bucket (their percentiles read as 2 s; the maximum stays exact).
 */

/** Bucket width, ms. */
const BUCKET_MS = 0.01;
/** Number of buckets (2 s / 10 µs). */
const BUCKETS = 200_000;

/** Percentiles of a histogram, ms. */
export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private n = 0;
  private max = 0;
  private sum = 0;

  /** Records one latency, ms (negative values count as 0). */
  record(ms: number): void {
    const v = ms > 0 ? ms : 0;
    const i = Math.min(Math.floor(v / BUCKET_MS), BUCKETS - 1);
    this.counts[i] = (this.counts[i] as number) + 1;
    this.n++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** Number of samples recorded. */
  get count(): number {
    return this.n;
  }

  /** The latency under which a fraction `q` (0..1) of samples fall: upper edge of its bucket, ms. */
  quantile(q: number): number {
    if (this.n === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] as number;
      if (seen >= rank) return Math.min((i + 1) * BUCKET_MS, this.max);
    }
    return this.max;
  }

  summary(): LatencySummary {
    return {
      count: this.n,
      p50Ms: this.quantile(0.5),
      p90Ms: this.quantile(0.9),
      p99Ms: this.quantile(0.99),
      p999Ms: this.quantile(0.999),
      maxMs: this.n ? this.max : NaN,
      meanMs: this.n ? this.sum / this.n : NaN,
    };
  }
}
