/**
 * A time window of (x, y) samples kept in x order, in growable parallel Float64Arrays, for the
 * lower-envelope estimators. Old samples are dropped from the front when `windowX` is exceeded.
 */
export class SampleWindow {
  private xs = new Float64Array(256);
  private ys = new Float64Array(256);
  private start = 0;
  private end = 0;

  constructor(
    /** Span of x kept (same unit as x). */
    private readonly windowX: number,
  ) {}

  get length(): number {
    return this.end - this.start;
  }

  /** Span of x covered, newest minus oldest. */
  get span(): number {
    return this.length < 2 ? 0 : this.xs[this.end - 1]! - this.xs[this.start]!;
  }

  get lastX(): number | undefined {
    return this.length ? this.xs[this.end - 1] : undefined;
  }

  /** Adds a sample; one slightly out of x order (e.g. replies overtaking each other) is sorted in. */
  add(x: number, y: number): void {
    if (this.end === this.xs.length) this.compact();
    let i = this.end;
    while (i > this.start && this.xs[i - 1]! > x) {
      this.xs[i] = this.xs[i - 1]!;
      this.ys[i] = this.ys[i - 1]!;
      i--;
    }
    this.xs[i] = x;
    this.ys[i] = y;
    this.end++;
    const newest = this.xs[this.end - 1]!;
    while (this.length > 2 && newest - this.xs[this.start]! > this.windowX) this.start++;
  }

  clear(): void {
    this.start = this.end = 0;
  }

  /** Views of the samples in the window (valid until the next `add`). */
  views(): { xs: Float64Array; ys: Float64Array } {
    return { xs: this.xs.subarray(this.start, this.end), ys: this.ys.subarray(this.start, this.end) };
  }

  private compact(): void {
    const n = this.length;
    const size = n * 2 > this.xs.length ? this.xs.length * 2 : this.xs.length;
    const xs = new Float64Array(size);
    const ys = new Float64Array(size);
    xs.set(this.xs.subarray(this.start, this.end));
    ys.set(this.ys.subarray(this.start, this.end));
    this.xs = xs;
    this.ys = ys;
    this.start = 0;
    this.end = n;
  }
}
