/**
 * One round of the Icecast bench at N listeners: start icecast2 and a veza-stream node, put the
 * one source on air on both, then, for each server in turn, measure it idle (source only), ramp N
 * listeners (admission), warm up, measure the window (server CPU and RSS from /proc, delivery and
 * latency from the listener processes), close the listeners. Both servers stay up with the source
 * during the whole round, so they are measured under the same input in the same run.
 */
import crypto from "node:crypto";
import path from "node:path";
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import os from "node:os";
import { freePort, httpReady, ServerProcess, sleep, tcpReady, ROOT } from "../fanout/children";
import { cpuPercent, machineCpu, RssTimeline, sampleTree, type CpuTimes } from "../fanout/proc-stats";
import { LatencyHistogram, type LatencySummary } from "../histogram";
import { icecastCommand } from "./icecast2";
import { LATENCY_BUCKET_MS, LATENCY_MAX_MS, monoMs, type FromListeners, type RampResult, type ToListeners, type WindowResult } from "./protocol";
import { BenchSource } from "./source";

export type TargetName = "icecast" | "veza";

export interface RoundOptions {
  listeners: number;
  seconds: number;
  warmupSec: number;
  settleSec: number;
  idleSec: number;
  inFlight: number;
  loadProcs: number;
  targets: TargetName[];
  media: string;
  ffmpeg: string;
  icecastBin: string;
  /** veza's command line; {port} and {icecastPort} are replaced. */
  vezaCmd: string;
  /** veza's listener path, on its Icecast port or its main port ({@link vezaListenPort}). */
  vezaPath: string;
  /** Which of veza's ports its listeners use: `icecast` (node:net) or `main` (uWebSockets.js). */
  vezaListenPort: "icecast" | "main";
  pin: boolean;
}

/** Bytes per second of the source (128 kbit/s). */
const SOURCE_BYTES_PER_SEC = 16_000;

export interface TargetResult {
  name: TargetName;
  command: string;
  path: string;
  listeners: number;
  ramp: RampResult & { admittedPerSec: number; serverCpuSec: number };
  /** Source only, no listener: server CPU in % of a core, RSS median MB. */
  idle: { cpuPct: number; rssMb: number };
  windowSec: number;
  open: number;
  closedInWindow: number;
  /** Server CPU (tree) over the window. */
  cpuSec: number;
  cpuPct: number;
  /** cpuSec / (open × windowSec), µs: all the server's work, its idle cost included. */
  cpuUsPerListenerSec: number;
  /** (window CPU rate − idle CPU rate) / open, µs: what listeners add. */
  cpuUsPerListenerSecNet: number;
  rssWindowMb: number;
  rssGrowthPerListenerKb: number;
  peakRssMb: number;
  /** framesReceived / (framesSent × open). */
  delivered: number;
  /** bytesInWindow / (16000 × windowSec × open). */
  deliveredBytes: number;
  framesSent: number;
  unmatchedFrames: number;
  latency: LatencySummary;
  /** The listener processes' CPU over the window, % of a core, and their socket reads per listener·s. */
  listenerCpuPct: number;
  readsPerListenerSec: number;
  /** Machine CPU over the window, % of one CPU (fields named *Sec hold percentages). */
  machineCpuPct: CpuTimes[];
  /** Machine busy − server − listener processes, % of a CPU: other work on the machine. */
  otherPct: number;
}

export interface RoundResult {
  listeners: number;
  loadavgBefore: number[];
  loadavgAfter: number[];
  sourceFrames: number;
  sourceDuplicates: number;
  targets: TargetResult[];
}

class ListenerProc {
  readonly child: ChildProcess;
  private waiters: Array<(m: FromListeners) => void> = [];
  constructor() {
    this.child = fork(path.join(__dirname, "listeners.ts"), [], {
      cwd: ROOT,
      execArgv: ["--import", "tsx"],
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (m: FromListeners) => {
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f(m);
    });
    process.on("exit", () => this.child.kill("SIGKILL"));
  }
  send(m: ToListeners): void {
    if (this.child.connected) this.child.send(m);
  }
  next<T extends FromListeners["type"]>(type: T, timeoutMs: number): Promise<Extract<FromListeners, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`listener process: no ${type} within ${timeoutMs} ms`)), timeoutMs);
      const wait = (m: FromListeners): void => {
        if (m.type !== type) return void this.waiters.push(wait);
        clearTimeout(timer);
        resolve(m as Extract<FromListeners, { type: T }>);
      };
      this.waiters.push(wait);
    });
  }
  cpuSec(): number {
    try {
      return sampleTree(this.child.pid as number).cpuSec;
    } catch {
      return 0;
    }
  }
}

/** A latency summary's figures to 0.01 ms. */
function roundMs(s: LatencySummary): LatencySummary {
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  return { count: s.count, p50Ms: r2(s.p50Ms), p90Ms: r2(s.p90Ms), p99Ms: r2(s.p99Ms), p999Ms: r2(s.p999Ms), maxMs: r2(s.maxMs), meanMs: r2(s.meanMs) };
}

export async function runRound(o: RoundOptions, log: (s: string) => void): Promise<RoundResult> {
  const loadavgBefore = os.loadavg();
  const password = crypto.randomBytes(12).toString("hex");
  const icePort = await freePort();
  const vezaPort = await freePort();
  const vezaIcePort = await freePort();
  const ice = icecastCommand(o.icecastBin, icePort, password);
  const taskset = (cmd: string): string => (o.pin ? `taskset -c 0 ${cmd}` : cmd);
  const servers: Record<TargetName, { proc: ServerProcess; port: number; path: string; httpVersion: "1.0" | "1.1"; command: string }> = {} as never;
  const vezaCommand = o.vezaCmd.replace("{port}", String(vezaPort)).replace("{icecastPort}", String(vezaIcePort));
  servers.icecast = { proc: ServerProcess.start(taskset(ice.command), null), port: icePort, path: "/bench.mp3", httpVersion: "1.0", command: ice.command };
  servers.veza = {
    proc: ServerProcess.start(taskset(vezaCommand), null, {
      HOST: "127.0.0.1", ICECAST_PORT: String(vezaIcePort), SOURCE_PASSWORD: password, JWT_SECRET: crypto.randomBytes(32).toString("hex"),
      RATE_LIMITS: "connections:100000/10s,httpApi:100000/60s,publishStarts:100000/60s,listenersPerIp:100000", LOG_LEVEL: "warn",
    }),
    port: o.vezaListenPort === "main" ? vezaPort : vezaIcePort, path: o.vezaPath.replace("{id}", "bench"), command: vezaCommand,
    // uWebSockets.js answers HTTP/1.1 requests only
    httpVersion: o.vezaListenPort === "main" ? "1.1" : "1.0",
  };
  const procs: ListenerProc[] = [];
  let source: BenchSource | null = null;
  try {
    await servers.icecast.proc.waitReady(() => tcpReady(icePort), 15_000);
    await servers.veza.proc.waitReady(() => httpReady(vezaPort), 30_000);
    for (let i = 0; i < o.loadProcs; i++) procs.push(new ListenerProc());
    await Promise.all(procs.map((p) => p.next("ready", 30_000)));
    if (o.pin) for (const p of procs) execFileSync("taskset", ["-pc", "1", String(p.child.pid)], { stdio: "ignore" });
    const s = new BenchSource(o.ffmpeg, o.media, [
      { name: "icecast", port: icePort, mount: "/bench.mp3", password },
      { name: "veza", port: vezaIcePort, mount: "/bench.mp3", password },
    ], (f) => {
      for (const p of procs) p.send({ type: "frames", frames: [f] });
    });
    source = s;
    const t0 = performance.now();
    while (!s.onAir) {
      if (s.failure) throw new Error(s.failure);
      if (performance.now() - t0 > 10_000) throw new Error("the source is not on air on both servers within 10 s");
      await sleep(50);
    }
    log(`source on air on both; settling ${o.settleSec} s`);
    await sleep(o.settleSec * 1000);
    const results: TargetResult[] = [];
    for (const name of o.targets) {
      if (s.failure) throw new Error(s.failure);
      results.push(await measure(name, servers[name], procs, o, log));
      if (s.failure) throw new Error(s.failure);
    }
    return { listeners: o.listeners, loadavgBefore, loadavgAfter: os.loadavg(), sourceFrames: s.frames, sourceDuplicates: s.duplicates, targets: results };
  } finally {
    source?.stop();
    for (const p of procs) p.child.kill("SIGTERM");
    await Promise.all([servers.icecast.proc.stop(), servers.veza.proc.stop()]);
  }
}

async function measure(
  name: TargetName,
  server: { proc: ServerProcess; port: number; path: string; httpVersion: "1.0" | "1.1"; command: string },
  procs: ListenerProc[],
  o: RoundOptions,
  log: (s: string) => void,
): Promise<TargetResult> {
  const pid = server.proc.pid;
  const rss = new RssTimeline(pid, 250);
  rss.mark("idle");
  const idleA = sampleTree(pid);
  await sleep(o.idleSec * 1000);
  const idleB = sampleTree(pid);
  const idleRate = (idleB.cpuSec - idleA.cpuSec) / ((idleB.atMs - idleA.atMs) / 1000);

  rss.mark("ramp");
  const rampA = sampleTree(pid);
  const share = (i: number): number => Math.floor(o.listeners / procs.length) + (i < o.listeners % procs.length ? 1 : 0);
  procs.forEach((p, i) => p.send({ type: "ramp", port: server.port, path: server.path, httpVersion: server.httpVersion, n: share(i), inFlight: Math.max(1, Math.round(o.inFlight / procs.length)), timeoutMs: 10_000 }));
  const ramps = (await Promise.all(procs.map((p) => p.next("ramped", 30_000 + o.listeners * 20)))).map((m) => m.result);
  const rampB = sampleTree(pid);
  const admitted = ramps.reduce((a, r) => a + r.admitted, 0);
  const rampMs = Math.max(...ramps.map((r) => r.rampMs));
  const ramp = {
    admitted, failed: ramps.reduce((a, r) => a + r.failed, 0), firstFailure: ramps.find((r) => r.firstFailure)?.firstFailure ?? null, rampMs,
    firstByteMs: { p50: Math.max(...ramps.map((r) => r.firstByteMs.p50)), p99: Math.max(...ramps.map((r) => r.firstByteMs.p99)), max: Math.max(...ramps.map((r) => r.firstByteMs.max)) },
    admittedPerSec: Math.round(admitted / (rampMs / 1000)), serverCpuSec: Math.round((rampB.cpuSec - rampA.cpuSec) * 100) / 100,
  };
  log(`${name}: ${admitted}/${o.listeners} admitted in ${rampMs} ms (${ramp.admittedPerSec}/s)${ramp.failed ? `, ${ramp.failed} failed: ${ramp.firstFailure}` : ""}`);

  rss.mark("warmup");
  await sleep(o.warmupSec * 1000);
  rss.mark("window");
  const tw0 = monoMs();
  for (const p of procs) p.send({ type: "window-start", t: tw0 });
  const a = sampleTree(pid);
  const ma = machineCpu();
  const la = procs.map((p) => p.cpuSec());
  await sleep(o.seconds * 1000);
  const b = sampleTree(pid);
  const mb = machineCpu();
  const lb = procs.map((p) => p.cpuSec());
  const tw1 = monoMs();
  for (const p of procs) p.send({ type: "window-end", t: tw1, graceMs: 1000 });
  rss.mark("grace");
  const wins = (await Promise.all(procs.map((p) => p.next("window", 15_000)))).map((m) => m.result);
  rss.stop();
  for (const p of procs) p.send({ type: "close" });
  await Promise.all(procs.map((p) => p.next("closed", 15_000)));
  await sleep(2000);

  const windowSec = (b.atMs - a.atMs) / 1000;
  const sum = (k: keyof WindowResult): number => wins.reduce((x, w) => x + (w[k] as number), 0);
  const open = sum("open");
  const hist = new LatencyHistogram(LATENCY_BUCKET_MS, LATENCY_MAX_MS);
  for (const w of wins) hist.merge(w.latency);
  const cpuSec = b.cpuSec - a.cpuSec;
  const machine = cpuPercent(ma, mb, windowSec);
  const listenerCpuPct = (lb.reduce((x, y) => x + y, 0) - la.reduce((x, y) => x + y, 0)) / windowSec * 100;
  const all = machine.find((c) => c.name === "cpu");
  const busyPct = all ? all.busySec : NaN; // the all-CPU line: % of one CPU summed over CPUs
  const idleRss = rss.median("idle");
  const winRss = rss.median("window");
  const framesSent = wins[0]?.framesSent ?? 0;
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  return {
    name, command: server.command, path: server.path, listeners: o.listeners, ramp,
    idle: { cpuPct: r2(idleRate * 100), rssMb: r2(idleRss / 2 ** 20) },
    windowSec: r2(windowSec), open, closedInWindow: sum("closedInWindow"),
    cpuSec: r2(cpuSec), cpuPct: r2((cpuSec / windowSec) * 100),
    cpuUsPerListenerSec: r2((cpuSec / (open * windowSec)) * 1e6),
    cpuUsPerListenerSecNet: r2(((cpuSec / windowSec - idleRate) / open) * 1e6),
    rssWindowMb: r2(winRss / 2 ** 20), rssGrowthPerListenerKb: r2((winRss - idleRss) / open / 1024), peakRssMb: r2(b.hwmBytes / 2 ** 20),
    delivered: sum("framesReceived") / (framesSent * open),
    deliveredBytes: sum("bytesInWindow") / (SOURCE_BYTES_PER_SEC * windowSec * open),
    framesSent, unmatchedFrames: sum("unmatchedFrames"), latency: roundMs(hist.summary()),
    listenerCpuPct: r2(listenerCpuPct), readsPerListenerSec: r2(sum("reads") / (open * windowSec)),
    machineCpuPct: machine, otherPct: r2(busyPct - (cpuSec / windowSec) * 100 - listenerCpuPct),
  };
}
