/**
 * Interarrival jitter as RTP receivers estimate it (RFC 3550 §6.4.1 and A.8): for packets i-1, i
 * with send times S (the sender's clock) and arrival times R (ours), D = (R_i - R_{i-1}) -
 * (S_i - S_{i-1}) and J += (|D| - J) / 16. The clocks need not agree, only tick at the same rate.
 * Pure.
 */
export class InterarrivalJitter {
  private lastSend = NaN;
  private lastArrival = NaN;
  /** The estimate, µs. */
  jitterUs = 0;

  /** One packet: its send time and arrival time, µs. */
  push(sendUs: number, arrivalUs: number): void {
    if (!Number.isNaN(this.lastSend)) {
      const d = arrivalUs - this.lastArrival - (sendUs - this.lastSend);
      this.jitterUs += (Math.abs(d) - this.jitterUs) / 16;
    }
    this.lastSend = sendUs;
    this.lastArrival = arrivalUs;
  }

  /** A new connection: a new sender clock. */
  reset(): void {
    this.lastSend = NaN;
    this.lastArrival = NaN;
    this.jitterUs = 0;
  }
}

/**
 * The smallest arrival − send time seen since {@link reset}, µs: maps the sender's clock onto ours
 * with the transit time of the fastest packet (the lower envelope: queuing only ever adds to it).
 * A relay stamps a packet it forwards with send + offset, i.e. when the original sender sent it
 * as seen here, so that the last receiver's latency is measured from the original send.
 */
export class ClockOffset {
  private min = Infinity;

  push(sendUs: number, arrivalUs: number): void {
    const d = arrivalUs - sendUs;
    if (d < this.min) this.min = d;
  }

  /** `sendUs` on our clock, or undefined before the first packet. */
  map(sendUs: number): number | undefined {
    return Number.isFinite(this.min) ? sendUs + this.min : undefined;
  }

  reset(): void {
    this.min = Infinity;
  }
}
