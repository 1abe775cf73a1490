/** Small statistics shared by the benchmarks. */

/** The q-quantile (0..1) of ascending `sorted` values, nearest rank below; NaN when empty. */
export const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
