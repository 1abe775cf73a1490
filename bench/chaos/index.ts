/**
 * Fault-injection harness (issue 17): every fault of bench/chaos/trial.ts, repeated, on a fresh
 * 3-node cluster per trial; the silence each listener hears, the time to audio again, frames that
 * went back in media time, sessions lost and nodes crashed, as p50/p99/max over all listeners of
 * all trials. Faults: owner-kill (SIGKILL of the stream's owner, a worker), gateway-kill (SIGKILL
 * of a gateway holding half the listeners), owner-stop (SIGSTOP of the owner for 5 s, then
 * SIGCONT), nats-restart (the machine's NATS server stopped for 1 s: run it on a machine of its
 * own), redis-restart (the machine's Redis stopped for 1 s, back empty), broadcaster-cut (its
 * socket dropped), partition (the owner in a network namespace whose link is down for 3 s, on a
 * NATS and a Redis of the trial's own). Method and results: docs/benchmarks.md, section "Chaos";
 * what each fault does to listeners and broadcasters: docs/failover.md.
 *
 *   npm run bench:chaos -- --trials 20 [--faults owner-kill,gateway-kill] [--listeners 5] [--watch-ms 15000] [--warmup-ms 6000] [--out f.json]
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import { quantile } from "../stats";
import { FAULTS, runTrial, type Fault, type TrialResult } from "./trial";

const { values } = parseArgs({
  options: {
    trials: { type: "string", default: "20" },
    faults: { type: "string", default: FAULTS.join(",") },
    listeners: { type: "string", default: "5" },
    "watch-ms": { type: "string", default: "15000" },
    /** ms of audio every listener must have before the fault. */
    "warmup-ms": { type: "string", default: "6000" },
    out: { type: "string" },
  },
});
const faults = values.faults.split(",").map((f) => f.trim());
for (const f of faults) if (!(FAULTS as readonly string[]).includes(f)) throw new Error(`unknown fault ${f}; faults: ${FAULTS.join(", ")}`);

const summary = (xs: number[]) => {
  const sorted = [...xs].sort((p, q) => p - q);
  const f = (x: number) => (Number.isFinite(x) ? `${x < 10 ? x.toFixed(2) : Math.round(x)}` : "never");
  return `p50 ${f(quantile(sorted, 0.5))}, p99 ${f(quantile(sorted, 0.99))}, max ${f(sorted.at(-1) ?? NaN)} ms`;
};

void (async () => {
  const results: TrialResult[] = [];
  for (const fault of faults as Fault[]) {
    const mine: TrialResult[] = [];
    for (let t = 0; t < Number(values.trials); t++) {
      const r = await runTrial(fault, t, { listenersPerGateway: Number(values.listeners), warmupMs: Number(values["warmup-ms"]), watchMs: Number(values["watch-ms"]) });
      mine.push(r);
      const worst = Math.max(...r.listeners.map((l) => l.silenceMs));
      console.error(`${fault} trial ${t + 1}: worst silence ${Number.isFinite(worst) ? Math.round(worst) : "never resumed"} ms${r.crashed.length ? `, crashed ${r.crashed.join(",")}` : ""}`);
    }
    results.push(...mine);
    const ls = mine.flatMap((r) => r.listeners);
    console.log(`# ${fault}: ${mine.length} trials, ${ls.length} listener outcomes`);
    console.log(`silence: ${summary(ls.map((l) => l.silenceMs))}`);
    console.log(`media time missed: ${summary(ls.map((l) => l.mediaGapMs))}`);
    console.log(`fault → audio again: ${summary(ls.map((l) => l.resumeMs ?? Infinity))}`);
    console.log(`timeline step at the fault (sync ticks): ${summary(ls.map((l) => l.timelineStepUs / 1000))}`);
    console.log(`frames back in media time (no discontinuity flag): ${ls.reduce((n, l) => n + l.backwards, 0)}; sessions lost: ${ls.filter((l) => l.sessionLost).length}; nodes crashed: ${mine.reduce((n, r) => n + r.crashed.length, 0)}`);
  }
  if (values.out) fs.writeFileSync(values.out, JSON.stringify({ date: new Date().toISOString(), results }, null, 2));
  process.exit(0);
})().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
