/**
 * Synchronised-playout benchmark: simulated listeners (the SDK's real clock sync and scheduling,
 * with virtual drifting clocks) on two gateway processes, jittery links, a skewed broadcaster;
 * prints the spread of play times across listeners, convergence after join and end-to-end delay
 * drift. Method and results: docs/benchmarks.md, section "Sync".
 *
 *   npx tsx bench/sync/index.ts --listeners 100 --seconds 180 [--json out.json] [--ping 2,2000,5,15000,20]
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import type { PingSchedule } from "../../media/clock/clock-pinger";
import { runSync } from "./run";

const { values } = parseArgs({
  options: {
    listeners: { type: "string", default: "100" },
    seconds: { type: "string", default: "180" },
    "up-jitter": { type: "string", default: "20" },
    "down-jitter": { type: "string", default: "10" },
    "max-offset": { type: "string", default: "1000" },
    "max-drift": { type: "string", default: "200" },
    skew: { type: "string", default: "300" },
    "join-spread": { type: "string", default: "20" },
    seed: { type: "string", default: "1" },
    "no-drift-compensation": { type: "boolean", default: false },
    /** Clock ping schedule, ms: burst,burstFor,settle,settleFor,steady (default the SDK's). */
    ping: { type: "string" },
    json: { type: "string" },
  },
});

function parsePingSchedule(text: string): PingSchedule {
  const [burstMs, burstForMs, settleMs, settleForMs, steadyMs] = text.split(",").map(Number);
  const schedule = { burstMs, burstForMs, settleMs, settleForMs, steadyMs };
  if (Object.values(schedule).some((v) => !(Number(v) > 0))) throw new Error(`--ping wants 5 positive numbers (ms): ${text}`);
  return schedule as PingSchedule;
}

void (async () => {
  const result = await runSync({
    listeners: Number(values.listeners),
    seconds: Number(values.seconds),
    upJitterMs: Number(values["up-jitter"]),
    downJitterMs: Number(values["down-jitter"]),
    maxOffsetMs: Number(values["max-offset"]),
    maxDriftPpm: Number(values["max-drift"]),
    broadcasterSkewPpm: Number(values.skew),
    joinSpreadSeconds: Number(values["join-spread"]),
    seed: Number(values.seed),
    compensateDrift: !values["no-drift-compensation"],
    pingSchedule: values.ping ? parsePingSchedule(values.ping) : undefined,
  });
  const { driftPpmEstimates, ...summary } = result;
  console.log(JSON.stringify(summary, null, 2));
  console.log(`client drift estimates (ppm), first 10: ${driftPpmEstimates.slice(0, 10).join(", ")}`);
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(result, null, 2));
  process.exit(0);
})();
