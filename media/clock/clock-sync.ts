/**
 * Client clock synchronisation with the gateway (whose clock is cluster time), from NTP-style
 * four-timestamp exchanges (RFC 5905 §8): t0 client send, t1 gateway receive, t2 gateway send,
 * t3 client receive; all in µs, t0/t3 on the client's clock, t1/t2 in cluster time.
 *
 * Filter: instead of NTP's minimum-delay sample or Snapcast's median of the last 200 offsets, each
 * direction is treated on its own (Moon, Skelly & Towsley, INFOCOM 1999): t1 − t0 = θ(t0) + d↑ and
 * t3 − t2 = −θ(t3) + d↓, where θ(L) = θ₀ + s·L is the offset at client time L (s is the drift) and
 * d↑, d↓ ≥ their floors c↑, c↓. Queueing and scheduling only ever add delay, so the forward points
 * lie on or above the line θ + c↑ and the backward points on or above −θ + c↓: the lines are
 * supporting lines of the lower convex hulls of each direction, with slopes s and −s, and for a
 * given s they bound a band (forward, and backward mirrored) whose centre line is θ: the
 * convex-hull method of Zhang, Liu & Xia ("Clock synchronization algorithms for network
 * measurements", INFOCOM 2002), applied to both directions at once.
 *
 * Which s: not the one whose band is widest (an edge slope of a hull, pinned by two extreme
 * points), but the mean under p(s) ∝ exp(W(s)/ε), W(s) the band's width at slope s and ε the
 * resolution of the floors (default 30 µs); θ is the mean of the centre line under the same
 * weights. This is the posterior when the delay just above its floor is exponential with scale ε
 * (the band's log-likelihood is linear in its width, as in Moon et al.'s linear program),
 * integrated over the slopes the data cannot tell apart instead of maximised. When the width is
 * flat around its maximum (few points near the floor, a short span), the argmax lands at either
 * end of the flat stretch at random and the offset, extrapolated to now, swings with it; the mean
 * sits in the middle. In bench/sync/offline.ts with the delays recorded by bench/sync, the spread
 * of 100 listeners' clock errors fell from p99 340–360 µs to 190–250 µs; ε of 20–40 µs did equally
 * well, 5–10 or 80 µs worse (docs/benchmarks.md, "Sync"). W is concave and piecewise linear
 * with breakpoints at the hulls' edge slopes, so the integrals are exact, O(h²) for h hull
 * vertices (tens), after O(n) hulls.
 *
 * Jitter only lifts points above the floor, so the estimate converges to the floors within about
 * jitter/N for N samples, whatever the asymmetry of the jitter. A constant asymmetry of the floors
 * (c↑ ≠ c↓) is invisible to any two-way method; its error is (c↓ − c↑)/2 (documented budget).
 */
import { lowerHull, supportIntercept, type LowerHull } from "./lower-envelope";
import { SampleWindow } from "./sample-window";

export interface ClockSyncOptions {
  /** Samples kept, µs of client time. Default 120 s (more samples near the floor; a crystal's drift is steady over minutes). */
  windowUs?: number;
  /** Estimate drift only once the window spans this long (µs); before, drift is taken as 0. Default 1 s. */
  driftAfterUs?: number;
  /** {@link ClockSync.ready} once exchanges span this long (µs). Default 1 s (the start of the SDK's burst). */
  readyAfterUs?: number;
  /** Resolution of the delay floors, µs: the ε of the slope's posterior (see the module doc). Default 30. */
  floorResolutionUs?: number;
  /** Whether to estimate drift at all (tests switch it off to show what it does). Default true. */
  compensateDrift?: boolean;
  /**
   * The drift, ppm in {@link ClockSync.driftPpm}'s sign (dθ/d(client time) × 10⁶), when it is known
   * beforehand: then only the offset is estimated (the band's centre at that slope). Used by
   * bench/sync/offline.ts `--true-drift` to separate the drift's share of the error from the
   * offset's (docs/benchmarks.md, "Convergence after join"); a client could seed it from an
   * earlier session with the same gateway clock. Default: estimated.
   */
  knownDriftPpm?: number;
}

export class ClockSync {
  private readonly forward: SampleWindow;
  private readonly backward: SampleWindow;
  /** The fitted band, or null before any exchange: θ(L) = theta0 + slope·(L − x0); floor lines of each direction at x0. */
  private fit: { x0: number; theta0: number; slope: number; forward0: number; backward0: number } | null = null;
  private dirty = false;
  /** Exchanges added since the lines were last fitted. */
  private stale = 0;
  /** Exchanges received. */
  samples = 0;
  /** Smallest round-trip delay seen, µs. */
  minRttUs = Infinity;

  constructor(private readonly opts: ClockSyncOptions = {}) {
    const windowUs = opts.windowUs ?? 120e6;
    this.forward = new SampleWindow(windowUs);
    this.backward = new SampleWindow(windowUs);
  }

  /** Adds one exchange (µs). Exchanges must be added in order of t0. */
  add(t0: number, t1: number, t2: number, t3: number): void {
    if (!(t3 >= t0) || !(t2 >= t1)) return;
    this.forward.add(t0, t1 - t0);
    this.backward.add(t3, t3 - t2);
    this.minRttUs = Math.min(this.minRttUs, t3 - t0 - (t2 - t1));
    this.samples++;
    // Refitting costs O(window), so refit at once only for an exchange below a current line (a new
    // floor point, the only kind that can lower an envelope), else once per 1/64 of the window:
    // amortised O(1) per exchange, and what the window drops is picked up within 1/64 of its span.
    const fit = this.fit;
    const below = !fit || t1 - t0 < fit.forward0 + fit.slope * (t0 - fit.x0) || t3 - t2 < fit.backward0 - fit.slope * (t3 - fit.x0);
    if (below || ++this.stale >= this.forward.length / 64) this.dirty = true;
  }

  /** Whether the offset is good to play by: exchanges span `readyAfterUs` (the burst has run its first second). */
  get ready(): boolean {
    return this.forward.span >= (this.opts.readyAfterUs ?? 1e6);
  }

  /** Offset θ (µs) such that cluster time = client time + θ, at client time `localUs`; 0 before any exchange. */
  offsetAt(localUs: number): number {
    this.refresh();
    return this.fit ? this.fit.theta0 + this.fit.slope * (localUs - this.fit.x0) : 0;
  }

  /** Cluster time (µs) at client time `localUs`. */
  toCluster(localUs: number): number {
    return localUs + this.offsetAt(localUs);
  }

  /** Client time (µs) at cluster time `clusterUs` (inverse of toCluster, two fixed-point steps). */
  toLocal(clusterUs: number): number {
    let local = clusterUs - this.offsetAt(clusterUs);
    local = clusterUs - this.offsetAt(local);
    return local;
  }

  /** Drift of the client clock against cluster time, ppm (cluster runs faster when positive). */
  get driftPpm(): number {
    this.refresh();
    return (this.fit?.slope ?? 0) * 1e6;
  }

  private refresh(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.stale = 0;
    const fw = this.forward.views();
    const bw = this.backward.views();
    if (fw.xs.length === 0 || bw.xs.length === 0) return;
    // both hulls relative to the first forward point; the backward one mirrored in y around −y0
    const x0 = fw.xs[0]!;
    const y0 = fw.ys[0]!;
    const f = lowerHull(fw.xs, fw.ys, fw.xs.length, x0, y0);
    const b = lowerHull(bw.xs, bw.ys, bw.xs.length, x0, -y0);
    const known = this.opts.knownDriftPpm;
    const drift = known === undefined && (this.opts.compensateDrift ?? true) && this.forward.span >= (this.opts.driftAfterUs ?? 1e6);
    const mean = drift ? meanBand(f, b, this.opts.floorResolutionUs ?? 30) : null;
    const slope = known !== undefined ? known / 1e6 : (mean?.slope ?? 0);
    // forward floor line: y0 + A + s·(L − x0); backward: (C − y0) − s·(L − x0)
    const forward0 = y0 + supportIntercept(f, slope);
    const backward0 = supportIntercept(b, -slope) - y0;
    // the offset is the posterior mean too (θ is linear in the band's gap A − C for each slope)
    const theta0 = mean ? y0 + mean.gap / 2 : (forward0 - backward0) / 2;
    this.fit = { x0, slope, forward0, backward0, theta0 };
  }
}

/**
 * The mean slope under p(s) ∝ exp(W(s)/ε), W(s) = A(s) + C(s) the width of the band between the
 * forward hull's supporting line of slope s and the backward hull's of slope −s. W is concave and
 * piecewise linear, with breakpoints at the hulls' edge slopes; between breakpoints, and beyond
 * the outermost ones (where it falls linearly), exp(W/ε) integrates in closed form. Returns the
 * posterior means of the slope and of the gap A − C (the offset at x0 is y0 + gap/2), or null when
 * neither hull has an edge (no span to see a slope in).
 */
function meanBand(f: LowerHull, b: LowerHull, epsUs: number): { slope: number; gap: number } | null {
  const slopes: number[] = [];
  for (let i = 1; i < f.n; i++) slopes.push((f.y[i]! - f.y[i - 1]!) / (f.x[i]! - f.x[i - 1]!));
  for (let i = 1; i < b.n; i++) slopes.push(-(b.y[i]! - b.y[i - 1]!) / (b.x[i]! - b.x[i - 1]!));
  if (slopes.length === 0) return null;
  slopes.sort((x, y) => x - y);
  const a = slopes.map((s) => supportIntercept(f, s));
  const c = slopes.map((s) => supportIntercept(b, -s));
  // log-density at each breakpoint, relative to its maximum (so every exp is ≤ 1)
  const logp = slopes.map((_, i) => (a[i]! + c[i]!) / epsUs);
  const top = Math.max(...logp);
  for (let i = 0; i < logp.length; i++) logp[i]! -= top;
  let mass = 0;
  let slope = 0;
  let gap = 0;
  for (let i = 0; i + 1 < slopes.length; i++) {
    const d = slopes[i + 1]! - slopes[i]!;
    if (d <= 0) continue;
    const g = (logp[i + 1]! - logp[i]!) / d;
    const e0 = Math.exp(logp[i]!);
    const e1 = Math.exp(logp[i + 1]!);
    // ∫₀ᵈ e^(c+gu) du and ∫₀ᵈ u·e^(c+gu) du; s and A − C are linear in u on the segment
    const m0 = Math.abs(g * d) < 1e-9 ? e0 * d : (e1 - e0) / g;
    const m1 = Math.abs(g * d) < 1e-9 ? (e0 * d * d) / 2 : (d * e1) / g - (e1 - e0) / (g * g);
    const gap0 = a[i]! - c[i]!;
    mass += m0;
    slope += slopes[i]! * m0 + m1;
    gap += gap0 * m0 + ((a[i + 1]! - c[i + 1]! - gap0) / d) * m1;
  }
  // the tails, where W falls linearly: dW/ds and d(A − C)/ds come from the hulls' far ends
  const tail = (k: number, g: number, dGap: number) => {
    // ∫ over the tail of e^(c+gu) and u·e^(c+gu) (u ≤ 0 on the left, g > 0; u ≥ 0 on the right, g < 0)
    const e = Math.exp(logp[k]!);
    const m0 = e / Math.abs(g);
    const m1 = -e / (g * Math.abs(g));
    mass += m0;
    slope += slopes[k]! * m0 + m1;
    gap += (a[k]! - c[k]!) * m0 + dGap * m1;
  };
  const gLeft = (b.x[b.n - 1]! - f.x[0]!) / epsUs;
  const gRight = (b.x[0]! - f.x[f.n - 1]!) / epsUs;
  if (gLeft > 0) tail(0, gLeft, -f.x[0]! - b.x[b.n - 1]!);
  if (gRight < 0) tail(slopes.length - 1, gRight, -f.x[f.n - 1]! - b.x[0]!);
  return mass > 0 ? { slope: slope / mass, gap: gap / mass } : null;
}
