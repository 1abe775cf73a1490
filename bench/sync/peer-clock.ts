/**
 * How good a gateway's estimate of a stream owner's clock is (actors/cluster/peer-clock.ts): two
 * nodes over NATS on this machine, so the true offset is 0 and the true drift 0 (or, with
 * `--skew`, the owner's clock skewed by VEZA_TEST_CLOCK_SKEW and the truth known), a live stream
 * on the owner, and the second node's `/ready` read every second. Prints the estimate's error.
 *
 *   npx tsx bench/sync/peer-clock.ts [--seconds 60] [--skew 15,100]
 */
import { parseArgs } from "node:util";
import { startCluster } from "../../test/support/cluster";
import { goLive, rawBroadcaster, sendInRealTime } from "../../test/support/raw-socket";
import type { PeerClockState } from "../../actors/cluster/peer-clock";
import { quantile } from "../stats";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "60" }, skew: { type: "string" } } });

void (async () => {
  const startedUs = (performance.timeOrigin + performance.now()) * 1000;
  const c = await startCluster([
    { name: "owner", services: "gateway,stream,encoder,relay", env: values.skew ? { VEZA_TEST_CLOCK_SKEW: `${values.skew},${startedUs}` } : {} },
    { name: "gw", services: "gateway,relay" },
  ]);
  const [offsetMs, driftPpm] = (values.skew ?? "0,0").split(",").map(Number) as [number, number];
  const errors: Array<{ offsetUs: number; driftPpm: number }> = [];
  try {
    const b = await rawBroadcaster(c.nodes.owner!.url, "clock");
    await goLive(b);
    const stop = sendInRealTime(b);
    for (let s = 1; s <= Number(values.seconds); s++) {
      await new Promise((r) => setTimeout(r, 1000));
      const ready = (await (await fetch(`${c.nodes.gw!.http}/ready`)).json()) as { clocks?: PeerClockState[] };
      const est = ready.clocks?.find((k) => k.peer === "owner");
      if (!est?.ready) continue;
      // the owner's skew at this instant (its drift counts from startedUs)
      const nowUs = (performance.timeOrigin + performance.now()) * 1000;
      const trueOffsetUs = offsetMs * 1000 + (nowUs - startedUs) * (driftPpm / 1e6);
      errors.push({ offsetUs: est.offsetUs - trueOffsetUs, driftPpm: est.driftPpm - driftPpm });
      console.log(`${s} s: offset ${est.offsetUs} µs (error ${(est.offsetUs - trueOffsetUs).toFixed(0)}), drift ${est.driftPpm} ppm, min RTT ${est.minRttUs} µs, ${est.exchanges} exchanges`);
    }
    stop();
  } finally {
    await c.stop();
  }
  const abs = (xs: number[]) => xs.map(Math.abs).sort((a, b) => a - b);
  const o = abs(errors.map((e) => e.offsetUs));
  const d = abs(errors.map((e) => e.driftPpm));
  console.log(`|offset error| p50 ${quantile(o, 0.5).toFixed(0)} µs, max ${o.at(-1)?.toFixed(0)} µs; |drift error| p50 ${quantile(d, 0.5).toFixed(2)} ppm, max ${d.at(-1)?.toFixed(2)} ppm (${errors.length} readings)`);
  process.exit(0);
})();
