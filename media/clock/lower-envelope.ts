/**
 * The lower-envelope line of a set of points: the line y = a + b·x that lies on or below every
 * point and minimises the sum of vertical distances to them. This is the linear-programming skew
 * estimator of Moon, Skelly and Towsley ("Estimation and removal of clock skew from network delay
 * measurements", IEEE INFOCOM 1999): queueing and scheduling only ever add delay, so the points
 * nearest the floor carry the clock relation, and the estimate is unbiased by one-sided jitter.
 *
 * Minimising Σ(yᵢ − a − b·xᵢ) = Σy − N·(a + b·x̄) means maximising the line's value at the mean x̄
 * among lines under all points: the answer is the edge of the lower convex hull that spans x̄
 * (O(N) with the monotone-chain hull, since points come sorted by x). Pure; numbers only.
 */

/** A line y = intercept + slope·(x − x0), kept relative to `x0` for precision with large x. */
export interface EnvelopeLine {
  slope: number;
  /** Value of the line at x0. */
  intercept: number;
  x0: number;
}

/** Evaluates `line` at `x`. */
export function lineAt(line: EnvelopeLine, x: number): number {
  return line.intercept + line.slope * (x - line.x0);
}

/**
 * The lower-envelope line of points given as parallel arrays sorted by x (ascending). With fewer
 * than 2 distinct x, returns the horizontal line through the lowest point, or `fallbackSlope`
 * through it when given. Returns null for no points.
 */
export function lowerEnvelope(xs: ArrayLike<number>, ys: ArrayLike<number>, n = xs.length, fallbackSlope = 0, weighting: "points" | "span" = "span"): EnvelopeLine | null {
  if (n === 0) return null;
  const hull = lowerHull(xs, ys, n);
  const { x: hx, y: hy, n: h } = hull;
  if (h === 1) {
    return { slope: fallbackSlope, intercept: hy[0]! + hull.y0 - fallbackSlope * hx[0]!, x0: hull.x0 };
  }
  // "points": Moon et al.'s objective (each point weighs the same: the edge spanning the mean x);
  // "span": every stretch of x weighs the same (the edge spanning the middle of the x range), which
  // keeps a dense burst of samples from pinning the estimate to a short, steep edge
  const mean = weighting === "points" ? hull.sumX / n : hx[h - 1]! / 2;
  let k = 0;
  while (k < h - 2 && hx[k + 1]! < mean) k++;
  const slope = (hy[k + 1]! - hy[k]!) / (hx[k + 1]! - hx[k]!);
  return { slope, intercept: hy[k]! - slope * hx[k]! + hull.y0, x0: hull.x0 };
}

/** The vertices of a lower convex hull, relative to (x0, y0) for precision with large values. */
export interface LowerHull {
  x: Float64Array;
  y: Float64Array;
  /** Vertices. */
  n: number;
  x0: number;
  y0: number;
  /** Sum of all points' x − x0 (for the mean). */
  sumX: number;
}

/**
 * The lower convex hull of points sorted by x, by Andrew's monotone chain, O(n). Coordinates are
 * kept relative to (x0, y0), by default the first point.
 */
export function lowerHull(xs: ArrayLike<number>, ys: ArrayLike<number>, n = xs.length, x0 = xs[0] ?? 0, y0 = ys[0] ?? 0): LowerHull {
  const hx = new Float64Array(n);
  const hy = new Float64Array(n);
  let h = 0;
  let sumX = 0;
  for (let i = 0; i < n; i++) {
    const x = xs[i]! - x0;
    const y = ys[i]! - y0;
    sumX += x;
    if (h > 0 && x === hx[h - 1]) {
      if (y >= hy[h - 1]!) continue;
      h--;
    }
    while (h >= 2 && (hx[h - 1]! - hx[h - 2]!) * (y - hy[h - 2]!) - (hy[h - 1]! - hy[h - 2]!) * (x - hx[h - 2]!) <= 0) h--;
    hx[h] = x;
    hy[h] = y;
    h++;
  }
  return { x: hx, y: hy, n: h, x0, y0, sumX };
}

/** Largest b such that the line b + slope·x lies under every vertex of `hull` (its own coordinates). */
export function supportIntercept(hull: LowerHull, slope: number): number {
  let min = Infinity;
  for (let i = 0; i < hull.n; i++) min = Math.min(min, hull.y[i]! - slope * hull.x[i]!);
  return min;
}

/** The line of slope `slope` under all points, touching the lowest one: a floor with a known slope. */
export function floorLine(xs: ArrayLike<number>, ys: ArrayLike<number>, slope: number, n = xs.length): EnvelopeLine | null {
  if (n === 0) return null;
  const x0 = xs[0]!;
  let min = Infinity;
  for (let i = 0; i < n; i++) min = Math.min(min, ys[i]! - slope * (xs[i]! - x0));
  return { slope, intercept: min, x0 };
}
