/**
 * Cluster time: microseconds since the Unix epoch on this node's clock, with sub-millisecond
 * resolution (the performance timeline's origin plus its monotonic offset). Nodes of one machine
 * share it exactly; across machines each gateway maps the stream owner's times into its own clock
 * with an estimate of their offset and drift (actors/cluster/peer-clock.ts), so the machines'
 * clocks need not agree.
 *
 * Tests only: `VEZA_TEST_CLOCK_SKEW=<offset ms>,<drift ppm>[,<from µs>]` in a node's environment
 * skews its cluster time by that offset plus that drift since `from` (µs since the Unix epoch;
 * default the process's start), as if its machine's clock were that far off (e.g. `15,100`: 15 ms
 * ahead and 100 ppm fast). Never set it in production.
 */

/** The skew of `VEZA_TEST_CLOCK_SKEW`, or null. @throws Error at load when it is set but malformed. */
export const TEST_CLOCK_SKEW: { offsetMs: number; driftPpm: number; fromUs: number } | null = parseSkew(process.env.VEZA_TEST_CLOCK_SKEW);

function parseSkew(value: string | undefined): { offsetMs: number; driftPpm: number; fromUs: number } | null {
  if (!value) return null;
  const [offsetMs, driftPpm, fromUs = (performance.timeOrigin + performance.now()) * 1000, extra] = value.split(",").map(Number);
  if (extra !== undefined || !Number.isFinite(offsetMs) || !Number.isFinite(driftPpm) || !Number.isFinite(fromUs) || Math.abs(driftPpm!) > 10_000) {
    throw new Error(`VEZA_TEST_CLOCK_SKEW must be "<offset ms>,<drift ppm>[,<from µs>]" (drift within ±10000), not ${JSON.stringify(value)}`);
  }
  return { offsetMs: offsetMs!, driftPpm: driftPpm!, fromUs };
}

/** This node's cluster time, µs since the Unix epoch. */
export const clusterNowUs: () => number = TEST_CLOCK_SKEW
  ? () => {
      const trueUs = (performance.timeOrigin + performance.now()) * 1000;
      return trueUs + TEST_CLOCK_SKEW.offsetMs * 1000 + (trueUs - TEST_CLOCK_SKEW.fromUs) * (TEST_CLOCK_SKEW.driftPpm / 1e6);
    }
  : () => (performance.timeOrigin + performance.now()) * 1000;
