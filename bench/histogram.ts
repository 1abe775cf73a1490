/**
 * Latency histogram with fixed buckets and an exact maximum: recording is one array increment, so
 * millions of samples cost no allocation. Samples of `maxMs` or more land in the last bucket
 * (their percentiles read as `maxMs`; the maximum stays exact). Its {@link LatencyHistogram.data}
 * crosses process boundaries (IPC with `serialization: "advanced"`) and {@link
 * LatencyHistogram.merge} adds it into another of the same buckets (several listener processes).
 */

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

/** A histogram's state, as plain data. */
export interface HistogramData {
  bucketMs: number;
  counts: Uint32Array;
  n: number;
  sum: number;
  max: number;
}

export class LatencyHistogram {
  private readonly counts: Uint32Array;
  private n = 0;
  private max = 0;
  private sum = 0;

  /** @param bucketMs bucket width, ms (default 10 µs); @param maxMs range, ms (default 2 s). */
  constructor(
    private readonly bucketMs = 0.01,
    maxMs = 2000,
  ) {
    this.counts = new Uint32Array(Math.round(maxMs / bucketMs));
  }

  /** Records one latency, ms (negative values count as 0). */
  record(ms: number): void {
    const v = ms > 0 ? ms : 0;
    const i = Math.min(Math.floor(v / this.bucketMs), this.counts.length - 1);
    this.counts[i] = (this.counts[i] as number) + 1;
    this.n++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** Number of samples recorded. */
  get count(): number {
    return this.n;
  }

  /** The state as plain data (for IPC). */
  data(): HistogramData {
    return { bucketMs: this.bucketMs, counts: this.counts, n: this.n, sum: this.sum, max: this.max };
  }

  /** Adds the samples of `d`, recorded with the same buckets. @throws Error when its buckets differ. */
  merge(d: HistogramData): void {
    if (d.bucketMs !== this.bucketMs || d.counts.length !== this.counts.length) throw new Error("merge: histograms of different buckets");
    for (let i = 0; i < this.counts.length; i++) this.counts[i] = (this.counts[i] as number) + (d.counts[i] as number);
    this.n += d.n;
    this.sum += d.sum;
    this.max = Math.max(this.max, d.max);
  }

  /** The latency under which a fraction `q` (0..1) of samples fall: upper edge of its bucket, ms. */
  quantile(q: number): number {
    if (this.n === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i] as number;
      if (seen >= rank) return Math.min((i + 1) * this.bucketMs, this.max);
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
