/**
 * A live player: {@link ListenConnection} (reconnects with backoff) → {@link FrameDecoder}
 * (WebCodecs or WebAssembly) → {@link AudioOutput} (an AudioWorklet).
 *
 * Playout modes:
 *  - "sync" (the default): synchronised playout. {@link SyncClock} keeps the page's clock synced
 *    to cluster time (clock.ping/pong) and the audio device's clock fitted (getOutputTimestamp);
 *    the worklet plays each sample at the cluster time the stream's sync ticks give, following by
 *    resampling (client/core/sync-playout.ts). All listeners of a stream, on any gateway, hear the
 *    same sample at the same moment; the live delay is the stream's playout delay.
 *  - "buffer": the adaptive jitter buffer (client/core/jitter-buffer.ts), lowest delay, no sync.
 *    Used with `sync: false`, or when no sync.tick came within 1.5 s of the first frame (a server
 *    without ticks); a later tick switches back to sync.
 *
 * Each new socket resets the decoder and the buffered media, so a reconnect starts again at the
 * live edge (in sync mode, at the sample the schedule asks for).
 */
import type { SyncTick } from "../../media/clock/playout";
import type { ServerMessage, StreamInfo } from "../../media/wire/control";
import type { DecoderKind, PlayerStats } from "../core/stats";
import type { TokenSource } from "../core/auth";
import { Emitter } from "../core/emitter";
import { ListenConnection } from "../core/listen-connection";
import type { PlayerReport, PlayoutMode } from "../worklets/player-processor";
import { AudioOutput } from "./audio-output";
import { createFrameDecoder, type FrameDecoder } from "./frame-decoder";
import { SyncClock, type SyncClockOptions } from "./sync-clock";

export type { PlayerStats };

/** Without a sync.tick this long after a socket's first frame, the player falls back to the jitter buffer, ms. */
const TICK_WAIT_MS = 1500;
/** A live delay measured longer ago than this is not shown (no frame has been heard since), ms. */
const DELAY_FRESH_MS = 1000;
/** Trace pairs kept (10 min of 20 ms frames). */
const MAX_TRACE_PAIRS = 30_000;

export interface LivePlayerOptions extends SyncClockOptions {
  /** Gateway base URL (http(s)://host:port); default the page's origin. */
  baseUrl?: string;
  streamId: string;
  /** URL of the bundled player worklet. */
  workletUrl: string;
  decoder?: DecoderKind;
  /** Jitter buffer target, ms (buffer mode). Default 60. */
  targetMs?: number;
  /** Synchronised playout when the stream sends sync ticks. Default true. */
  sync?: boolean;
  /** Record when each frame starts sounding ({@link LivePlayer.trace}), for measurements. Default false. */
  trace?: boolean;
  /** The listener's token (`?token=` on the socket URL), for a node with `LISTEN_AUTH=token`. */
  token?: TokenSource;
  /** `auto` (default: the gateway adapts it to the link) or a rendition id (`?rendition=`). */
  rendition?: "auto" | number;
}

export interface LivePlayerEvents {
  stats: PlayerStats;
  message: ServerMessage;
  error: Error;
}

export class LivePlayer extends Emitter<LivePlayerEvents> {
  readonly connection: ListenConnection;
  /** The page's clock sync and audio clock; null with `sync: false`. */
  readonly clock: SyncClock | null;
  /**
   * With `trace`: flat pairs [media time (samples), context frame (fractional)]: the frame of the
   * AudioContext's timeline at which each frame's first sample is played (sync mode).
   */
  readonly trace: number[] = [];
  private output: AudioOutput | null = null;
  private decoder: FrameDecoder | null = null;
  private stream: StreamInfo | null = null;
  private report: PlayerReport | null = null;
  private bufferDelayMs: number | null = null;
  /** performance.now() when {@link bufferDelayMs} was last measured, ms. */
  private delayAtMs = 0;
  private ready: Promise<void> | null = null;
  private mode: PlayoutMode;
  private tickSeen = false;
  /** The socket's latest ticks (at most 4, by validFrom), given again to the worklet after a reset. */
  private ticks: SyncTick[] = [];
  private tickTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly o: LivePlayerOptions) {
    super();
    this.mode = o.sync === false ? "buffer" : "sync";
    this.connection = new ListenConnection({ baseUrl: o.baseUrl ?? location.origin, streamId: o.streamId, token: o.token, rendition: o.rendition });
    this.clock = o.sync === false ? null : new SyncClock(this.connection, (map) => this.output?.setClock(map), o);
    this.connection.on("message", (m) => this.onMessage(m));
    this.connection.on("state", (s) => {
      if (s.state === "open") this.toLiveEdge();
      this.emit("stats", this.stats());
    });
    this.connection.on("frame", ({ frame, arrivalMs }) => {
      if (!this.tickSeen && this.mode === "sync" && this.tickTimer === null) this.tickTimer = setTimeout(() => this.setMode("buffer"), TICK_WAIT_MS);
      if (this.output?.running) this.decoder?.decode(frame, arrivalMs);
    });
  }

  /** Connects (status and metadata start flowing) and builds the audio graph and decoder. */
  start(): Promise<void> {
    this.ready ??= (async () => {
      this.connection.start();
      const output = await AudioOutput.create({ workletUrl: this.o.workletUrl, targetMs: this.o.targetMs, mode: this.mode, trace: this.o.trace });
      this.output = output;
      this.clock?.attach(output.ctx);
      for (const tick of this.ticks) output.addTick(tick);
      output.onReport = (r) => this.onReport(r);
      this.decoder = await createFrameDecoder({
        channels: this.connection.hello?.channels === 1 ? 1 : 2,
        prefer: this.o.decoder,
        onPcm: ({ planes, mediaTime, arrivalMs }) => this.output?.push(planes, mediaTime, performance.now() - arrivalMs, this.clock?.clusterAt(arrivalMs) ?? null),
        onError: (err) => this.emit("error", err),
      });
    })();
    return this.ready;
  }

  /** Starts audio (call from a click where autoplay is blocked). Returns whether audio runs. */
  async play(): Promise<boolean> {
    await this.start();
    const output = this.output;
    if (!output) return false;
    const wasRunning = output.running;
    const running = await output.resume();
    if (running && !wasRunning) {
      // decoding stopped while suspended: start afresh (the ticks still hold); the device's
      // timeline stood still meanwhile, so its clock is fitted again
      this.clock?.attach(output.ctx);
      this.decoder?.reset();
      output.reset();
      for (const tick of this.ticks) output.addTick(tick);
      this.bufferDelayMs = null;
    }
    this.emit("stats", this.stats());
    return running;
  }

  /** Stops audio; the connection stays open for status and metadata. */
  async pause(): Promise<void> {
    await this.output?.suspend();
    this.emit("stats", this.stats());
  }

  /** Asks for rendition `r` (an id of `stats().renditions`) or `auto`; see {@link ListenConnection.selectRendition}. */
  selectRendition(r: "auto" | number): boolean {
    const sent = this.connection.selectRendition(r);
    this.emit("stats", this.stats());
    return sent;
  }

  setVolume(volume: number): void {
    this.output?.setVolume(volume);
  }

  /** The player's AudioContext, or null before {@link start} built it. */
  get audioContext(): AudioContext | null {
    return this.output?.ctx ?? null;
  }

  /** Closes the socket and the audio context. */
  async close(): Promise<void> {
    this.clock?.stop();
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.connection.stop();
    this.decoder?.close();
    await this.output?.close();
  }

  stats(): PlayerStats {
    const c = this.connection.counters;
    const r = this.report;
    const outputLatencyMs = this.output?.outputLatencyMs ?? 0;
    const common = {
      connection: this.connection.state,
      stream: this.stream,
      rendition: this.connection.rendition,
      renditionChoice: this.connection.renditionChoice,
      renditions: this.connection.hello?.renditions ?? [],
      audio: (this.output?.ctx.state as PlayerStats["audio"] | undefined) ?? "none",
      decoder: this.decoder?.kind ?? null,
      framesReceived: c.framesReceived,
      framesDecoded: this.decoder?.decoded ?? 0,
      decodeErrors: this.decoder?.errors ?? 0,
      reconnects: c.reconnects,
      seqGaps: c.seqGaps,
      outputLatencyMs,
      rms: r?.rms ?? 0,
      peak: r?.peak ?? 0,
      renderedRms: this.output?.renderedRms() ?? 0,
    };
    if (this.mode === "sync" && this.clock) {
      const s = r?.mode === "sync" ? r.sync : null;
      const { delayMs: _delay, chunksPlayed: _chunks, ...figures } = s ?? { ...WAITING, delayMs: null, chunksPlayed: 0 };
      return {
        ...common,
        playout: "sync",
        sync: { ...figures, ...this.clock.stats() },
        buffer: s ? (s.state === "playing" ? "playing" : "buffering") : null,
        depthMs: s?.leadMs ?? null,
        marginMs: null,
        underruns: s?.underruns ?? 0,
        droppedMs: 0,
        bufferDelayMs: null,
        liveDelayMs: this.freshDelayMs(),
      };
    }
    const b = r?.mode === "buffer" ? r.buffer : null;
    return {
      ...common,
      playout: "buffer",
      sync: null,
      buffer: b?.state ?? null,
      depthMs: b?.depthMs ?? null,
      marginMs: b?.marginMs ?? null,
      underruns: b?.underruns ?? 0,
      droppedMs: b?.droppedMs ?? 0,
      bufferDelayMs: this.freshDelayMs(),
      liveDelayMs: this.freshDelayMs() === null ? null : (this.bufferDelayMs ?? 0) + outputLatencyMs,
    };
  }

  /** The last measured delay (ms) if a frame was heard within {@link DELAY_FRESH_MS}, else null. */
  private freshDelayMs(): number | null {
    return this.bufferDelayMs !== null && performance.now() - this.delayAtMs <= DELAY_FRESH_MS ? this.bufferDelayMs : null;
  }

  private onReport(r: PlayerReport): void {
    if (r.mode !== this.mode) return; // from before a mode switch
    this.report = r;
    const delayMs = r.mode === "sync" ? r.sync.delayMs : r.buffer.delayMs;
    if (delayMs !== null) {
      this.bufferDelayMs = delayMs;
      this.delayAtMs = performance.now();
    }
    if (this.o.trace && r.trace?.length) {
      this.trace.push(...r.trace);
      if (this.trace.length > 2 * MAX_TRACE_PAIRS) this.trace.splice(0, this.trace.length - 2 * MAX_TRACE_PAIRS);
    }
    this.emit("stats", this.stats());
  }

  private setMode(mode: PlayoutMode): void {
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = null;
    if (mode === this.mode) return;
    this.mode = mode;
    this.report = null;
    this.bufferDelayMs = null;
    this.output?.setMode(mode);
    this.emit("stats", this.stats());
  }

  /** A new socket: drop what is buffered, and the ticks (the server sends its own after hello), and decode from the next frame. */
  private toLiveEdge(): void {
    this.decoder?.reset();
    this.output?.reset();
    this.bufferDelayMs = null;
    this.tickSeen = false;
    this.ticks = [];
  }

  private onMessage(m: ServerMessage): void {
    if (m.type === "sync.tick") {
      if (this.o.sync === false) return;
      const { type: _type, streamId: _id, ...tick } = m;
      this.ticks = [...this.ticks.filter((t) => t.validFrom !== tick.validFrom), tick].sort((a, b) => a.validFrom - b.validFrom).slice(-4);
      this.output?.addTick(tick);
      this.tickSeen = true;
      this.setMode("sync");
      return;
    }
    if (m.type === "stream.status") {
      this.stream = { ...m };
      if (m.state !== "live") this.bufferDelayMs = null; // nothing is live to be delayed
    }
    else if (m.type === "stream.metadata" && this.stream) this.stream = { ...this.stream, title: m.title, metadata: m.metadata };
    this.emit("message", m);
    this.emit("stats", this.stats());
  }
}

/** Sync figures before the worklet's first report. */
const WAITING = { state: "waiting", errorUs: null, maxErrorUs: null, correctionPpm: null, ratePpm: null, playoutDelayMs: null, leadMs: 0, samplesPlayed: 0, underruns: 0, resyncs: 0 } as const;
