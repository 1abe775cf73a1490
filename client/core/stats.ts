/**
 * What the player and broadcaster pages report (their `stats()`), as plain data: the pages show it,
 * tests read it through `window.vezaPlayer` / `window.vezaBroadcaster`. Times in ms, levels linear
 * 0..1 (RMS and peak of samples). No DOM types here, so Node code can import them.
 */
import type { StreamInfo } from "../../media/wire/control";
import type { Rendition } from "../../media/ladder";
import type { SyncPlayoutStats } from "./sync-playout";
import type { ListenState } from "./listen-connection";
import type { PublishState } from "./publish-connection";

/** Which Opus decoder a player uses. */
export type DecoderKind = "webcodecs" | "wasm";

/** Which encoder a broadcaster uses: WebCodecs (format opus) or MediaRecorder (format webm). */
export type EncoderKind = "webcodecs" | "mediarecorder";

/** The page's clock figures for synchronised playout (client/browser/sync-clock.ts). */
export interface SyncClockStats {
  /** Whether the device clock map is being given to the worklet (clock sync and audio clock ready). */
  ready: boolean;
  /** Clock offset: cluster time − client time now, ms. */
  offsetMs: number | null;
  /** Client clock against cluster time, ppm (cluster faster when positive). */
  clientDriftPpm: number | null;
  /** Audio device clock against the client clock, ppm (device frames longer than nominal when positive). */
  deviceDriftPpm: number | null;
  /** Smallest round trip of a clock exchange, ms. */
  minRttMs: number | null;
  /** Clock exchanges taken. */
  exchanges: number;
  /** Restarts of the audio clock fit (the device's timeline jumped). */
  audioClockRestarts: number;
}

/** Synchronised playout as the player reports it: the worklet's figures (last report) and the page's clock. */
export interface SyncStats extends Omit<SyncPlayoutStats, "delayMs" | "chunksPlayed">, SyncClockStats {}

export interface PlayerStats {
  connection: ListenState;
  /** The stream's latest public view (state, title, metadata, listeners); null before the first. */
  stream: StreamInfo | null;
  /** Rendition of the latest frame (hello's before the first); null before hello. */
  rendition: number | null;
  /** The listener's choice: `auto` (the gateway adapts the rendition to the link) or a fixed rendition id. */
  renditionChoice: "auto" | number;
  /** The renditions this listener can hear (hello), highest bit rate first. */
  renditions: Rendition[];
  /** The AudioContext's state ("running" when audio renders); "none" before it exists. */
  audio: "running" | "suspended" | "closed" | "interrupted" | "none";
  decoder: DecoderKind | null;
  framesReceived: number;
  framesDecoded: number;
  decodeErrors: number;
  reconnects: number;
  seqGaps: number;
  /**
   * "sync": synchronised playout, each sample at the cluster time the stream's sync ticks give;
   * "buffer": the adaptive jitter buffer (the stream sends no ticks, or the page asked `?sync=0`).
   */
  playout: "sync" | "buffer";
  /** Synchronised playout's figures; null in buffer mode. */
  sync: SyncStats | null;
  /**
   * "playing", or "buffering" (jitter buffer: filling to its target; sync: waiting for the clock
   * and a tick, or no media at the playout position); null before the first report.
   */
  buffer: "buffering" | "playing" | null;
  /** Audio held ahead of playout (sync: without a gap from the playout position). */
  depthMs: number | null;
  /** The jitter buffer's current margin (adapts upward after underruns); null in sync mode. */
  marginMs: number | null;
  underruns: number;
  /** Audio dropped to stay at the live edge (jitter buffer). */
  droppedMs: number;
  /** Arrival in the page → leaves the jitter buffer, mean over the last report (about 100 ms); null in sync mode. */
  bufferDelayMs: number | null;
  /** AudioContext baseLatency + outputLatency. */
  outputLatencyMs: number;
  /**
   * Arrival in the page → heard (the "live delay" shown). Jitter buffer: bufferDelayMs +
   * outputLatencyMs. Sync: measured per frame in cluster time (arrival through the clock sync,
   * heard through getOutputTimestamp), about the stream's playout delay minus the frame's way from
   * the stream's owner to the page.
   */
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
  /*
   * The counters below are per broadcast: each Go live starts them from 0, and they keep the last
   * broadcast's figures after it ends (Stop, or a refusal) until the next Go live.
   */
  /** Opus packets (WebCodecs) or WebM pieces (MediaRecorder) encoded. */
  encoded: number;
  /** Audio messages sent. */
  messagesSent: number;
  /** Bytes of audio messages sent. */
  bytesSent: number;
  /** Audio messages dropped (socket not live or backed up). */
  dropped: number;
  /** Audio captured while live, ms. */
  capturedMs: number;
  rms: number;
  peak: number;
}
