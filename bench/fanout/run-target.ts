/**
 * One measured run against one server: start it, wait until ready, start the load process,
 * broadcast, sample memory, connect the listeners, warm up, then measure the server's CPU and
 * memory from /proc over the window while the load process measures delivery and latency.
 */
import type { ChildProcess } from "node:child_process";
import { freePort, httpReady, ServerProcess, sleep, startLoad, tcpReady } from "./children";
import { sampleTree } from "./proc-stats";
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
  /** Broadcasting without listeners before the first RSS reading, s (lets startup garbage be collected). */
  settleSec: number;
  batch: number;
  streamId: string;
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
  rssBeforeListenersBytes: number;
  rssWithListenersBytes: number;
  /** VmHWM at the end of the window (peak since the server started). */
  peakRssBytes: number;
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
  try {
    const readyMs = await server.waitReady(() => (spec.ready === "http" ? httpReady(port) : tcpReady(port)), 60_000);
    load = startLoad(opts.pin ? 1 : null);
    const channel = new LoadChannel(load);
    channel.send({ type: "init", port, streamId: opts.streamId, listeners: opts.listeners, batch: opts.batch, packets, frameMs: opts.frameMs });
    await channel.next("broadcasting", 30_000);
    await sleep(opts.settleSec * 1000);
    const before = sampleTree(server.pid);

    channel.send({ type: "connect" });
    const connected = await channel.next("connected", 30_000 + opts.listeners * 20);
    if (connected.connected === 0) throw new Error(`no listener connected: ${connected.firstFailure ?? "?"}`);
    await sleep(opts.warmupSec * 1000);

    const start = sampleTree(server.pid);
    channel.send({ type: "window-start" });
    await channel.next("window-started", 5_000);
    await sleep(opts.seconds * 1000);
    const end = sampleTree(server.pid);
    channel.send({ type: "window-stop", graceMs: 1000 });
    const { result } = await channel.next("result", 15_000);

    const windowSec = (end.atMs - start.atMs) / 1000;
    const cpuSec = end.cpuSec - start.cpuSec;
    const n = result.listenersAtStart;
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
      rssBeforeListenersBytes: before.rssBytes,
      rssWithListenersBytes: end.rssBytes,
      peakRssBytes: end.hwmBytes,
      rssPerListenerBytes: n > 0 ? (end.rssBytes - before.rssBytes) / n : NaN,
      serverPids: end.pids,
      load: result,
    };
  } finally {
    const child = load;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    await server.stop();
  }
}
