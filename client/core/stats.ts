/**
 * What the player and broadcaster pages report (their `stats()`), as plain data: the pages show it,
 * tests read it through `window.vezaPlayer` / `window.vezaBroadcaster`. Times in ms, levels linear
 * 0..1 (RMS and peak of samples). No DOM types here, so Node code can import them.
 */
import type { StreamInfo } from "../../media/wire/control";
import type { ListenState } from "./listen-connection";
import type { PublishState } from "./publish-connection";

/** Which Opus decoder a player uses. */
export type DecoderKind = "webcodecs" | "wasm";

/** Which encoder a broadcaster uses: WebCodecs (format opus) or MediaRecorder (format webm). */
export type EncoderKind = "webcodecs" | "mediarecorder";

export interface PlayerStats {
  connection: ListenState;
  /** The stream's latest public view (state, title, metadata, listeners); null before the first. */
  stream: StreamInfo | null;
  /** The AudioContext's state ("running" when audio renders); "none" before it exists. */
  audio: "running" | "suspended" | "closed" | "interrupted" | "none";
  decoder: DecoderKind | null;
  framesReceived: number;
  framesDecoded: number;
  decodeErrors: number;
  reconnects: number;
  seqGaps: number;
  /** Jitter buffer: "playing", or "buffering" (filling to its target); null before the first report. */
  buffer: "buffering" | "playing" | null;
  depthMs: number | null;
  /** The jitter buffer's current margin (adapts upward after underruns). */
  marginMs: number | null;
  underruns: number;
  /** Audio dropped to stay at the live edge. */
  droppedMs: number;
  /** Arrival in the page → leaves the jitter buffer, mean over the last report (about 100 ms). */
  bufferDelayMs: number | null;
  /** AudioContext baseLatency + outputLatency. */
  outputLatencyMs: number;
  /** bufferDelayMs + outputLatencyMs: arrival in the page → playout (the "live delay" shown). */
  liveDelayMs: number | null;
  /** Level the worklet rendered (before the volume), over the last report. */
  rms: number;
  peak: number;
  /** Level after the volume, from the AnalyserNode (last 2048 samples). */
  renderedRms: number;
}

export interface BroadcasterStats {
  state: PublishState;
  encoder: EncoderKind | null;
  /** "Microphone: …" or "File: …"; null when off air. */
  source: string | null;
  listeners: number;
  /** Opus packets (WebCodecs) or WebM pieces (MediaRecorder) encoded. */
  encoded: number;
  messagesSent: number;
  bytesSent: number;
  /** Audio messages dropped (socket not live or backed up). */
  dropped: number;
  /** Audio captured while live. */
  capturedMs: number;
  rms: number;
  peak: number;
}
