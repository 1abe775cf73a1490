/**
 * The clock sync alone, offline: N listeners' ClockSync (media/clock/clock-sync.ts) fed synthetic
 * exchanges with known truth, no processes or sockets, so estimator changes and ping schedules can
 * be compared in seconds. Each exchange's one-way delays are simulated jitter (uniform 0..up/down
 * ms, as in bench/sync) plus, optionally, "real" delay drawn from the distribution bench/sync
 * recorded on this machine (`--delays-out`; bench/sync/delays-100.json is a 120 s run of 100
 * listeners in 2 processes, delays-100-pmqos-4proc.json the same with --pm-qos in 4). With it, this model gives the bench's spread within tens of µs.
 *
 *   npx tsx bench/sync/offline.ts [--listeners 100] [--seconds 180] [--real-file bench/sync/delays-100.json]
 *       [--window 120] [--ping 2,2000,5,15000,20] [--floor-resolution 30]
 *
 * Prints the clock-sync error |estimate − truth| by time since join, and the spread of the errors
 * across listeners per 100 ms (listeners joined over 20 s, each counted from 2 s after its join).
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import { ClockSync } from "../../media/clock/clock-sync";
import { seededRandom } from "./virtual-clock";
import { parsePingSchedule, SHARED_OPTIONS } from "./cli";
import { quantile } from "../stats";

const { values } = parseArgs({
  options: {
    ...SHARED_OPTIONS,
    window: { type: "string", default: "120" },
    /** Real one-way delays, as written by bench/sync --delays-out: {up, down}, each 1001 quantiles (µs). */
    "real-file": { type: "string" },
    "floor-resolution": { type: "string", default: "30" },
    seed: { type: "string", default: "7" },
  },
});

const N = Number(values.listeners);
const SECONDS = Number(values.seconds);
const { burstMs, burstForMs, settleMs, settleForMs, steadyMs } = parsePingSchedule(values.ping);
const random = seededRandom(Number(values.seed));
const recorded = values["real-file"] ? (JSON.parse(fs.readFileSync(values["real-file"], "utf8")) as { up: number[]; down: number[] }) : null;
/** A draw from a distribution given by its quantiles at equal steps (inverse transform, linear between them). */
const draw = (q: number[]) => {
  const u = random() * (q.length - 1);
  const i = Math.floor(u);
  return q[i]! + (u - i) * ((q[i + 1] ?? q[i]!) - q[i]!);
};
const realUp = () => (recorded ? draw(recorded.up) : 0);
const realDown = () => (recorded ? draw(recorded.down) : 0);

/** Errors by time since join (index = 100 ms steps from 1 s) and by global time (100 ms steps). */
const byAge: number[][] = [];
const byTime: number[][] = [];
/** Per listener, the age (s) from which 99 % of its errors are within 100 µs (bench/sync's "converged", against the truth). */
const converged: number[] = [];
const traces: number[][] = [];
const epoch = 1.8e15;
for (let l = 0; l < N; l++) {
  const offsetUs = (random() * 2 - 1) * 1e6;
  const driftPpm = (random() * 2 - 1) * 200;
  const local = (t: number) => t * (1 + driftPpm / 1e6) + offsetUs;
  const sync = new ClockSync({ windowUs: Number(values.window) * 1e6, floorResolutionUs: Number(values["floor-resolution"]) });
  const start = epoch + random() * 20e6;
  const exchanges: Array<{ at: number; t: [number, number, number, number] }> = [];
  for (let t = start; t - start < SECONDS * 1e6; ) {
    const t1 = t + random() * Number(values["up-jitter"]) * 1000 + realUp();
    const t2 = t1 + 15;
    const t3 = t2 + random() * Number(values["down-jitter"]) * 1000 + realDown();
    exchanges.push({ at: t3, t: [local(t), t1, t2, local(t3)] });
    const sinceMs = (t - start) / 1000;
    t += 1000 * (sinceMs < burstForMs ? burstMs : sinceMs < settleForMs ? settleMs : steadyMs) * (0.5 + random());
  }
  exchanges.sort((a, b) => a.at - b.at);
  let k = 0;
  const mine: number[] = [];
  for (let t = start + 1e6, age = 0; t - start < SECONDS * 1e6; t += 100_000, age++) {
    while (k < exchanges.length && exchanges[k]!.at <= t) sync.add(...exchanges[k++]!.t);
    const err = sync.toCluster(local(t)) - t;
    (byAge[age] ??= []).push(err);
    mine.push(err);
    if (t - start >= 2e6) (byTime[Math.floor((t - epoch) / 100_000)] ??= []).push(err);
  }
  // the earliest age from which at most 1 % of the errors are past 100 µs
  let bad = 0;
  let from = mine.length;
  for (let i = mine.length - 1; i >= 0; i--) {
    if (Math.abs(mine[i]!) > 100) bad++;
    if (bad <= 0.01 * (mine.length - i)) from = i;
  }
  converged.push(1 + from / 10);
  traces.push(mine);
}
if (process.env.OFFLINE_TRACE) {
  // the slowest listener's error, every 0.5 s from 1 s after its join
  const worst = converged.indexOf(Math.max(...converged));
  console.log(`slowest listener (${worst}), error µs every 0.5 s: ${traces[worst]!.filter((_, i) => i % 5 === 0).map((e) => e.toFixed(0)).join(" ")}`);
}

const ages: Array<[number, number]> = [[1, 2], [2, 5], [5, 15], [15, 30], [30, 60], [60, SECONDS]];
console.log(
  "|error| by time since join: " +
    ages
      .map(([a, b]) => {
        const e = byAge.slice((a - 1) * 10, (b - 1) * 10).flat().map(Math.abs).sort((x, y) => x - y);
        return `${a}–${b} s p50 ${quantile(e, 0.5).toFixed(0)} p99 ${quantile(e, 0.99).toFixed(0)} µs`;
      })
      .join(" | "),
);
const c = converged.slice().sort((a, b) => a - b);
console.log(`converged (99 % within 100 µs of the truth from then on): p50 ${quantile(c, 0.5).toFixed(1)} s, p90 ${quantile(c, 0.9).toFixed(1)} s, max ${c.at(-1)!.toFixed(1)} s; over 2 s: ${c.filter((x) => x > 2).length} of ${N}`);
const spreads = byTime.filter((e) => e.length === N).map((e) => Math.max(...e) - Math.min(...e)).sort((a, b) => a - b);
console.log(`spread across ${N} listeners: p50 ${quantile(spreads, 0.5).toFixed(0)} µs, p99 ${quantile(spreads, 0.99).toFixed(0)} µs (${spreads.length} instants)`);
