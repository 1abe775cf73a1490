/** Small statistics shared by the benchmarks. */

/** The q-quantile (0..1) of ascending `sorted` values, nearest rank below; NaN when empty. */
export const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** p50, p99 and the largest of ascending `sorted` values (NaN when empty): how the benchmarks report a spread. */
export const spreadSummary = (sorted: number[]): { p50: number; p99: number; max: number } => ({
  p50: quantile(sorted, 0.5),
  p99: quantile(sorted, 0.99),
  max: sorted[sorted.length - 1] ?? NaN,
});
