/**
 * Simulated clocks for the sync measurement. All processes here share one machine clock, which is
 * cluster time and ground truth at once; a simulated device sees its own clock,
 * local = true × (1 + driftPpm/1e6) + offsetUs, and the sync code only ever sees local time.
 */
import { clusterNowUs } from "../../media/clock/cluster-time";

export class VirtualClock {
  constructor(
    readonly offsetUs: number,
    readonly driftPpm: number,
  ) {}

  /** Local time (µs) at true time `trueUs`. */
  local(trueUs = clusterNowUs()): number {
    return trueUs * (1 + this.driftPpm / 1e6) + this.offsetUs;
  }

  /** True time (µs) at local time `localUs`. */
  trueAt(localUs: number): number {
    return (localUs - this.offsetUs) / (1 + this.driftPpm / 1e6);
  }
}

/** Deterministic pseudo-random numbers in [0, 1) (Numerical Recipes LCG), so runs can be repeated. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * One direction of a network path, in virtual time: each message gets its own random extra delay
 * of 0..maxJitterMs (uniform, independent, as datagrams would), applied to its timestamps rather
 * than with timers. A ping "left" `delayUs()` before it was sent; a reply "arrived" `delayUs()`
 * after it was read. So the simulator's own event-loop lag does not add to the jitter under test.
 */
export class JitterLink {
  constructor(
    private readonly maxJitterMs: number,
    private readonly random: () => number,
  ) {}

  /** One message's extra delay, µs. */
  delayUs(): number {
    return this.random() * this.maxJitterMs * 1000;
  }
}
