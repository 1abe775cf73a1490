/**
 * A listener process of the Icecast bench: many HTTP listeners on plain node:net sockets (a GET of
 * the mount, no HTTP library), reading into one shared buffer (`onread`), counting body bytes and
 * scanning MP3 frames (mp3-scan.ts). Each frame is matched by its key to the time the source wrote
 * it (sent by the orchestrator over IPC): latency = the listener's read of the frame's last byte −
 * the source's write of it, both on CLOCK_MONOTONIC. Runs apart from the servers, so its CPU is
 * nobody's server CPU.
 */
import net from "node:net";
import { Mp3Scanner } from "./mp3-scan";
import { LatencyHistogram } from "../histogram";
import { LATENCY_BUCKET_MS, LATENCY_MAX_MS, monoMs, type FromListeners, type RampResult, type ToListeners, type WindowResult } from "./protocol";

const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
/** A frame whose key is not known yet waits this long for the orchestrator's announcement, ms. */
const PENDING_MS = 3_000;

interface Sent {
  t: number;
  dup: boolean;
}

/** Send times by frame key (the last minute). */
const sent = new Map<number, Sent>();
/** Arrivals whose key was not announced yet: key → [arrival ms, listener open in window]. */
const pending = new Map<number, Array<{ at: number; counted: boolean }>>();
let win: { t0: number; t1: number; hist: LatencyHistogram; received: number; unmatched: number } | null = null;
let reads = 0;

function reply(m: FromListeners): void {
  process.send?.(m);
}

function onFrameArrival(key: number, at: number, inWindow: boolean): void {
  const s = sent.get(key);
  if (!s) {
    const list = pending.get(key) ?? [];
    list.push({ at, counted: inWindow });
    pending.set(key, list);
    return;
  }
  account(s, at, inWindow);
}

function account(s: Sent, at: number, inWindow: boolean): void {
  if (!win || !inWindow || s.dup) return;
  if (s.t < win.t0 || s.t > win.t1) return;
  win.received++;
  win.hist.record(at - s.t);
}

class Listener {
  readonly socket: net.Socket;
  state: "head" | "body" | "closed" = "head";
  head = "";
  bytes = 0;
  connectAt = monoMs();
  firstByteAt = 0;
  /** Open when the window started: its frames count. */
  inWindow = false;
  closedAt = 0;
  error = "";
  private readAt = 0;
  private readonly scanner = new Mp3Scanner((key) => onFrameArrival(key, this.readAt, this.inWindow));

  /** @param httpVersion 1.0 as Icecast players send (no chunked answer); 1.1 where the server answers nothing else (uWebSockets.js: chunks, whose size lines the scanner skips between frames). */
  constructor(port: number, path: string, httpVersion: "1.0" | "1.1", private readonly onFirstByte: (l: Listener) => void, private readonly onEnd: (l: Listener) => void) {
    this.socket = net.connect({ host: "127.0.0.1", port, onread: { buffer: READ_BUFFER, callback: (n) => this.onRead(n) } });
    this.socket.on("connect", () => this.socket.write(`GET ${path} HTTP/${httpVersion}\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: veza-bench-icecast\r\n\r\n`));
    this.socket.on("error", (err) => (this.error ||= err.message));
    this.socket.on("close", () => {
      if (this.state === "closed") return;
      this.state = "closed";
      this.closedAt = monoMs();
      this.onEnd(this);
    });
  }

  private onRead(n: number): boolean {
    reads++;
    this.readAt = monoMs();
    let start = 0;
    if (this.state === "head") {
      this.head += READ_BUFFER.toString("latin1", 0, n);
      const end = this.head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (this.head.length > 8192) this.fail("answer head too long");
        return true;
      }
      const status = /^(?:HTTP\/1\.[01]|ICY) (\d{3})/.exec(this.head);
      if (status?.[1] !== "200") {
        this.fail(`answer ${this.head.split("\r\n")[0] ?? "?"}`);
        return true;
      }
      start = n - (this.head.length - end - 4);
      this.state = "body";
    }
    if (start < n) {
      if (this.bytes === 0) {
        this.firstByteAt = this.readAt;
        this.onFirstByte(this);
      }
      this.bytes += n - start;
      this.scanner.push(READ_BUFFER, start, n);
    }
    return true;
  }

  fail(reason: string): void {
    this.error ||= reason;
    this.socket.destroy();
  }
}

let listeners: Listener[] = [];

/**
 * Connects `n` listeners with at most `inFlight` of them between their connect and their first
 * audio byte: each admitted (or failed) listener lets the next one start.
 */
function ramp(m: Extract<ToListeners, { type: "ramp" }>): Promise<RampResult> {
  const t0 = monoMs();
  let admitted = 0;
  let failed = 0;
  let started = 0;
  let last = t0;
  let firstFailure: string | null = null;
  const firstBytes: number[] = [];
  return new Promise((resolve) => {
    const finish = (): void => {
      listeners = listeners.filter((l) => l.state !== "closed");
      firstBytes.sort((a, b) => a - b);
      const q = (p: number): number => Math.round((firstBytes[Math.min(firstBytes.length - 1, Math.floor(p * firstBytes.length))] ?? NaN) * 10) / 10;
      resolve({ admitted, failed, firstFailure, rampMs: Math.round((last - t0) * 10) / 10, firstByteMs: { p50: q(0.5), p99: q(0.99), max: q(1) } });
    };
    const settled = (): void => {
      if (admitted + failed === m.n) return finish();
      if (started < m.n) start();
    };
    const start = (): void => {
      started++;
      let over = false;
      const l = new Listener(
        m.port,
        m.path,
        m.httpVersion,
        (x) => {
          if (over) return;
          over = true;
          clearTimeout(timer);
          admitted++;
          last = Math.max(last, x.firstByteAt);
          firstBytes.push(x.firstByteAt - x.connectAt);
          settled();
        },
        (x) => {
          if (over) return;
          over = true;
          clearTimeout(timer);
          failed++;
          last = Math.max(last, monoMs());
          firstFailure ??= x.error || "closed before any audio";
          settled();
        },
      );
      const timer = setTimeout(() => l.bytes === 0 && l.fail(`no audio within ${m.timeoutMs} ms`), m.timeoutMs);
      listeners.push(l);
    };
    for (let i = 0; i < Math.min(m.inFlight, m.n); i++) start();
  });
}

let windowCpu = process.cpuUsage();
let windowReads = 0;
const windowBytes = new Map<Listener, number>();

process.on("message", (m: ToListeners) => {
  switch (m.type) {
    case "frames": {
      const now = monoMs();
      for (const f of m.frames) {
        const s = { t: f.t, dup: f.dup };
        sent.delete(f.key); // keeps the map in send order, for the pruning below
        sent.set(f.key, s);
        const waiting = pending.get(f.key);
        if (waiting) {
          pending.delete(f.key);
          for (const w of waiting) account(s, w.at, w.counted);
        }
      }
      for (const [key, s] of sent) {
        if (now - s.t < 60_000) break;
        sent.delete(key);
      }
      for (const [key, list] of pending) {
        if (now - (list[0]?.at ?? now) < PENDING_MS) continue;
        pending.delete(key);
        if (win) win.unmatched += list.length;
      }
      return;
    }
    case "ramp":
      void ramp(m).then((result) => reply({ type: "ramped", result }));
      return;
    case "window-start": {
      win = { t0: m.t, t1: Infinity, hist: new LatencyHistogram(LATENCY_BUCKET_MS, LATENCY_MAX_MS), received: 0, unmatched: 0 };
      windowBytes.clear();
      for (const l of listeners) {
        if (l.state !== "body") continue;
        l.inWindow = true;
        windowBytes.set(l, l.bytes);
      }
      windowCpu = process.cpuUsage();
      windowReads = reads;
      return;
    }
    case "window-end": {
      const w = win;
      if (!w) return;
      w.t1 = m.t;
      let bytesInWindow = 0;
      for (const [l, b] of windowBytes) bytesInWindow += l.bytes - b;
      const cpu = process.cpuUsage(windowCpu);
      const r = reads - windowReads;
      setTimeout(() => {
        let framesSent = 0;
        for (const s of sent.values()) if (!s.dup && s.t >= w.t0 && s.t <= w.t1) framesSent++;
        let closedInWindow = 0;
        for (const l of windowBytes.keys()) if (l.state === "closed" && l.closedAt <= w.t1) closedInWindow++;
        const result: WindowResult = {
          open: windowBytes.size, closedInWindow, framesSent, framesReceived: w.received, bytesInWindow, unmatchedFrames: w.unmatched,
          latency: w.hist.data(), selfCpuSec: (cpu.user + cpu.system) / 1e6, reads: r,
        };
        for (const l of listeners) l.inWindow = false;
        win = null;
        reply({ type: "window", result });
      }, m.graceMs);
      return;
    }
    case "close": {
      for (const l of listeners) l.socket.destroy();
      listeners = [];
      setTimeout(() => reply({ type: "closed" }), 200);
      return;
    }
  }
});

process.on("disconnect", () => process.exit(0));
reply({ type: "ready" });
