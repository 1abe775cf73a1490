/**
 * Icecast side by side: Debian's icecast2 and a veza-stream node get the same 128 kbit/s MP3
 * source by PUT at the same time, and N HTTP listeners (a plain GET on node:net) are measured on
 * each in turn: server CPU per listener·s, RSS growth per listener, delivered fraction,
 * source→listener latency, admission rate. Method and results: docs/benchmarks.md, section
 * "Icecast side by side".
 *
 *   npm run bench:icecast -- --listeners 500,2000,5000 --seconds 20
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ROOT } from "../fanout/children";
import { icecastBinary, icecastVersion, ICECAST_LIMITS } from "./icecast2";
import { formatRound } from "./report";
import { runRound, type RoundOptions, type RoundResult, type TargetName } from "./run";

const USAGE = `usage: npm run bench:icecast -- [options]
  --listeners LIST    listener counts, one round each with fresh servers (default 500,2000,5000)
  --seconds D         measured window, s (default 20)
  --warmup S          after the ramp, before the window, s (default 3)
  --settle S          source on air before the first server is measured, s (default 8)
  --idle S            each server measured with the source and no listener, s (default 5)
  --in-flight C       during the ramp, listeners connecting at a time: each one admitted
                      (first audio byte) or failed (no audio in 10 s) lets the next one start (default 200)
  --load-procs P      listener processes (default 2)
  --target LIST       order of the servers in a round (default icecast,veza)
  --veza-path PATH    veza's listener path (default /live/{id}.mp3)
  --veza-port P       the port veza's listeners use: icecast (its Icecast port, node:net; default)
                      or main (its main port, uWebSockets.js: /live/ paths only)
  --veza-cmd CMD      veza's command; {port}, {icecastPort} replaced
                      (default: node bin/veza-stream start --port {port} --log-level warn)
  --pin               servers on CPU 0, listener processes on CPU 1 (taskset)
  --media FILE        the source's audio (default ../shared/media/machine-wars.mp3, looped)
  --json FILE         results (default bench/icecast/results-<date>-<listeners>.json)`;

const { values } = parseArgs({
  options: {
    listeners: { type: "string", default: "500,2000,5000" },
    seconds: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
    settle: { type: "string", default: "8" },
    idle: { type: "string", default: "5" },
    "in-flight": { type: "string", default: "200" },
    "load-procs": { type: "string", default: "2" },
    target: { type: "string", default: "icecast,veza" },
    "veza-path": { type: "string", default: "/live/{id}.mp3" },
    "veza-port": { type: "string", default: "icecast" },
    "veza-cmd": { type: "string", default: `${process.execPath} bin/veza-stream start --port {port} --log-level warn` },
    pin: { type: "boolean", default: false },
    media: { type: "string", default: path.resolve(ROOT, "..", "shared", "media", "machine-wars.mp3") },
    json: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

function num(name: string, v: string | undefined, max: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > max) {
    console.error(`--${name} must be a number in (0, ${max}]\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

function ffmpegPath(): string {
  try {
    return execFileSync("which", ["ffmpeg"], { encoding: "utf8" }).trim();
  } catch {
    return (require("@ffmpeg-installer/ffmpeg") as { path: string }).path;
  }
}

async function main(): Promise<void> {
  if (values.help) return void console.log(USAGE);
  const bin = icecastBinary();
  if (!bin) throw new Error("icecast2 is not installed: DEBIAN_FRONTEND=noninteractive apt-get install -y icecast2");
  const counts = (values.listeners ?? "").split(",").map((x) => Math.floor(num("listeners", x, 10_000)));
  const targets = (values.target ?? "").split(",") as TargetName[];
  if (targets.some((t) => t !== "icecast" && t !== "veza")) throw new Error(`--target: icecast and/or veza, not ${values.target}`);
  const base: Omit<RoundOptions, "listeners"> = {
    seconds: num("seconds", values.seconds, 600),
    warmupSec: num("warmup", values.warmup, 60),
    settleSec: num("settle", values.settle, 120),
    idleSec: num("idle", values.idle, 60),
    inFlight: Math.floor(num("in-flight", values["in-flight"], 10_000)),
    loadProcs: Math.floor(num("load-procs", values["load-procs"], 4)),
    targets,
    media: values.media as string,
    ffmpeg: ffmpegPath(),
    icecastBin: bin,
    vezaCmd: values["veza-cmd"] as string,
    vezaPath: values["veza-path"] as string,
    vezaListenPort: values["veza-port"] === "main" ? "main" : "icecast",
    pin: values.pin ?? false,
  };
  const budgetSec = counts.reduce((a, n) => a + 40 + base.settleSec + targets.length * (base.idleSec + 40 + n * 0.01 + base.warmupSec + base.seconds + 20), 0);
  setTimeout(() => {
    console.error(`icecast bench: run exceeded ${Math.round(budgetSec)} s, aborting`);
    process.exit(1);
  }, budgetSec * 1000).unref();
  const loadavg = os.loadavg();
  const command = `npm run bench:icecast -- ${process.argv.slice(2).join(" ")}`.trim();
  console.error(`icecast bench: ${icecastVersion(bin)}, listeners ${counts.join(", ")}, load average ${loadavg.map((l) => l.toFixed(2)).join(" ")}`);
  const rounds: RoundResult[] = [];
  for (const n of counts) {
    console.error(`icecast bench: round of ${n} listeners`);
    const r = await runRound({ ...base, listeners: n }, (s) => console.error(`icecast bench: ${n}: ${s}`));
    console.log(formatRound(r));
    rounds.push(r);
  }
  const date = new Date().toISOString().slice(0, 10);
  const file = values.json ?? path.join(__dirname, `results-${date}-${counts.join("_")}.json`);
  const out = {
    date: new Date().toISOString(),
    command,
    commit: git(["rev-parse", "--short", "HEAD"]),
    dirty: git(["status", "--porcelain", "--", "gateway", "transports", "media"]) !== "",
    host: { loadavgAtStart: loadavg, cpus: os.cpus().length, model: os.cpus()[0]?.model ?? "?", memBytes: os.totalmem(), node: process.version, kernel: os.release() },
    icecast: { version: icecastVersion(bin), limits: ICECAST_LIMITS },
    options: { ...base, listeners: counts },
    rounds,
  };
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
  console.error(`icecast bench: wrote ${path.relative(process.cwd(), file)}`);
}

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return "?";
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`icecast bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    process.exit(1);
  },
);
