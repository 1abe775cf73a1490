/**
 * Exponential backoff with jitter for reconnecting sockets. Delays grow by `factor` from `baseMs`
 * up to `capMs`; each delay is drawn uniformly from [d/2, d] ("equal jitter"), so a crowd of
 * clients that lost the same node does not come back in one burst, and none retries at once.
 */

export interface BackoffOptions {
  /** First delay before jitter, ms. Default 250. */
  baseMs?: number;
  /** Largest delay before jitter, ms. Default 5000. */
  capMs?: number;
  /**
   * Growth per attempt. Default 1.5: a node that restarts in about 1.5 s is retried within about
   * 1 s of being back (with 2, the gap after a restart of that length can exceed 2 s).
   */
  factor?: number;
  /** Uniform random number in [0, 1); injectable for tests. Default Math.random. */
  random?: () => number;
}

export class Backoff {
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly factor: number;
  private readonly random: () => number;
  /** Retries since the last {@link reset}. */
  attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(o: BackoffOptions = {}) {
    this.baseMs = o.baseMs ?? 250;
    this.capMs = o.capMs ?? 5000;
    this.factor = o.factor ?? 1.5;
    this.random = o.random ?? Math.random;
  }

  /** The delay before the next retry, in ms; advances the attempt count. */
  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * this.factor ** this.attempt);
    this.attempt++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  /**
   * Runs `retry` after the next delay, or `minDelayMs` if longer (a server's Retry-After, a rate
   * limit), replacing one already pending; returns the delay, ms.
   */
  schedule(retry: () => void, minDelayMs = 0): number {
    this.cancel();
    const delayMs = Math.max(this.next(), minDelayMs);
    this.timer = setTimeout(() => {
      this.timer = null;
      retry();
    }, delayMs);
    return delayMs;
  }

  /** Drops the pending retry, if any. */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Starts again from `baseMs` (after a connection that worked). */
  reset(): void {
    this.attempt = 0;
  }
}
