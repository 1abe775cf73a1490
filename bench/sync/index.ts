/**
 * Synchronised-playout benchmark: simulated listeners (the SDK's real clock sync and scheduling,
 * with virtual drifting clocks) on two gateway processes, jittery links, a skewed broadcaster;
 * prints the spread of play times across listeners, convergence after join and end-to-end delay
 * drift. Method and results: docs/benchmarks.md, section "Sync".
 *
 *   npx tsx bench/sync/index.ts --listeners 100 --seconds 180 [--json out.json] [--ping 2,2000,5,15000,20]
 *       [--processes 4] [--delays-out delays.json] [--pm-qos] [--failover-at 60]
 *       [--gateway-skew "15,100;-15,-100"] [--no-peer-clock]
 *
 * --delays-out writes the distribution of the real one-way delays of the clock exchanges (µs; up
 * and down, each as 1001 quantiles p0, p0.1, … p100), the input of the offline model:
 * npx tsx bench/sync/offline.ts --real-file delays.json
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import { runSync } from "./run";
import { parsePingSchedule, SHARED_OPTIONS } from "./cli";
import { holdCpusAwake } from "../pm-qos";
import { quantile } from "../stats";

const { values } = parseArgs({
  options: {
    ...SHARED_OPTIONS,
    "max-offset": { type: "string", default: "1000" },
    "max-drift": { type: "string", default: "200" },
    skew: { type: "string", default: "300" },
    "join-spread": { type: "string", default: "20" },
    seed: { type: "string", default: "1" },
    /**
     * Processes the simulated listeners are shared among: each stands in for devices of their
     * own, so the fewer listeners per event loop, the less of the simulator's own delay lands on
     * their timestamps (4: 25 each at 100 listeners; docs/benchmarks.md, "Sync").
     */
    processes: { type: "string", default: "4" },
    "no-drift-compensation": { type: "boolean", default: false },
    json: { type: "string" },
    "delays-out": { type: "string" },
    /** Keep the CPUs out of idle states for the run (bench/pm-qos.ts). */
    "pm-qos": { type: "boolean", default: false },
    /** Kill the stream's owner (a third node) this many seconds in: the spread across the re-homing (docs/failover.md). */
    "failover-at": { type: "string" },
    /** The gateways' clocks skewed on purpose: `<offset ms>,<drift ppm>;<offset ms>,<drift ppm>` (the first owns the stream). */
    "gateway-skew": { type: "string" },
    /** PEER_CLOCK=off on the nodes: trust the machines' clocks (to show what the gateways' estimate does). */
    "no-peer-clock": { type: "boolean", default: false },
  },
});

void (async () => {
  if (values["pm-qos"]) holdCpusAwake();
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
    pingSchedule: parsePingSchedule(values.ping),
    processes: Number(values.processes),
    failoverAtSeconds: values["failover-at"] === undefined ? undefined : Number(values["failover-at"]),
    gatewaySkew: values["gateway-skew"] === undefined ? undefined : (values["gateway-skew"].split(";") as [string, string]),
    nodeEnv: values["no-peer-clock"] ? { PEER_CLOCK: "off" } : undefined,
  });
  const { driftPpmEstimates, realDelayUs, ...summary } = result;
  console.log(JSON.stringify(summary, null, 2));
  console.log(`client drift estimates (ppm), first 10: ${driftPpmEstimates.slice(0, 10).join(", ")}`);
  if (values.json) fs.writeFileSync(values.json, JSON.stringify({ ...summary, driftPpmEstimates }, null, 2));
  if (values["delays-out"]) {
    const table = (xs: number[]) => {
      const sorted = xs.slice().sort((a, b) => a - b);
      return Array.from({ length: 1001 }, (_, i) => Math.round(quantile(sorted, i / 1000)));
    };
    fs.writeFileSync(values["delays-out"], JSON.stringify({ up: table(realDelayUs.up), down: table(realDelayUs.down) }) + "\n");
  }
  process.exit(0);
})();
