/**
 * Fan-out benchmark: one 128 kbit/s Opus stream in 20 ms frames, N listeners, measured against
 * veza-stream and against a bare uWS pub/sub relay (reference-relay.ts) in the same run.
 * Method and results: docs/benchmarks.md, section "Fan-out".
 *
 *   npx tsx bench/fanout/index.ts --listeners 2000 --seconds 20 [--pin] [--json out.json]
 *     [--target veza,reference] [--server-cmd "node bin/veza-stream start --port {port} --log-level warn"]
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { TEST_JWT_SECRET, TEST_RATE_LIMITS, testToken } from "../../test/support/auth";
import { buildReferenceRelay, ROOT } from "./children";
import { encodeOpusLoop } from "./opus-source";
import { formatTable } from "./report";
import { runTarget, type RunOptions, type TargetResult, type TargetSpec } from "./run-target";

const USAGE = `usage: tsx bench/fanout/index.ts [options]
  --listeners N         listeners (default 2000)
  --seconds D           measured window, s (default 20)
  --warmup S            warm-up after the listeners connect, s (default 2)
  --settle S            broadcast without listeners before listeners connect, s (default 10;
                        V8 returns startup memory some seconds after start)
  --batch B             listeners connected at a time (default 200)
  --target LIST         comma-separated: veza, reference (default veza,reference)
  --server-cmd CMD      command for the veza target, {port} is replaced
                        (default: node bin/veza-stream start --port {port} --log-level warn);
                        it runs with JWT_SECRET set to the test secret (test/support/auth.ts),
                        which signs the broadcaster's token, and RATE_LIMITS high enough for
                        every listener to connect from 127.0.0.1
  --ready http|tcp      readiness probe of the veza target: GET /ready = 200, or TCP connect (default http)
  --pin                 server on CPU 0, load on CPU 1 (taskset)
  --media FILE          audio encoded to Opus for the stream (default /work/shared/media/awakening.ogg)
  --json FILE           write the raw figures as JSON`;

const { values } = parseArgs({
  options: {
    listeners: { type: "string", default: "2000" },
    seconds: { type: "string", default: "20" },
    warmup: { type: "string", default: "2" },
    settle: { type: "string", default: "10" },
    batch: { type: "string", default: "200" },
    target: { type: "string", default: "veza,reference" },
    "server-cmd": { type: "string", default: `${process.execPath} bin/veza-stream start --port {port} --log-level warn` },
    ready: { type: "string", default: "http" },
    pin: { type: "boolean", default: false },
    media: { type: "string", default: "/work/shared/media/awakening.ogg" },
    json: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

function positive(name: string, text: string | undefined, max: number): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || n > max) {
    console.error(`--${name} must be a number in (0, ${max}]\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

/**
 * The veza target's environment: the key the broadcaster's token is signed with, and rate limits
 * past the defaults (60 connections per 10 s and 200 listener sockets per address), since every
 * listener of the bench comes from 127.0.0.1.
 */
const VEZA_ENV = { JWT_SECRET: TEST_JWT_SECRET, RATE_LIMITS: TEST_RATE_LIMITS };

let relay: { file: string; nodePath: string } | undefined;

function targets(list: string): TargetSpec[] {
  const names = list.split(",").map((s) => s.trim()).filter(Boolean);
  const specs = names.map((name): TargetSpec => {
    if (name === "veza") {
      return { name: "veza-stream", command: values["server-cmd"] as string, ready: values.ready === "tcp" ? "tcp" : "http", env: VEZA_ENV };
    }
    if (name === "reference") {
      relay ??= buildReferenceRelay();
      return { name: "reference (uWS relay)", command: `${process.execPath} ${relay.file} --port {port}`, ready: "tcp", env: { NODE_PATH: relay.nodePath } };
    }
    console.error(`unknown target "${name}" (known: veza, reference)\n${USAGE}`);
    process.exit(2);
  });
  // Number repeated names so the table tells the runs apart.
  return specs.map((s, i) => (specs.filter((o) => o.name === s.name).length > 1 ? { ...s, name: `${s.name} #${i + 1}` } : s));
}

async function main(): Promise<void> {
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const streamId = `bench${process.pid}`;
  const opts: RunOptions = {
    listeners: Math.floor(positive("listeners", values.listeners, 50_000)),
    seconds: positive("seconds", values.seconds, 600),
    warmupSec: positive("warmup", values.warmup, 60),
    settleSec: positive("settle", values.settle, 120),
    baselineSec: 3,
    batch: Math.floor(positive("batch", values.batch, 5_000)),
    streamId,
    // a day: a fixed token that expired mid-run would take the broadcaster off air
    token: await testToken("publish", [streamId], { sub: "fanout-bench", ttlS: 86_400 }),
    pin: values.pin ?? false,
    frameMs: 20,
  };
  const specs = targets(values.target ?? "");
  if (opts.pin) {
    try {
      execFileSync("which", ["taskset"], { stdio: "ignore" });
    } catch {
      throw new Error("--pin needs taskset (util-linux), not found on PATH");
    }
    if (os.cpus().length < 2) throw new Error("--pin needs at least 2 CPUs");
  }

  // Bound the whole run: start + connect + warm-up + window + teardown per target.
  const perTargetSec = 60 + 30 + opts.settleSec + opts.baselineSec + opts.listeners * 0.02 + opts.warmupSec + opts.seconds + 30;
  setTimeout(() => {
    console.error(`fanout: run exceeded ${Math.round(perTargetSec * specs.length)} s, aborting`);
    process.exit(1);
  }, perTargetSec * specs.length * 1000).unref();

  const loadavg = os.loadavg();
  if ((loadavg[0] ?? 0) > 0.3) {
    console.error(`fanout: warning: load average ${loadavg.map((l) => l.toFixed(2)).join(" ")}; other work on this machine will skew CPU and latency`);
  }
  const media = values.media as string;
  const loop = await encodeOpusLoop(media, { startSec: 30, seconds: 10, bitrate: 128_000 });
  console.error(
    `fanout: ${loop.packets.length} Opus packets (${JSON.stringify(loop.sizes)} bytes → count, ${loop.dropped} left out) from ${media}; ` +
      `${opts.listeners} listeners, ${opts.seconds} s window after ${opts.warmupSec} s warm-up${opts.pin ? ", pinned server→CPU0 load→CPU1" : ""}`,
  );

  const results: TargetResult[] = [];
  for (const spec of specs) {
    console.error(`fanout: ${spec.name}: ${spec.command}`);
    const r = await runTarget(spec, opts, loop.packets);
    console.error(`fanout: ${spec.name}: done (${r.connected} listeners, delivered ${(r.load.deliveredFraction * 100).toFixed(3)} %)`);
    results.push(r);
  }

  console.log(formatTable(results));
  if (values.json) {
    const out = {
      date: new Date().toISOString(),
      host: { loadavgAtStart: loadavg, cpus: os.cpus().length, model: os.cpus()[0]?.model ?? "?", memBytes: os.totalmem(), node: process.version, kernel: os.release() },
      options: { ...opts, media, packets: loop.packets.length, packetBytes: loop.sizes },
      cwd: ROOT,
      results,
    };
    fs.writeFileSync(values.json, JSON.stringify(out, null, 2) + "\n");
    console.error(`fanout: wrote ${values.json}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`fanout: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
