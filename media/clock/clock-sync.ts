/**
 * Client clock synchronisation with the gateway (whose clock is cluster time), from NTP-style
 * four-timestamp exchanges (RFC 5905 §8): t0 client send, t1 gateway receive, t2 gateway send,
 * t3 client receive; all in µs, t0/t3 on the client's clock, t1/t2 in cluster time.
 *
 * Filter: instead of NTP's minimum-delay sample or Snapcast's median of the last 200 offsets, each
 * direction is treated on its own (Moon, Skelly & Towsley, INFOCOM 1999): t1 − t0 = θ(t0) + d↑ and
 * t3 − t2 = −θ(t3) + d↓, where θ(L) is the offset at client time L and d↑, d↓ ≥ their floors. The
 * lower envelope of each direction over a window gives θ + floor↑ and −θ + floor↓ as lines in L
 * (their slope is the drift), and θ(L) = (F(L) − B(L)) / 2 when the floors are equal. Queueing
 * jitter only lifts points above the floor, so each direction converges to its floor within about
 * jitter/N for N samples, whatever the asymmetry of the jitter. A constant asymmetry of the floors
 * is invisible to any two-way method; its error is half the difference (documented budget).
 */
import { floorLine, lineAt, lowerEnvelope, type EnvelopeLine } from "./lower-envelope";
import { SampleWindow } from "./sample-window";

export interface ClockSyncOptions {
  /** Samples kept, µs of client time. Default 60 s. */
  windowUs?: number;
  /** Estimate drift only once the window spans this long (µs); before, drift is taken as 0. Default 5 s. */
  driftAfterUs?: number;
  /** Whether to estimate drift at all (tests switch it off to show what it does). Default true. */
  compensateDrift?: boolean;
}

export class ClockSync {
  private readonly forward: SampleWindow;
  private readonly backward: SampleWindow;
  private f: EnvelopeLine | null = null;
  private b: EnvelopeLine | null = null;
  private dirty = false;
  /** Exchanges received. */
  samples = 0;
  /** Smallest round-trip delay seen, µs. */
  minRttUs = Infinity;

  constructor(private readonly opts: ClockSyncOptions = {}) {
    const windowUs = opts.windowUs ?? 60e6;
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
    this.dirty = true;
  }

  /** Whether an offset can be given (at least one exchange). */
  get ready(): boolean {
    return this.samples > 0;
  }

  /** Offset θ (µs) such that cluster time = client time + θ, at client time `localUs`. */
  offsetAt(localUs: number): number {
    this.refresh();
    if (!this.f || !this.b) return 0;
    return (lineAt(this.f, localUs) - lineAt(this.b, localUs)) / 2;
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
    if (!this.f || !this.b) return 0;
    return ((this.f.slope - this.b.slope) / 2) * 1e6;
  }

  private refresh(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const drift = (this.opts.compensateDrift ?? true) && this.forward.span >= (this.opts.driftAfterUs ?? 1e6);
    const fw = this.forward.views();
    const bw = this.backward.views();
    if (drift) {
      this.f = lowerEnvelope(fw.xs, fw.ys);
      this.b = lowerEnvelope(bw.xs, bw.ys);
      // the two slopes are +drift and −drift: average their magnitudes so both lines agree
      if (this.f && this.b) {
        const s = (this.f.slope - this.b.slope) / 2;
        this.f = floorLine(fw.xs, fw.ys, s);
        this.b = floorLine(bw.xs, bw.ys, -s);
      }
    } else {
      this.f = floorLine(fw.xs, fw.ys, 0);
      this.b = floorLine(bw.xs, bw.ys, 0);
    }
  }
}
