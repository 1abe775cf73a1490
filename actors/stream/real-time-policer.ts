/**
 * Holds a broadcaster to real time: a token bucket on media time (samples at 48 kHz) refilled by
 * the wall clock. A live source can only produce audio as fast as time passes; a client that sends
 * faster (a file pushed without pacing, a flood) would turn the fan-out into an amplifier. Frames
 * beyond the bucket are dropped and counted; a broadcaster that keeps sending too fast is to be
 * closed (BROADCASTER_TOO_FAST). Policing is done where frames are stamped (the stream's owner),
 * so it covers audio.data and transcoded containers alike. Token bucket: RFC 2697's single-rate
 * policer with the committed burst in media time instead of bytes.
 */

/** Limits of {@link RealTimePolicer}; documented in docs/protocol.md ("Pacing"). */
export interface PolicerOptions {
  /** Media a broadcaster may send ahead of real time at once, ms (start-up queue, network bursts). Default 5000. */
  burstMs?: number;
  /** Refill rate relative to the wall clock. Default 1.02: a sender's clock may run 2 % fast (20 000 ppm). */
  rate?: number;
  /** Media dropped within one {@link windowMs} past which the broadcaster is abusive, ms. Default 2000. */
  abuseMs?: number;
  /** Window over which dropped media is summed, ms. Default 10 000. */
  windowMs?: number;
}

/** What to do with one frame. */
export type PoliceVerdict = "pass" | "drop" | "abuse";

const SAMPLES_PER_MS = 48;

export class RealTimePolicer {
  private readonly burst: number;
  private readonly rate: number;
  private readonly abuseSamples: number;
  private readonly windowMs: number;
  /** Media (samples at 48 kHz) the sender may still send now. */
  private tokens: number;
  private lastMs: number | null = null;
  private windowStartMs = 0;
  private droppedInWindow = 0;
  /** Samples dropped since the policer was created. */
  droppedSamples = 0;

  constructor(o: PolicerOptions = {}) {
    this.burst = (o.burstMs ?? 5000) * SAMPLES_PER_MS;
    this.rate = o.rate ?? 1.02;
    this.abuseSamples = (o.abuseMs ?? 2000) * SAMPLES_PER_MS;
    this.windowMs = o.windowMs ?? 10_000;
    this.tokens = this.burst;
  }

  /**
   * Decides the fate of a frame of `duration` samples (48 kHz) arriving at `nowMs` (a monotonic
   * clock, ms). "abuse" also means "drop": the caller closes the broadcaster.
   */
  admit(duration: number, nowMs: number): PoliceVerdict {
    if (this.lastMs !== null) this.tokens = Math.min(this.burst, this.tokens + (nowMs - this.lastMs) * SAMPLES_PER_MS * this.rate);
    this.lastMs = nowMs;
    if (this.tokens >= duration) {
      this.tokens -= duration;
      return "pass";
    }
    this.droppedSamples += duration;
    if (nowMs - this.windowStartMs > this.windowMs) {
      this.windowStartMs = nowMs;
      this.droppedInWindow = 0;
    }
    this.droppedInWindow += duration;
    return this.droppedInWindow > this.abuseSamples ? "abuse" : "drop";
  }
}
