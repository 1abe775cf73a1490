/**
 * A broadcast from the browser: {@link AudioSource} (microphone or file) → AudioWorklet
 * "veza-capture" (level meter; 20 ms frames for WebCodecs) → encoder → {@link PublishConnection}.
 *
 * Graph: source → capture → muted gain → destination (keeps the capture node pulled), and for
 * MediaRecorder also source → MediaStreamAudioDestinationNode → MediaRecorder.
 */
import type { ErrorMessage } from "../../media/wire/control";
import { MEDIA_CLOCK_HZ } from "../../media/wire/constants";
import type { AuthEvent } from "../core/auth";
import { Emitter } from "../core/emitter";
import { PublishConnection, type PublishState } from "../core/publish-connection";
import type { BroadcasterStats, EncoderKind } from "../core/stats";
import type { CaptureOut, CaptureProcessorOptions } from "../worklets/capture-processor";
import { openSource, type AudioSource, type SourceChoice } from "./audio-source";
import { MediaRecorderWebmEncoder, pickEncoder, WebCodecsOpusEncoder } from "./frame-encoder";

export type { BroadcasterStats };

export interface LiveBroadcasterOptions {
  /** Gateway base URL (http(s)://host:port); default the page's origin. */
  baseUrl?: string;
  streamId: string;
  /** URL of the bundled capture worklet. */
  workletUrl: string;
  /** Force an encoder (tests, or `?encoder=mediarecorder`). */
  encoder?: EncoderKind;
}

export interface LiveBroadcasterEvents {
  stats: BroadcasterStats;
  /** An error from the server (code from the catalogue) or from the browser (code BROWSER). */
  error: ErrorMessage;
  /** The token is expiring, a new one was sent, or the server accepted it. */
  auth: AuthEvent;
}

export class LiveBroadcaster extends Emitter<LiveBroadcasterEvents> {
  private publish: PublishConnection | null = null;
  private ctx: AudioContext | null = null;
  private source: AudioSource | null = null;
  private capture: AudioWorkletNode | null = null;
  private opus: WebCodecsOpusEncoder | null = null;
  private webm: MediaRecorderWebmEncoder | null = null;
  private encoderKind: EncoderKind | null = null;
  private level = { rms: 0, peak: 0 };
  private capturedSamples = 0;
  /** The counters of the last broadcast, kept after it ends (per broadcast, like capturedSamples). */
  private lastCounters = { encoded: 0, messagesSent: 0, bytesSent: 0, dropped: 0 };
  /** State of the last broadcast once it is over (stopped, or failed with the server's reason). */
  private ended: PublishState = { state: "idle" };
  /** The token for the next broadcast (`?token=` on the socket URL); "" for none. */
  private token = "";

  constructor(private readonly o: LiveBroadcasterOptions) {
    super();
  }

  /** Opens the source, connects and sends stream.start. @throws on refusal or a source error. */
  async goLive(choice: SourceChoice, title: string): Promise<void> {
    if (this.publish) throw new Error("already on air");
    this.capturedSamples = 0;
    this.lastCounters = { encoded: 0, messagesSent: 0, bytesSent: 0, dropped: 0 };
    try {
      const kind = (this.encoderKind = await pickEncoder(this.o.encoder));
      const ctx = (this.ctx = new AudioContext({ sampleRate: MEDIA_CLOCK_HZ }));
      await ctx.audioWorklet.addModule(this.o.workletUrl);
      await ctx.resume();
      const source = (this.source = await openSource(ctx, choice));
      const processorOptions: CaptureProcessorOptions = { frames: kind === "webcodecs" };
      const capture = (this.capture = new AudioWorkletNode(ctx, "veza-capture", { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 2, channelCountMode: "explicit", processorOptions }));
      const mute = ctx.createGain();
      mute.gain.value = 0;
      source.node.connect(capture).connect(mute).connect(ctx.destination);
      const publish = (this.publish = new PublishConnection({ baseUrl: this.o.baseUrl ?? location.origin, streamId: this.o.streamId, format: kind === "webcodecs" ? "opus" : "webm", title, token: this.token }));
      if (kind === "webcodecs") {
        this.opus = new WebCodecsOpusEncoder((packet, duration) => publish.sendOpus(packet, duration), (err) => this.browserError(err));
      } else {
        const dest = ctx.createMediaStreamDestination();
        source.node.connect(dest);
        this.webm = new MediaRecorderWebmEncoder(dest.stream, (bytes) => publish.sendBytes(bytes), (err) => this.browserError(err));
      }
      capture.port.onmessage = (ev: MessageEvent<CaptureOut>) => this.onCapture(ev.data);
      source.onEnded = () => void this.stop();
      publish.on("started", () => this.webm?.restart());
      publish.on("error", (e) => this.emit("error", e));
      publish.on("auth", (e) => this.emit("auth", e));
      publish.on("state", (s) => {
        // closed for good (refused, or ended by the server while live): release the source at once,
        // so the page can go live again
        if (s.state === "failed" && this.publish === publish) void this.stop();
        else this.emitStats();
      });
      publish.on("status", () => this.emitStats());
      await publish.start();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code !== "string") this.browserError(err);
      await this.stop();
      throw err;
    }
  }

  /** Sets the token the next {@link goLive} (and its reconnections) sends; "" for none. */
  setToken(token: string): void {
    this.token = token.trim();
  }

  /**
   * Sends `token` to the server now (`auth.refresh`) while on air, and keeps it for reconnections
   * and the next broadcast. Resolves to whether it went out; the `auth` event says if it was taken.
   */
  async refreshToken(token: string): Promise<boolean> {
    this.setToken(token);
    return (await this.publish?.refreshToken(this.token)) ?? false;
  }

  /** Sends a new title (now-playing metadata). */
  updateTitle(title: string, metadata?: Record<string, string>): void {
    this.publish?.sendMetadata(title, metadata);
  }

  /** Ends the stream, releases the microphone or file and the audio context. */
  async stop(): Promise<void> {
    const publish = this.publish;
    this.publish = null;
    if (publish) {
      this.lastCounters = this.counters(publish);
      const last = publish.state;
      publish.stop();
      this.ended = last.state === "failed" ? last : { state: "stopped" };
    }
    this.opus?.close();
    this.webm?.close();
    this.opus = this.webm = null;
    this.source?.stop();
    this.source = null;
    this.capture?.disconnect();
    this.capture = null;
    const ctx = this.ctx;
    this.ctx = null;
    if (ctx && ctx.state !== "closed") await ctx.close();
    this.level = { rms: 0, peak: 0 };
    this.emitStats();
  }

  stats(): BroadcasterStats {
    const p = this.publish;
    return {
      state: p?.state ?? this.ended,
      encoder: this.encoderKind,
      source: this.source?.label ?? null,
      listeners: p?.info?.listeners ?? 0,
      ...(p ? this.counters(p) : this.lastCounters),
      capturedMs: (this.capturedSamples * 1000) / MEDIA_CLOCK_HZ,
      rms: this.level.rms,
      peak: this.level.peak,
    };
  }

  /** The counters of the broadcast on `publish` so far. */
  private counters(publish: PublishConnection): typeof this.lastCounters {
    const { messagesSent, bytesSent, dropped } = publish.counters;
    return { encoded: this.opus?.packets ?? this.webm?.packets ?? 0, messagesSent, bytesSent, dropped };
  }

  private onCapture(msg: CaptureOut): void {
    if (msg.type === "level") {
      this.level = { rms: msg.rms, peak: msg.peak };
      if (this.webm && this.publish?.isLive) this.capturedSamples += msg.samples;
      this.emitStats();
      return;
    }
    if (!this.publish?.isLive) return;
    this.capturedSamples += msg.planes[0]?.length ?? 0;
    this.opus?.encode(msg.planes);
  }

  private browserError(err: unknown): void {
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.emit("error", { type: "error", code: "BROWSER", message });
  }

  private emitStats(): void {
    this.emit("stats", this.stats());
  }
}
