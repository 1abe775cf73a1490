/**
 * The clock sync alone, offline (bench/sync/offline-model.ts): N listeners' ClockSync fed
 * synthetic exchanges with known truth, no processes or sockets, so estimator changes and ping
 * schedules can be compared in seconds. With `--real-file`, each one-way delay adds a draw from
 * the real delays bench/sync recorded on this machine (`--delays-out`; bench/sync/delays-100.json
 * is a 120 s run of 100 listeners in 2 processes, delays-100-pmqos-4proc.json the same with
 * --pm-qos in 4). With it, this model gives the bench's spread within tens of µs.
 *
 *   npx tsx bench/sync/offline.ts [--listeners 100] [--seconds 180] [--real-file bench/sync/delays-100.json]
 *       [--window 120] [--ping 2,2000,5,15000,20] [--floor-resolution 30] [--seed 7] [--true-drift]
 *
 * Prints the clock-sync error |estimate − truth| and the drift's error by time since join, each
 * listener's convergence (bench/sync's definition, against the truth), the slowest listeners with
 * the stretches in which they were more than 100 µs off, the spread of the errors across listeners
 * per 100 ms (each counted from 2 s after its join), and the pings the schedule costs a gateway
 * per listener against the SDK's default. `--true-drift` hands every ClockSync its clock's true
 * drift: what is left is the offset's own error (docs/benchmarks.md, "Convergence after join").
 * OFFLINE_TRACE=1 prints the slowest listener's error every 0.5 s.
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import { DEFAULT_PING_SCHEDULE, pingsBy } from "../../media/clock/clock-pinger";
import { badStretches, convergedAfterS, EPOCH_US, FIRST_S, runOfflineModel, STEP_S, type RecordedDelays } from "./offline-model";
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
    "true-drift": { type: "boolean", default: false },
  },
});

const N = Number(values.listeners);
const SECONDS = Number(values.seconds);
const schedule = parsePingSchedule(values.ping);
const listeners = runOfflineModel({
  listeners: N,
  seconds: SECONDS,
  upJitterMs: Number(values["up-jitter"]),
  downJitterMs: Number(values["down-jitter"]),
  schedule,
  windowS: Number(values.window),
  floorResolutionUs: Number(values["floor-resolution"]),
  seed: Number(values.seed),
  real: values["real-file"] ? (JSON.parse(fs.readFileSync(values["real-file"], "utf8")) as RecordedDelays) : null,
  trueDrift: values["true-drift"],
});
const converged = listeners.map((l) => convergedAfterS(l.errorsUs));

if (process.env.OFFLINE_TRACE) {
  const worst = converged.indexOf(Math.max(...converged));
  console.log(`slowest listener (${worst}), error µs every 0.5 s: ${listeners[worst]!.errorsUs.filter((_, i) => i % 5 === 0).map((e) => e.toFixed(0)).join(" ")}`);
}
const ages: Array<[number, number]> = [[1, 2], [2, 5], [5, 15], [15, 30], [30, 60], [60, SECONDS]];
const byAge = (pick: (l: (typeof listeners)[number]) => number[], a: number, b: number) =>
  listeners.flatMap((l) => pick(l).slice(Math.round((a - FIRST_S) / STEP_S), Math.round((b - FIRST_S) / STEP_S))).map(Math.abs).sort((x, y) => x - y);
console.log(
  "|error| by time since join: " +
    ages.map(([a, b]) => (e => `${a}–${b} s p50 ${quantile(e, 0.5).toFixed(0)} p99 ${quantile(e, 0.99).toFixed(0)} µs`)(byAge((l) => l.errorsUs, a, b))).join(" | "),
);
console.log(
  "|drift error| by time since join: " +
    ages.map(([a, b]) => (e => `${a}–${b} s p50 ${quantile(e, 0.5).toFixed(1)} p99 ${quantile(e, 0.99).toFixed(1)} ppm`)(byAge((l) => l.driftErrorsPpm, a, b))).join(" | "),
);
const c = converged.slice().sort((a, b) => a - b);
console.log(`converged (99 % within 100 µs of the truth from then on): p50 ${quantile(c, 0.5).toFixed(1)} s, p90 ${quantile(c, 0.9).toFixed(1)} s, max ${c.at(-1)!.toFixed(1)} s; over 2 s: ${c.filter((x) => x > 2).length} of ${N}`);
for (const i of converged.map((s, i) => [s, i] as const).filter(([s]) => s > 2).sort((a, b) => b[0] - a[0]).slice(0, 10).map(([, i]) => i)) {
  const stretches = badStretches(listeners[i]!.errorsUs).map(([a, b]) => `${a.toFixed(1)}–${b.toFixed(1)}`);
  console.log(`  listener ${i}: converged ${converged[i]!.toFixed(1)} s; over 100 µs at ${stretches.join(", ")} s after join`);
}
// per 100 ms of true time, the spread across listeners in for 2 s or more
const byTime = new Map<number, number[]>();
for (const l of listeners)
  l.errorsUs.forEach((e, i) => {
    const age = FIRST_S + i * STEP_S;
    if (age < 2) return;
    const slot = Math.floor((l.joinUs - EPOCH_US + age * 1e6) / 1e5);
    const errors = byTime.get(slot) ?? [];
    errors.push(e);
    byTime.set(slot, errors);
  });
const spreads = [...byTime.values()].filter((e) => e.length === N).map((e) => Math.max(...e) - Math.min(...e)).sort((a, b) => a - b);
console.log(`spread across ${N} listeners: p50 ${quantile(spreads, 0.5).toFixed(0)} µs, p99 ${quantile(spreads, 0.99).toFixed(0)} µs (${spreads.length} instants)`);
const extra = Math.max(...Array.from({ length: SECONDS * 10 + 1 }, (_, i) => pingsBy(schedule, i * 100) - pingsBy(DEFAULT_PING_SCHEDULE, i * 100)));
console.log(`pings per listener: ${pingsBy(schedule, 30_000).toFixed(0)} in the first 30 s, ${pingsBy(schedule, SECONDS * 1000).toFixed(0)} in ${SECONDS} s (SDK default: ${pingsBy(DEFAULT_PING_SCHEDULE, 30_000).toFixed(0)}, ${pingsBy(DEFAULT_PING_SCHEDULE, SECONDS * 1000).toFixed(0)}); most ahead of the default at any time: ${Math.max(0, extra).toFixed(0)}`);
