/**
 * `npm run bench:fuzz -- [--inputs N] [--seconds S] [...]`: fuzzes a real node with random and
 * mutated inputs (docs/benchmarks.md, "Fuzzing") and prints a JSON summary on stdout; progress on
 * stderr. Exit code 0 when nothing failed, 1 when a check failed, 2 on a harness error.
 */
import { parseArgs } from "node:util";
import type { LimitsMode } from "./auth";
import { DEFAULTS, runFuzz } from "./runner";

const { values } = parseArgs({
  options: {
    inputs: { type: "string" },
    seconds: { type: "string" },
    batch: { type: "string" },
    concurrency: { type: "string" },
    seed: { type: "string" },
    "max-rss-mb": { type: "string" },
    "max-gap-ms": { type: "string" },
    settle: { type: "string" },
    "stop-on-failure": { type: "boolean" },
    "failures-dir": { type: "string" },
    nice: { type: "string" },
    "spare-live": { type: "boolean" },
    "warm-batches": { type: "string" },
    limits: { type: "string" },
    "mem-every": { type: "string" },
    "gc-every": { type: "string" },
    gcs: { type: "string" },
    "node-env": { type: "string", multiple: true },
    "heap-snapshots": { type: "string" },
    help: { type: "boolean" },
  },
});

if (values.help) {
  console.log(`usage: npm run bench:fuzz -- [options]
  --inputs N         stop after N inputs (default ${DEFAULTS.inputs})
  --seconds S        stop after S seconds of fuzzing (default ${DEFAULTS.seconds})
  --batch B          inputs per batch; the checks run after each (default ${DEFAULTS.batch})
  --concurrency C    inputs in flight (default ${DEFAULTS.concurrency})
  --seed X           fast-check seed of batch 0; batch i uses X + i (default ${DEFAULTS.seed})
  --max-rss-mb M     bound on the node's VmRSS, MiB (default ${DEFAULTS.maxRssMiB})
  --max-gap-ms G     longest wait between two frames at the good listener, ms (default ${DEFAULTS.maxGapMs})
  --settle S         idle seconds before the final RSS reading (default ${DEFAULTS.settleSeconds})
  --stop-on-failure  stop at the first failed check (default: restart the node and go on)
  --failures-dir D   where failing batches are written (default ${DEFAULTS.failuresDir})
  --spare-live       text over 64 KiB meant for a live broadcaster goes to a fresh one (each such message
                     leaves a ghost broadcaster and ~0.5 MiB behind: see docs/benchmarks.md, "Fuzzing")
  --warm-batches W   batches before the warm baseline reading (default ${DEFAULTS.warmBatches})
  --mem-every M      a memory sample every M batches, 0 for none (default ${DEFAULTS.memEvery})
  --gc-every G       a memory sample after full GCs every G batches (plateau test), 0 for none (default ${DEFAULTS.gcEvery})
  --gcs N            full GCs before the baseline, warm and final readings (default ${DEFAULTS.gcs})
  --limits L         the node's rate limits: high (far above the fuzzer's rates, so inputs reach what is behind them) or default (default ${DEFAULTS.limits})
  --node-env K=V     extra environment of the node, e.g. MALLOC_ARENA_MAX=2 (repeatable)
  --heap-snapshots D write heap snapshots of the node at the baseline, warm and final readings to D (diagnosis)
  --nice N           run the fuzzer itself at this niceness, so the node and the good pair come first (default ${DEFAULTS.nice})`);
  process.exit(0);
}

/** A non-negative number from a flag, or the default. @throws on anything else. */
function num(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${value}`);
  return n;
}

function limitsMode(value: string | undefined): LimitsMode {
  if (value === undefined) return DEFAULTS.limits;
  if (value === "high" || value === "default") return value;
  throw new Error(`--limits must be high or default, got ${value}`);
}

async function main(): Promise<number> {
  const summary = await runFuzz({
    ...DEFAULTS,
    inputs: num("inputs", values.inputs, DEFAULTS.inputs),
    seconds: num("seconds", values.seconds, DEFAULTS.seconds),
    batch: Math.max(1, num("batch", values.batch, DEFAULTS.batch)),
    concurrency: Math.max(1, num("concurrency", values.concurrency, DEFAULTS.concurrency)),
    seed: num("seed", values.seed, DEFAULTS.seed),
    maxRssMiB: num("max-rss-mb", values["max-rss-mb"], DEFAULTS.maxRssMiB),
    maxGapMs: num("max-gap-ms", values["max-gap-ms"], DEFAULTS.maxGapMs),
    settleSeconds: num("settle", values.settle, DEFAULTS.settleSeconds),
    stopOnFailure: values["stop-on-failure"] ?? false,
    failuresDir: values["failures-dir"] ?? DEFAULTS.failuresDir,
    log: (line) => console.error(`[fuzz] ${line}`),
    stop: () => stopping,
    nice: num("nice", values.nice, DEFAULTS.nice),
    spareLive: values["spare-live"] ?? false,
    warmBatches: Math.max(1, num("warm-batches", values["warm-batches"], DEFAULTS.warmBatches)),
    memEvery: num("mem-every", values["mem-every"], DEFAULTS.memEvery),
    gcEvery: num("gc-every", values["gc-every"], DEFAULTS.gcEvery),
    gcs: num("gcs", values.gcs, DEFAULTS.gcs),
    nodeEnv: values["node-env"] ?? [],
    limits: limitsMode(values.limits),
    heapSnapshots: values["heap-snapshots"] ?? null,
  });
  console.log(JSON.stringify(summary, null, 2));
  return summary.ok ? 0 : 1;
}

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    // the run ends after its current batch and stops the node and the pair; a second signal, or 30 s, exits regardless
    if (stopping) process.exit(130);
    stopping = true;
    setTimeout(() => process.exit(130), 30_000).unref();
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
