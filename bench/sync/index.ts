/**
 * Synchronised-playout benchmark: simulated listeners (the SDK's real clock sync and scheduling,
 * with virtual drifting clocks) on two gateway processes, jittery links, a skewed broadcaster;
 * prints the spread of play times across listeners, convergence after join and end-to-end delay
 * drift. Method and results: docs/benchmarks.md, section "Sync".
 *
 *   npx tsx bench/sync/index.ts --listeners 100 --seconds 180 [--json out.json]
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
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
    json: { type: "string" },
  },
});

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
  });
  const { driftPpmEstimates, ...summary } = result;
  console.log(JSON.stringify(summary, null, 2));
  console.log(`client drift estimates (ppm), first 10: ${driftPpmEstimates.slice(0, 10).join(", ")}`);
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(result, null, 2));
  process.exit(0);
})();
