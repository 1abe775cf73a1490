/**
 * IPC messages between the bench orchestrator (index.ts) and the load process (load.ts), sent
 * over the Node IPC channel with `serialization: "advanced"` (so Buffers cross as they are).
 *
 * Sequence: init → broadcasting → (connect → connected) × 1 or 2 → window-start → window-started →
 * window-stop → result. Either side may send `fatal` / be killed; the load process exits when the
 * channel closes.
 */
import type { LatencySummary } from "../histogram";

/** Orchestrator → load process. */
export type ToLoad =
  | {
      type: "init";
      port: number;
      streamId: string;
      /** The broadcaster's publish token for the stream. */
      token: string;
      listeners: number;
      /** Listeners connected at a time. */
      batch: number;
      /** The Opus packets to loop, each with a unique key. */
      packets: Buffer[];
      /** Frame duration, ms. */
      frameMs: number;
    }
  /** Connect `count` more listeners. */
  | { type: "connect"; count: number }
  | { type: "window-start" }
  /** End the measured window; keep counting frames sent inside it for `graceMs`, then report. */
  | { type: "window-stop"; graceMs: number };

/** Load process → orchestrator. */
export type FromLoad =
  | { type: "broadcasting"; startedReply: string }
  /** After a connect: listeners open in total, failures in total, time this connect took. */
  | { type: "connected"; connected: number; failed: number; elapsedMs: number; firstFailure: string | null }
  | { type: "window-started" }
  | { type: "result"; result: LoadResult }
  | { type: "fatal"; message: string };

/** What the load process measured over the window. */
export interface LoadResult {
  /** Window length on the load process clock, ms. */
  windowMs: number;
  /** Frames the broadcaster sent inside the window. */
  sentInWindow: number;
  /** Listeners open when the window started. */
  listenersAtStart: number;
  /** Listeners still open when the window ended. */
  listenersAtEnd: number;
  /** Frames sent in the window and received by a listener before the grace period ended. */
  received: number;
  /** received / (sentInWindow × listenersAtStart). */
  deliveredFraction: number;
  /** Binary messages whose packet key matched no sent packet (should be 0). */
  unmatched: number;
  /** Binary messages that are not audio.data v1 (should be 0). */
  badFrames: number;
  /** Sum over listeners of holes in the server-stamped sequence numbers, whole run. */
  seqGaps: number;
  /** Receive time − send time of every frame received, over all listeners. */
  latency: LatencySummary;
  /** The same for the first listener to receive each frame: the server's delay without the fan-out spread. */
  firstListenerLatency: LatencySummary;
  /** Binary messages per socket read over the window (above 1 when the server batches writes). */
  messagesPerRead: number;
  /** Close codes seen by listeners over the whole run: code → count and first reason. */
  closes: Record<string, { count: number; reason: string }>;
  /** CPU used by the load process over the window, % of one core (user + system). */
  loadCpuPct: number;
  /** The part of loadCpuPct spent in the kernel (socket reads and writes), % of one core. */
  loadSystemCpuPct: number;
  /** Event-loop delay of the load process over the window (perf_hooks, 1 ms resolution): p99 and max, ms. */
  loadLoopDelayP99Ms: number;
  loadLoopDelayMaxMs: number;
  /** Largest lateness of the broadcaster's send timer over the window, ms. */
  maxSendLateMs: number;
}
