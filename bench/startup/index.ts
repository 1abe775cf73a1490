/**
 * Start-up benchmark (issue 16): how long from spawning `veza-stream start` until GET /health
 * answers 200, for the ways bin/veza-stream can run the node: `tsx` (the TypeScript compiled at
 * every start, VEZA_RUN=tsx), `compiled-nocache` (dist/bin/cli.js, bin/build.js, without V8's code
 * cache: VEZA_CODE_CACHE=off) and `compiled` (as `npm start` runs it: the bundle with its code
 * cache). The runs alternate, so all see the same machine. Then one traced run of each breaks the time down:
 * node's own boot, the load of each package, the broker's start and the gateway's listen
 * (bench/startup/trace.js, and the node's log at info level). Method and results:
 * docs/benchmarks.md, "Start-up".
 *
 *   npm run bench:startup -- [--runs 10] [--poll-ms 2] [--json bench/startup/results-<date>.json]
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { parseArgs } from "node:util";
import { quantile } from "../stats";

const ROOT = path.resolve(__dirname, "../..");
const CLI = path.join(ROOT, "bin/veza-stream");
const TRACE = path.join(__dirname, "trace.js");
/** A 32+ byte secret, so the node signs nothing on start (no generated key, no local token). */
const JWT_SECRET = "bench-startup-secret-0123456789abcdef0123456789";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    "poll-ms": { type: "string", default: "2" },
    json: { type: "string" },
  },
});
const runs = Number(values.runs);
const pollMs = Number(values["poll-ms"]);

/**
 * tsx: the TypeScript compiled at every start (VEZA_RUN=tsx); compiled-nocache: dist/bin/cli.js
 * without V8's code cache (VEZA_CODE_CACHE=off); compiled: as `npm start` runs, with the cache.
 */
type Variant = "tsx" | "compiled-nocache" | "compiled";
const VARIANTS: Variant[] = ["tsx", "compiled-nocache", "compiled"];

/** A TCP port free on 127.0.0.1 right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = http.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** One GET /health: its status, or 0 when the connection failed (nothing listening yet). */
function health(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/health", agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
  });
}

interface Run {
  /** Spawn to the first 200 of GET /health, ms. */
  ms: number;
  /** The node's log lines (with `time`, epoch ms) when run at info level. */
  logs: Array<{ time: number; msg: string }>;
  /** Epoch ms at spawn. */
  spawnedAt: number;
}

/**
 * Spawns a node, polls /health every `pollMs` from the spawn (each poll starts when the previous one
 * answered or failed, and at least `pollMs` after the previous one started), stops the node.
 */
async function startOnce(variant: Variant, opts: { trace?: string } = {}): Promise<Run> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, JWT_SECRET, LOG_LEVEL: opts.trace ? "info" : "warn", LOG_FORMAT: "json", VEZA_RUN: variant === "tsx" ? "tsx" : "", VEZA_CODE_CACHE: variant === "compiled-nocache" ? "off" : "" };
  if (opts.trace) env.VEZA_TRACE_OUT = opts.trace;
  const args = [...(opts.trace ? ["-r", TRACE] : []), CLI, "start", "--port", String(port)];
  const spawnedAt = Date.now();
  const t0 = performance.now();
  const proc = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  const logs: Run["logs"] = [];
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  readline.createInterface({ input: proc.stdout }).on("line", (line) => {
    try {
      logs.push(JSON.parse(line) as Run["logs"][number]);
    } catch {
      // not a log line
    }
  });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  let ms = NaN;
  while (proc.exitCode === null && performance.now() - t0 < 30_000) {
    const polledAt = performance.now();
    if ((await health(port)) === 200) {
      ms = performance.now() - t0;
      break;
    }
    const wait = pollMs - (performance.now() - polledAt);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  proc.kill("SIGTERM");
  const killer = setTimeout(() => proc.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(killer);
  if (Number.isNaN(ms)) throw new Error(`${variant}: no /health 200 (exit ${proc.exitCode}): ${stderr.slice(0, 500)}`);
  return { ms, logs, spawnedAt };
}

interface Trace {
  timeOrigin: number;
  bootMs: number;
  entry: { startMs: number; ms: number } | null;
  requires: Array<{ id: string; startMs: number; ms: number }>;
}

/** Moleculer's and the node's log lines that mark the start's steps, by the label shown. */
const MILESTONES: Array<[label: string, match: RegExp]> = [
  ["broker starting", /is starting\.\.\./],
  ["gateway listening", /^gateway listening$/],
  ["broker started", /ServiceBroker with .* started successfully/],
  ["node started", /^node started$/],
];

/** One traced run: where the time went, as ms since spawn. */
async function breakdown(variant: Variant) {
  const file = path.join(os.tmpdir(), `veza-startup-trace-${process.pid}-${variant}.json`);
  const run = await startOnce(variant, { trace: file });
  const trace = JSON.parse(fs.readFileSync(file, "utf8")) as Trace;
  fs.rmSync(file, { force: true });
  const sinceSpawn = (childMs: number) => Math.round(trace.timeOrigin + childMs - run.spawnedAt);
  const milestones: Record<string, number> = { "node bootstrap done": sinceSpawn(trace.bootMs) };
  if (trace.entry) {
    milestones["entry require begins (bin/veza-stream checked the build)"] = sinceSpawn(trace.entry.startMs);
    milestones["entry module loaded (every static import)"] = sinceSpawn(trace.entry.startMs + trace.entry.ms);
  }
  for (const [label, match] of MILESTONES) {
    const line = run.logs.find((l) => match.test(l.msg));
    if (line) milestones[label] = line.time - run.spawnedAt;
  }
  milestones["first /health 200"] = Math.round(run.ms);
  const packages = trace.requires
    .filter((r) => r.ms >= 1)
    .sort((a, b) => b.ms - a.ms)
    .map((r) => ({ package: r.id, ms: Math.round(r.ms * 10) / 10, atMs: sinceSpawn(r.startMs) }));
  return { variant, milestones, packages };
}

async function main(): Promise<void> {
  // the compiled variant measures a current build: build first, outside the timed runs
  await new Promise<void>((resolve, reject) => spawn(process.execPath, [path.join(ROOT, "bin/build.js"), "--node"], { stdio: "inherit" }).once("exit", (c) => (c === 0 ? resolve() : reject(new Error(`build exited with ${c}`)))));
  // one warm-up of each (page cache, esbuild's and tsx's caches): not counted
  for (const v of VARIANTS) await startOnce(v);
  const times = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
  for (let i = 0; i < runs; i++) {
    for (const v of i % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) times[v].push((await startOnce(v)).ms);
    process.stderr.write(`run ${i + 1}/${runs}: ${VARIANTS.map((v) => `${v} ${Math.round(times[v].at(-1)!)} ms`).join(", ")}\n`);
  }
  const summarise = (v: Variant) => {
    const sorted = [...times[v]].sort((a, b) => a - b);
    return { medianMs: Math.round(quantile(sorted, 0.5)), p90Ms: Math.round(quantile(sorted, 0.9)), minMs: Math.round(sorted[0]!), maxMs: Math.round(sorted.at(-1)!), runsMs: times[v].map(Math.round) };
  };
  const summary = Object.fromEntries(VARIANTS.map((v) => [v, summarise(v)])) as Record<Variant, ReturnType<typeof summarise>>;
  const breakdowns = [];
  for (const v of VARIANTS) breakdowns.push(await breakdown(v));
  const load = os.loadavg().map((l) => Math.round(l * 100) / 100);
  const result = {
    date: new Date().toISOString(),
    command: `npm run bench:startup -- --runs ${runs}${values.json ? ` --json ${values.json}` : ""}`,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavgAtEnd: load },
    pollMs,
    summary,
    breakdowns,
  };
  for (const v of VARIANTS) console.log(`${v.padEnd(16)} median ${summary[v].medianMs} ms, p90 ${summary[v].p90Ms} ms (min ${summary[v].minMs}, max ${summary[v].maxMs}; ${runs} runs)`);
  for (const b of breakdowns) {
    console.log(`\n${b.variant}: ms since spawn`);
    for (const [label, ms] of Object.entries(b.milestones)) console.log(`  ${String(ms).padStart(5)}  ${label}`);
    console.log(`  packages (load ms, inclusive, at ms): ${b.packages.map((p) => `${p.package} ${p.ms}@${p.atMs}`).join(", ")}`);
  }
  console.log(`\nload average at the end: ${load.join(" ")}`);
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(result, null, 2) + "\n");
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
