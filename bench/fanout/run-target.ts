/**
 * One measured run against one server: start it, wait until ready, start the load process,
 * broadcast, sample memory, connect the listeners, warm up, then measure the server's CPU and
 * memory from /proc over the window while the load process measures delivery and latency.
 */
import type { ChildProcess } from "node:child_process";
import { freePort, httpReady, ServerProcess, sleep, startLoad, tcpReady } from "./children";
import { cpuPercent, machineCpu, RssTimeline, sampleTree, type CpuTimes, type RssPoint } from "./proc-stats";
import type { FromLoad, LoadResult, ToLoad } from "./protocol";

/** A server to measure. `command` is a shell command line where `{port}` is replaced. */
export interface TargetSpec {
  name: string;
  command: string;
  ready: "http" | "tcp";
  /** Added to the server's environment. */
  env?: Record<string, string>;
}

export interface RunOptions {
  listeners: number;
  seconds: number;
  warmupSec: number;
  /** Broadcasting without listeners before the first listeners connect, s (lets startup garbage be collected). */
  settleSec: number;
  /** Pause after the first tenth of the listeners, s: the RSS baseline. */
  baselineSec: number;
  batch: number;
  streamId: string;
  /** The broadcaster's publish token for `streamId`, signed with the target's JWT_SECRET (the reference relay ignores it). */
  token: string;
  pin: boolean;
  frameMs: number;
}

/** Everything measured for one target. Bytes and seconds unless named otherwise. */
export interface TargetResult {
  name: string;
  command: string;
  listeners: number;
  connected: number;
  failedToConnect: number;
  firstFailure: string | null;
  connectMs: number;
  readyMs: number;
  /** Server CPU (tree) over the window, seconds. */
  cpuSec: number;
  /** Window length measured by the orchestrator, seconds. */
  windowSec: number;
  /** cpuSec / (listeners open at window start × windowSec), µs. */
  cpuUsPerListenerSec: number;
  /** Server CPU over the window, % of one core. */
  cpuPct: number;
  /**
   * CPU of the whole machine (`cpu`) and of each CPU over the window, in % of one CPU (fields named
   * *Sec hold percentages here): server + load + irq/softirq + anything else running.
   */
  machineCpuPct: CpuTimes[];
  /**
   * Baseline RSS: median over the baseline phase (a tenth of the listeners connected), or over the
   * last 3 s of the settle phase when there are too few listeners for two steps.
   */
  rssBeforeListenersBytes: number;
  /** Listeners connected during the baseline (0 for one step). */
  listenersInBaseline: number;
  /**
   * Sum of the RSS falls over 10 MB between consecutive samples after the baseline: V8 giving startup
   * memory back late. When not 0, RSS/listener is a lower bound (smaller falls are the GC sawtooth the medians absorb).
   */
  rssFallAfterBaselineBytes: number;
  /** Median RSS over the window. */
  rssWithListenersBytes: number;
  /** Smallest and largest RSS over the window: a wide range means GC moved RSS, and RSS/listener is noisy. */
  rssWindowRangeBytes: [number, number];
  /** RSS every 500 ms from ready to the end of the window. */
  rssTimeline: RssPoint[];
  /** VmHWM at the end of the window (peak since the server started, startup included). */
  peakRssBytes: number;
  /** (rssWithListeners − rssBeforeListeners) / listeners added after the baseline. */
  rssPerListenerBytes: number;
  serverPids: number[];
  load: LoadResult;
}

/** Receives IPC messages from the load process one type at a time. */
class LoadChannel {
  private readonly inbox: FromLoad[] = [];
  private wake: (() => void) | null = null;
  private gone: string | null = null;

  constructor(readonly child: ChildProcess) {
    child.on("message", (m: FromLoad) => {
      this.inbox.push(m);
      this.wake?.();
    });
    child.on("exit", (code, sig) => {
      this.gone = `load process exited (${code ?? sig})`;
      this.wake?.();
    });
  }

  send(msg: ToLoad): void {
    this.child.send(msg);
  }

  async next<T extends FromLoad["type"]>(type: T, timeoutMs: number): Promise<Extract<FromLoad, { type: T }>> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const msg = this.inbox.shift();
      if (msg?.type === "fatal") throw new Error(`load process: ${msg.message}`);
      if (msg?.type === type) return msg as Extract<FromLoad, { type: T }>;
      if (msg) throw new Error(`load process sent ${msg.type}, expected ${type}`);
      if (this.gone) throw new Error(this.gone);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`load process: no ${type} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = null;
    }
  }
}

export async function runTarget(spec: TargetSpec, opts: RunOptions, packets: Buffer[]): Promise<TargetResult> {
  const port = await freePort();
  const command = spec.command.replaceAll("{port}", String(port));
  const server = ServerProcess.start(command, opts.pin ? 0 : null, spec.env);
  let load: ChildProcess | null = null;
  let timeline: RssTimeline | null = null;
  try {
    const readyMs = await server.waitReady(() => (spec.ready === "http" ? httpReady(port) : tcpReady(port)), 60_000);
    timeline = new RssTimeline(server.pid);
    load = startLoad(opts.pin ? 1 : null);
    const channel = new LoadChannel(load);
    channel.send({ type: "init", port, streamId: opts.streamId, token: opts.token, listeners: opts.listeners, batch: opts.batch, packets, frameMs: opts.frameMs });
    await channel.next("broadcasting", 30_000);
    timeline.mark("settle");
    await sleep(opts.settleSec * 1000);

    // A first tenth of the listeners, then a baseline: their allocations make V8 run the GC that
    // returns startup memory now rather than in the window, and RSS/listener is the slope above it.
    const first = opts.listeners >= 2 * opts.batch ? Math.max(opts.batch, Math.round(opts.listeners / 10)) : 0;
    let firstConnected = 0;
    if (first > 0) {
      timeline.mark("connect-first");
      channel.send({ type: "connect", count: first });
      firstConnected = (await channel.next("connected", 30_000 + first * 20)).connected;
      timeline.mark("baseline");
      await sleep(opts.baselineSec * 1000);
    }
    timeline.mark("connect");
    channel.send({ type: "connect", count: opts.listeners - first });
    const connected = await channel.next("connected", 30_000 + opts.listeners * 20);
    if (connected.connected === 0) throw new Error(`no listener connected: ${connected.firstFailure ?? "?"}`);
    timeline.mark("warmup");
    await sleep(opts.warmupSec * 1000);

    const start = sampleTree(server.pid);
    const machineStart = machineCpu();
    channel.send({ type: "window-start" });
    await channel.next("window-started", 5_000);
    timeline.mark("window");
    await sleep(opts.seconds * 1000);
    const end = sampleTree(server.pid);
    const machineEnd = machineCpu();
    timeline.mark("end");
    timeline.stop();
    channel.send({ type: "window-stop", graceMs: 1000 });
    const { result } = await channel.next("result", 15_000);

    const windowSec = (end.atMs - start.atMs) / 1000;
    const cpuSec = end.cpuSec - start.cpuSec;
    const n = result.listenersAtStart;
    const before = first > 0 ? timeline.median("baseline") : timeline.median("settle", 3);
    const withListeners = timeline.median("window");
    const added = n - firstConnected;
    return {
      name: spec.name,
      command,
      listeners: opts.listeners,
      connected: connected.connected,
      failedToConnect: connected.failed,
      firstFailure: connected.firstFailure,
      connectMs: connected.elapsedMs,
      readyMs,
      cpuSec,
      windowSec,
      cpuUsPerListenerSec: n > 0 ? (cpuSec * 1e6) / (n * windowSec) : NaN,
      cpuPct: (cpuSec / windowSec) * 100,
      machineCpuPct: cpuPercent(machineStart, machineEnd, windowSec),
      rssBeforeListenersBytes: before,
      rssWithListenersBytes: withListeners,
      rssWindowRangeBytes: timeline.range("window"),
      peakRssBytes: end.hwmBytes,
      rssPerListenerBytes: added > 0 ? (withListeners - before) / added : NaN,
      rssFallAfterBaselineBytes: timeline.falls(["connect", "warmup", "window", "end"], 10 * 2 ** 20),
      listenersInBaseline: firstConnected,
      rssTimeline: timeline.points,
      serverPids: end.pids,
      load: result,
    };
  } finally {
    timeline?.stop();
    const child = load;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    await server.stop();
  }
}
