/**
 * Reconnection delays: exponential from {@link BACKOFF.baseMs}, doubling up to
 * {@link BACKOFF.capMs}, each drawn uniformly from [d/2, d] ("equal jitter", AWS Architecture Blog,
 * "Exponential Backoff And Jitter", 2015) so that relays cut off together do not call back in step.
 */
export const BACKOFF = { baseMs: 100, capMs: 5000 } as const;

/** The delay before attempt `attempt` (0 for the first retry), ms. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const d = Math.min(BACKOFF.capMs, BACKOFF.baseMs * 2 ** Math.min(attempt, 16));
  return d / 2 + random() * (d / 2);
}
