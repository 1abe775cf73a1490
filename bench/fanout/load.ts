/**
 * The load process: one broadcaster and N listeners on raw sockets, in one process so that send
 * and receive times come from the same clock (performance.now(), CLOCK_MONOTONIC). Driven by the
 * orchestrator over IPC (protocol.ts); exits when the IPC channel closes.
 *
 * A listener counts a frame when the broadcaster sent it inside the measured window and it
 * arrives before the grace period after the window ends; its latency is read time − send time.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Broadcaster } from "./broadcaster";
import { LatencyHistogram } from "../histogram";
import { packetKey } from "./opus-source";
import type { FromLoad, LoadResult, ToLoad } from "./protocol";
import { RawWsClient, type WsHandlers } from "./ws-client";

/** State shared by the broadcaster and all listeners. */
class Measurement {
  /** Loop index of each packet key. */
  readonly indexOfKey = new Map<number, number>();
  /** Last send time of each loop index, ms. */
  readonly sentAt: Float64Array;
  windowStart = Infinity;
  windowEnd = Infinity;
  sentInWindow = 0;
  received = 0;
  unmatched = 0;
  badFrames = 0;
  seqGaps = 0;
  maxSendLateMs = 0;
  readonly latency = new LatencyHistogram();
  /** Latency of the first listener to receive each frame: the server's own delay, without the fan-out spread. */
  readonly firstLatency = new LatencyHistogram();
  /** Whether the frame at each loop index has reached a listener since it was last sent. */
  readonly reached: Uint8Array;
  binaryMessages = 0;
  readonly closes: Record<string, { count: number; reason: string }> = {};

  constructor(packets: readonly Buffer[]) {
    packets.forEach((p, i) => this.indexOfKey.set(packetKey(p, 0, p.length), i));
    this.sentAt = new Float64Array(packets.length).fill(-Infinity);
    this.reached = new Uint8Array(packets.length);
  }

  onSent(index: number, atMs: number, lateMs: number): void {
    this.sentAt[index] = atMs;
    this.reached[index] = 0;
    if (atMs >= this.windowStart && atMs < this.windowEnd) {
      this.sentInWindow++;
      if (lateMs > this.maxSendLateMs) this.maxSendLateMs = lateMs;
    }
  }
}

/** One listener: counts and times the audio.data messages it receives. */
class Listener implements WsHandlers {
  readonly client: RawWsClient;
  hello = false;
  private frames = 0;
  private lastSeq = 0;

  constructor(
    port: number,
    streamId: string,
    private readonly m: Measurement,
    private readonly onReady: (ok: boolean, why: string) => void,
  ) {
    this.client = new RawWsClient(port, `/ws/listen/${streamId}`, this);
  }

  open(): void {}

  text(buf: Buffer, start: number, end: number): void {
    if (this.hello) return;
    const text = buf.toString("utf8", start, end);
    let type: unknown;
    try {
      type = (JSON.parse(text) as { type?: unknown }).type;
    } catch {
      type = undefined;
    }
    this.hello = type === "hello";
    this.onReady(this.hello, this.hello ? "" : `first message is not hello: ${text.slice(0, 200)}`);
  }

  binary(buf: Buffer, start: number, end: number, atMs: number): void {
    const m = this.m;
    m.binaryMessages++;
    if (end - start < 17 || buf[start] !== 1 || buf[start + 1] !== 1) {
      m.badFrames++;
      return;
    }
    const seq = buf.readUInt32BE(start + 4);
    if (this.frames++ > 0) {
      const gap = (seq - this.lastSeq - 1) >>> 0;
      if (gap !== 0 && gap < 1_000_000) m.seqGaps += gap;
    }
    this.lastSeq = seq;
    const index = m.indexOfKey.get(packetKey(buf, start + 16, end));
    if (index === undefined) {
      m.unmatched++;
      return;
    }
    const sentAt = m.sentAt[index] as number;
    if (sentAt >= m.windowStart && sentAt < m.windowEnd) {
      m.received++;
      m.latency.record(atMs - sentAt);
      if (m.reached[index] === 0) {
        m.reached[index] = 1;
        m.firstLatency.record(atMs - sentAt);
      }
    }
  }

  closed(code: number, reason: string): void {
    const entry = (this.m.closes[String(code)] ??= { count: 0, reason });
    entry.count++;
    if (!this.hello) this.onReady(false, `closed (${code}) ${reason}`);
  }
}

let measurement: Measurement | null = null;
let broadcaster: Broadcaster | null = null;
let init: Extract<ToLoad, { type: "init" }> | null = null;
const listeners: Listener[] = [];
let cpuAtStart = process.cpuUsage();
let readsAtStart = 0;
const loopDelay = monitorEventLoopDelay({ resolution: 1 });

function send(msg: FromLoad): void {
  process.send?.(msg);
}

let failed = 0;
let firstFailure: string | null = null;

/** Connects `count` more listeners, `opts.batch` at a time, each batch waiting for its hellos. */
async function connectListeners(opts: Extract<ToLoad, { type: "init" }>, m: Measurement, count: number): Promise<FromLoad> {
  const t0 = performance.now();
  for (let done = 0; done < count; done += opts.batch) {
    const size = Math.min(opts.batch, count - done);
    await new Promise<void>((resolve) => {
      let pending = size;
      const timer = setTimeout(() => {
        failed += pending;
        firstFailure ??= `no hello within 15 s for ${pending} listeners`;
        resolve();
      }, 15_000);
      for (let i = 0; i < size; i++) {
        let reported = false;
        const listener = new Listener(opts.port, opts.streamId, m, (ok, why) => {
          if (reported) return;
          reported = true;
          if (!ok) {
            failed++;
            firstFailure ??= why;
          }
          if (--pending === 0) {
            clearTimeout(timer);
            resolve();
          }
        });
        listeners.push(listener);
      }
    });
  }
  const connected = listeners.filter((l) => l.hello && l.client.isOpen).length;
  return { type: "connected", connected, failed, elapsedMs: performance.now() - t0, firstFailure };
}

function result(m: Measurement, windowMs: number, cpu: NodeJS.CpuUsage, listenersAtStart: number, listenersAtEnd: number): LoadResult {
  const expected = m.sentInWindow * listenersAtStart;
  return {
    windowMs,
    sentInWindow: m.sentInWindow,
    listenersAtStart,
    listenersAtEnd,
    received: m.received,
    deliveredFraction: expected > 0 ? m.received / expected : 0,
    unmatched: m.unmatched,
    badFrames: m.badFrames,
    seqGaps: m.seqGaps,
    latency: m.latency.summary(),
    firstListenerLatency: m.firstLatency.summary(),
    messagesPerRead: m.binaryMessages / Math.max(1, RawWsClient.reads - readsAtStart),
    closes: m.closes,
    loadCpuPct: ((cpu.user + cpu.system) / 1000 / windowMs) * 100,
    loadSystemCpuPct: (cpu.system / 1000 / windowMs) * 100,
    loadLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    loadLoopDelayMaxMs: loopDelay.max / 1e6,
    maxSendLateMs: m.maxSendLateMs,
  };
}

let listenersAtStart = 0;

async function handle(msg: ToLoad): Promise<void> {
  switch (msg.type) {
    case "init": {
      init = msg;
      const m = (measurement = new Measurement(msg.packets));
      const { broadcaster: b, reply } = await Broadcaster.connect(msg.port, msg.streamId, msg.token, 10_000);
      broadcaster = b;
      b.start(msg.packets, msg.frameMs, (i, at, late) => m.onSent(i, at, late));
      send({ type: "broadcasting", startedReply: reply });
      return;
    }
    case "connect":
      if (!init || !measurement) throw new Error("connect before init");
      send(await connectListeners(init, measurement, msg.count));
      return;
    case "window-start":
      if (!measurement) throw new Error("window-start before init");
      listenersAtStart = listeners.filter((l) => l.client.isOpen).length;
      cpuAtStart = process.cpuUsage();
      readsAtStart = RawWsClient.reads;
      measurement.binaryMessages = 0;
      loopDelay.enable();
      measurement.windowStart = performance.now();
      send({ type: "window-started" });
      return;
    case "window-stop": {
      const m = measurement;
      if (!m) throw new Error("window-stop before init");
      m.windowEnd = performance.now();
      const cpu = process.cpuUsage(cpuAtStart);
      loopDelay.disable();
      const atEnd = listeners.filter((l) => l.client.isOpen).length;
      await new Promise((r) => setTimeout(r, msg.graceMs));
      send({ type: "result", result: result(m, m.windowEnd - m.windowStart, cpu, listenersAtStart, atEnd) });
      broadcaster?.stop();
      for (const l of listeners) l.client.destroy();
      return;
    }
  }
}

process.on("message", (msg: ToLoad) => {
  handle(msg).catch((err: unknown) => {
    const fatal: FromLoad = { type: "fatal", message: err instanceof Error ? err.message : String(err) };
    process.send?.(fatal, undefined, {}, () => process.exit(1));
  });
});
process.on("disconnect", () => {
  broadcaster?.stop();
  for (const l of listeners) l.client.destroy();
  setImmediate(() => process.exit());
});
