/** Messages between the orchestrator (index.ts) and a listener process (listeners.ts), over IPC. */
import type { HistogramData } from "../histogram";

/** Latency histogram of the listener processes: 0.1 ms buckets up to 10 s (merged by the orchestrator). */
export const LATENCY_BUCKET_MS = 0.1;
export const LATENCY_MAX_MS = 10_000;

/** Orchestrator → listener process. Times are CLOCK_MONOTONIC in ms ({@link monoMs}), the same in every process. */
export type ToListeners =
  /** The source wrote frame `key` at `t`; `dup` when the same key was sent within the last minute (ambiguous). */
  | { type: "frames"; frames: Array<{ key: number; t: number; dup: boolean }> }
  /** Connects `n` listeners to http://127.0.0.1:port/path, at most `inFlight` waiting for their first audio byte at a time; answers `ramped`. */
  | { type: "ramp"; port: number; path: string; httpVersion: "1.0" | "1.1"; n: number; inFlight: number; timeoutMs: number }
  | { type: "window-start"; t: number }
  /** Ends the window at `t`; answers `window` once frames sent before `t` had `graceMs` to arrive. */
  | { type: "window-end"; t: number; graceMs: number }
  /** Closes every listener; answers `closed`. */
  | { type: "close" };

export interface RampResult {
  admitted: number;
  failed: number;
  firstFailure: string | null;
  /** From the first connect to the last listener's first audio byte, ms. */
  rampMs: number;
  /** Time to first audio byte per listener (connect → first body byte), ms: p50, p99, max. */
  firstByteMs: { p50: number; p99: number; max: number };
}

export interface WindowResult {
  /** Listeners receiving at the window's start. */
  open: number;
  /** Of those, closed before the window's end. */
  closedInWindow: number;
  /** Frames (unambiguous keys) the source sent inside the window. */
  framesSent: number;
  /** (frame, listener) pairs of those frames received before the grace ended, listeners open at the start. */
  framesReceived: number;
  /** Body bytes received inside the window by the listeners open at its start. */
  bytesInWindow: number;
  /** Frames whose key matched nothing the source sent (false syncs, ambiguous keys). */
  unmatchedFrames: number;
  latency: HistogramData;
  /** This process's CPU over the window (process.cpuUsage), s, and its event loop's worst delay, ms. */
  selfCpuSec: number;
  reads: number;
}

export type FromListeners =
  | { type: "ready" }
  | { type: "ramped"; result: RampResult }
  | { type: "window"; result: WindowResult }
  | { type: "closed" };

const OFFSET_MS = Number(process.hrtime.bigint()) / 1e6 - performance.now();

/** CLOCK_MONOTONIC in ms (process.hrtime), comparable across processes on the machine, read via performance.now(). */
export function monoMs(): number {
  return OFFSET_MS + performance.now();
}
