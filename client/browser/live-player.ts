/**
 * A live player: {@link ListenConnection} (reconnects with backoff) → {@link FrameDecoder}
 * (WebCodecs or WebAssembly) → {@link AudioOutput} (jitter buffer in an AudioWorklet). Each new
 * socket resets the decoder and the jitter buffer, so a reconnect starts again at the live edge.
 *
 * Live delay, as shown: the time from a frame's arrival in the page (the WebSocket message) to its
 * playout at the speaker = decoding + the wait in the jitter buffer (measured per frame in the
 * worklet) + the AudioContext's baseLatency + outputLatency. It leaves out the network and the
 * server, which the page cannot see without a shared clock.
 */
import type { ServerMessage, StreamInfo } from "../../media/wire/control";
import type { DecoderKind, PlayerStats } from "../core/stats";
import { Emitter } from "../core/emitter";
import { ListenConnection } from "../core/listen-connection";
import type { PlayerReport } from "../worklets/player-processor";
import { AudioOutput } from "./audio-output";
import { createFrameDecoder, type FrameDecoder } from "./frame-decoder";

export type { PlayerStats };

export interface LivePlayerOptions {
  /** Gateway base URL (http(s)://host:port); default the page's origin. */
  baseUrl?: string;
  streamId: string;
  /** URL of the bundled player worklet. */
  workletUrl: string;
  decoder?: DecoderKind;
  /** Jitter buffer target, ms. Default 60. */
  targetMs?: number;
}

export interface LivePlayerEvents {
  stats: PlayerStats;
  message: ServerMessage;
  error: Error;
}

export class LivePlayer extends Emitter<LivePlayerEvents> {
  readonly connection: ListenConnection;
  private output: AudioOutput | null = null;
  private decoder: FrameDecoder | null = null;
  private stream: StreamInfo | null = null;
  private report: PlayerReport | null = null;
  private bufferDelayMs: number | null = null;
  private ready: Promise<void> | null = null;

  constructor(private readonly o: LivePlayerOptions) {
    super();
    this.connection = new ListenConnection({ baseUrl: o.baseUrl ?? location.origin, streamId: o.streamId });
    this.connection.on("message", (m) => this.onMessage(m));
    this.connection.on("state", (s) => {
      if (s.state === "open") this.toLiveEdge();
      this.emit("stats", this.stats());
    });
    this.connection.on("frame", ({ frame, arrivalMs }) => {
      if (this.output?.running) this.decoder?.decode(frame, arrivalMs);
    });
  }

  /** Connects (status and metadata start flowing) and builds the audio graph and decoder. */
  start(): Promise<void> {
    this.ready ??= (async () => {
      this.connection.start();
      this.output = await AudioOutput.create({ workletUrl: this.o.workletUrl, targetMs: this.o.targetMs });
      this.output.onReport = (r) => {
        this.report = r;
        if (r.delayMs !== null) this.bufferDelayMs = r.delayMs;
        this.emit("stats", this.stats());
      };
      this.decoder = await createFrameDecoder({
        channels: this.connection.hello?.channels === 1 ? 1 : 2,
        prefer: this.o.decoder,
        onPcm: ({ planes, arrivalMs }) => this.output?.push(planes, performance.now() - arrivalMs),
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
    if (running && !wasRunning) this.toLiveEdge();
    this.emit("stats", this.stats());
    return running;
  }

  /** Stops audio; the connection stays open for status and metadata. */
  async pause(): Promise<void> {
    await this.output?.suspend();
    this.emit("stats", this.stats());
  }

  setVolume(volume: number): void {
    this.output?.setVolume(volume);
  }

  /** Closes the socket and the audio context. */
  async close(): Promise<void> {
    this.connection.stop();
    this.decoder?.close();
    await this.output?.close();
  }

  stats(): PlayerStats {
    const c = this.connection.counters;
    const r = this.report;
    const outputLatencyMs = this.output?.outputLatencyMs ?? 0;
    return {
      connection: this.connection.state,
      stream: this.stream,
      audio: (this.output?.ctx.state as PlayerStats["audio"] | undefined) ?? "none",
      decoder: this.decoder?.kind ?? null,
      framesReceived: c.framesReceived,
      framesDecoded: this.decoder?.decoded ?? 0,
      decodeErrors: this.decoder?.errors ?? 0,
      reconnects: c.reconnects,
      seqGaps: c.seqGaps,
      buffer: r?.state ?? null,
      depthMs: r?.depthMs ?? null,
      marginMs: r?.marginMs ?? null,
      underruns: r?.underruns ?? 0,
      droppedMs: r?.droppedMs ?? 0,
      bufferDelayMs: this.bufferDelayMs,
      outputLatencyMs,
      liveDelayMs: this.bufferDelayMs === null ? null : this.bufferDelayMs + outputLatencyMs,
      rms: r?.rms ?? 0,
      peak: r?.peak ?? 0,
      renderedRms: this.output?.renderedRms() ?? 0,
    };
  }

  /** A new socket, or audio (re)started: drop what is buffered and decode from the next frame. */
  private toLiveEdge(): void {
    this.decoder?.reset();
    this.output?.reset();
    this.bufferDelayMs = null;
  }

  private onMessage(m: ServerMessage): void {
    if (m.type === "stream.status") this.stream = { ...m };
    else if (m.type === "stream.metadata" && this.stream) this.stream = { ...this.stream, title: m.title, metadata: m.metadata };
    this.emit("message", m);
    this.emit("stats", this.stats());
  }
}
