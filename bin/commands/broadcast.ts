/**
 * `veza-stream broadcast <file|-> --stream ID`: reads any audio ffmpeg can read, in real time
 * (`-re`), and pushes it to a gateway. Default `--send opus`: encodes to Opus here and sends
 * audio.data frames (the server passes them through). `--send ogg|mp3|webm|wav`: sends the
 * container bytes as they are (`-c copy` where the codec allows) for the server's encoder.
 * Also used by `start --demo` and by tests, through {@link Broadcast}.
 *
 * The token (`--token`, VEZA_TOKEN) goes in the upgrade's `Authorization: Bearer` header. When the
 * server says it is expiring (`auth.expiring`), a token function (e.g. `start --demo`, which can
 * mint) is asked for a new one, sent as `auth.refresh`; a fixed token cannot be renewed here, and
 * the `auth` event lets the command warn when the server will end the broadcast.
 */
import { EventEmitter } from "node:events";
import { opus } from "prism-media";
import type { Logger } from "pino";
import WebSocket from "ws";
import { asAuthMessage, resolveToken, type AuthEvent, type AuthMessage, type TokenSource } from "../../client/core/auth";
import { Backoff } from "../../client/core/backoff";
import { createResumer, type IngestResumer } from "../../media/ingest/resume";
import { opusPacketInfo } from "../../media/opus/packet";
import { encodeAudioData } from "../../media/wire";
import type { IngestFormat, ServerMessage } from "../../media/wire/control";
import { FfmpegProcess, type FfmpegGeneration } from "../../transports/ffmpeg/ffmpeg-process";
import { closeFailure, ConnectionFailure, errorMessageFailure } from "./failure";
import { openSocket } from "./handshake";

export interface BroadcastOptions {
  /** Gateway base URL, e.g. ws://127.0.0.1:8080, or several to fail over between. */
  url: string | string[];
  /** Reconnect after a lost connection (see {@link Broadcast}). Default false. */
  reconnect?: boolean;
  streamId: string;
  /** File path, or `-` for stdin, or (with `inputFormat: "lavfi"`) a filter graph. */
  input: string;
  /** ffmpeg input format (`-f`), e.g. `lavfi` for a generated source; default: ffmpeg probes. */
  inputFormat?: string;
  send: Exclude<IngestFormat, "pcm_s16le" | "aac" | "flac" | "mpegts">;
  loop?: boolean;
  /** Start this many seconds into the input. */
  startSeconds?: number;
  title?: string;
  /** Ask the node to record the broadcast (stream.start `record`). */
  record?: boolean;
  bitrate?: number;
  ffmpegPath: string;
  log: Logger;
  /**
   * The broadcaster's token (a `publish` scope on the stream), sent as `Authorization: Bearer`; a
   * function is asked before each connection and when the server says the token is expiring.
   */
  token?: TokenSource;
}

/** ffmpeg output arguments for each way of sending. */
function outputArgs(send: BroadcastOptions["send"], bitrate: number): string[] {
  switch (send) {
    case "opus":
      return ["-vn", "-c:a", "libopus", "-b:a", String(bitrate), "-frame_duration", "20", "-ar", "48000", "-ac", "2", "-f", "ogg", "-page_duration", "20000", "-flush_packets", "1"];
    case "ogg":
      return ["-vn", "-c:a", "copy", "-f", "ogg", "-page_duration", "20000", "-flush_packets", "1"];
    case "mp3":
      return ["-vn", "-c:a", "copy", "-f", "mp3", "-flush_packets", "1"];
    case "webm":
      return ["-vn", "-c:a", "libopus", "-b:a", String(bitrate), "-f", "webm", "-cluster_time_limit", "100", "-flush_packets", "1"];
    case "wav":
      return ["-vn", "-c:a", "pcm_s16le", "-f", "wav", "-flush_packets", "1"];
  }
}

/** Backoff between attempts, ms: 100, 200, 400, … up to 2000, each drawn from [d/2, d]. */
const BACKOFF = { baseMs: 100, capMs: 2000, factor: 2 } as const;

/** What a `retry` event carries: why the last attempt failed, the wait, the URL tried next. */
export interface RetryInfo {
  failure: ConnectionFailure;
  delayMs: number;
  url: string;
  attempt: number;
}

/**
 * One broadcast. Events: `started` (the server's stream.started message), `message` (any server
 * text message), `auth` ({@link AuthEvent}: the token is expiring, was renewed, …), `lost` (ConnectionFailure: the connection on air was lost, reconnecting; logged
 * as a warning when nobody listens), `retry` ({@link RetryInfo}: an attempt failed and another follows),
 * `reconnected` (after a lost connection was replaced), `close` (code, reason, ConnectionFailure:
 * for good), `end` (input finished), `error` (ffmpeg failed: FfmpegError).
 *
 * With `reconnect`, the first connection and a lost one are retried against every URL in turn,
 * with exponential backoff and jitter ({@link Backoff}), as long as the failure is retryable
 * (failure.ts: NO_WORKER, OWNER_LOST, connection refused, …); ffmpeg keeps running meanwhile and
 * container headers are replayed so the server's encoder can start again (media/ingest/resume.ts).
 * Final failures (STREAM_ENDED after an operator's stop, BAD_STREAM_ID, BROADCASTER_EXISTS for a
 * fresh broadcast, a refused token: UNAUTHORIZED, TOKEN_EXPIRED, FORBIDDEN, …) are never retried;
 * RATE_LIMITED is, after the server's Retry-After.
 */
export class Broadcast extends EventEmitter {
  private ws: WebSocket | null = null;
  private ffmpeg: FfmpegProcess | null = null;
  private readonly urls: string[];
  private urlIndex = 0;
  private stopped = false;
  private wake: (() => void) | null = null;
  private readonly resumer: IngestResumer | null;
  private seq = 0;
  private mediaTime = 0;
  framesSent = 0;
  bytesSent = 0;
  reconnects = 0;
  /** Session id the server gave the current connection (sent as `resume` when reconnecting). */
  sessionId: string | null = null;
  private token: TokenSource | undefined;

  constructor(private readonly o: BroadcastOptions) {
    super();
    this.token = o.token;
    this.urls = Array.isArray(o.url) ? o.url : [o.url];
    this.resumer = o.send === "opus" ? null : createResumer(o.send);
  }

  /**
   * Connects (retrying retryable failures when `reconnect` is set), sends stream.start, waits for
   * stream.started, then starts ffmpeg.
   * @throws ConnectionFailure (with the server's `code`, e.g. BROADCASTER_EXISTS) when refused for good.
   */
  async start(): Promise<void> {
    this.ws = await this.connectWithRetry(true);
    this.startFfmpeg();
  }

  private currentUrl(): string {
    return (this.urls[this.urlIndex % this.urls.length] ?? "").replace(/\/$/, "");
  }

  /** Attempts until one succeeds, a failure is final, or the broadcast is stopped. */
  private async connectWithRetry(fresh: boolean): Promise<WebSocket> {
    const backoff = new Backoff(BACKOFF);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.connect(fresh);
      } catch (err) {
        const failure = err instanceof ConnectionFailure ? err : new ConnectionFailure("INTERNAL", String(err), false);
        if (this.stopped || !this.o.reconnect || !failure.retryable) throw failure;
        const delayMs = Math.max(backoff.next(), failure.retryAfterMs ?? 0);
        this.urlIndex++;
        this.emit("retry", { failure, delayMs, url: this.currentUrl(), attempt } satisfies RetryInfo);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          this.wake = () => (clearTimeout(timer), resolve());
        });
        this.wake = null;
        if (this.stopped) throw failure;
      }
    }
  }

  /** One connection up to stream.started. @throws ConnectionFailure when refused or closed first. */
  private async connect(fresh: boolean): Promise<WebSocket> {
    let token: string | undefined;
    try {
      token = await resolveToken(this.token);
    } catch (err) {
      throw new ConnectionFailure("TOKEN_UNAVAILABLE", `the token function failed: ${err instanceof Error ? err.message : String(err)}`, false);
    }
    const { ws, opened } = openSocket(`${this.currentUrl()}/ws/publish/${encodeURIComponent(this.o.streamId)}`, { token });
    let lastError: { code: string; message: string } | null = null;
    const started = new Promise<void>((resolve, reject) => {
      ws.on("message", (data, isBinary) => {
        if (isBinary) return;
        let msg: ServerMessage;
        try {
          msg = JSON.parse(data.toString()) as ServerMessage;
        } catch {
          return this.o.log.warn({ text: data.toString().slice(0, 200) }, "server sent a text message that is not JSON");
        }
        this.emit("message", msg);
        const auth = asAuthMessage(msg);
        if (auth) this.onAuth(ws, auth);
        else if (msg.type === "stream.started") {
          this.sessionId = msg.sessionId;
          this.emit("started", msg);
          resolve();
        } else if (msg.type === "error") {
          lastError = { code: msg.code, message: msg.message };
          reject(errorMessageFailure(msg.code, msg.message, { fresh }));
        }
      });
      ws.on("close", (code, reason) => {
        if (ws === this.ws) void this.onClose(ws, closeFailure(code, reason.toString(), { lastError, fresh: false }));
        else reject(closeFailure(code, reason.toString(), { lastError, fresh }));
      });
    });
    started.catch(() => undefined);
    try {
      await opened;
      ws.send(JSON.stringify({ type: "stream.start", format: this.o.send, title: this.o.title ?? this.o.streamId, ...(this.o.record ? { record: true } : {}), ...(this.sessionId ? { resume: this.sessionId } : {}) }));
      await started;
    } catch (err) {
      ws.terminate();
      throw err;
    }
    return ws;
  }

  private async onClose(ws: WebSocket, failure: ConnectionFailure): Promise<void> {
    if (ws !== this.ws) return;
    const code = failure.closeCode ?? 1006;
    if (this.stopped || !this.o.reconnect || !failure.retryable) return this.finish(code, failure);
    if (!this.emit("lost", failure)) this.o.log.warn({ streamId: this.o.streamId, code: failure.code, closeCode: code, reason: failure.message }, "broadcast connection lost, reconnecting");
    try {
      this.urlIndex++;
      const next = await this.connectWithRetry(false);
      this.ws = next;
      this.reconnects++;
      for (const header of this.resumer?.restart() ?? []) this.sendBytes(header);
      this.emit("reconnected");
    } catch (err) {
      const final = err instanceof ConnectionFailure ? err : failure;
      this.finish(final.closeCode ?? code, final);
    }
  }

  /** For good: `close` and ffmpeg stopped. */
  private finish(code: number, failure: ConnectionFailure): void {
    this.ws = null;
    this.emit("close", code, failure.code === "CLOSED" ? failure.message : failure.code, failure);
    void this.ffmpeg?.stop();
  }

  /** An auth message on `ws` (maybe before {@link start} has made it the current socket). */
  private onAuth(ws: WebSocket, msg: AuthMessage): void {
    if (msg.type === "auth.refreshed") {
      this.emit("auth", { type: "refreshed", exp: msg.exp } satisfies AuthEvent);
      return;
    }
    const refreshing = typeof this.token === "function";
    this.emit("auth", { type: "expiring", exp: msg.exp, refreshing } satisfies AuthEvent);
    if (refreshing) void this.sendToken(ws);
  }

  /**
   * Sends a token for this session now (`auth.refresh`): `token` replaces the broadcast's token
   * (for later connections too); without it, the token function is asked. Resolves to whether a
   * token went out; the `auth` event then says whether the server took it (`refreshed`).
   */
  async refreshToken(token?: TokenSource): Promise<boolean> {
    if (token !== undefined) this.token = token;
    return this.ws ? this.sendToken(this.ws) : false;
  }

  private async sendToken(ws: WebSocket): Promise<boolean> {
    let next: string | undefined;
    try {
      next = await resolveToken(this.token);
    } catch (err) {
      this.emit("auth", { type: "refresh-failed", message: err instanceof Error ? err.message : String(err) } satisfies AuthEvent);
      return false;
    }
    if (!next || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify({ type: "auth.refresh", token: next }));
    this.emit("auth", { type: "refresh-sent" } satisfies AuthEvent);
    return true;
  }

  /** Sends now-playing metadata. */
  metadata(title: string, metadata?: Record<string, string>): void {
    this.ws?.send(JSON.stringify({ type: "stream.metadata", title, metadata }));
  }

  /** Ends the stream (`stream.stop`) and closes. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    // the server first: ffmpeg's stop can take up to 2 s (one that fluent-ffmpeg has not spawned yet
    // is not killed, FfmpegProcess waits out its bound), and nothing it sends after this goes out
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "stream.stop" }));
    this.ws?.close();
    await this.ffmpeg?.stop();
  }

  /** Drops the connection without stream.stop (as a crash or network loss would). */
  async abort(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.ffmpeg?.stop();
    this.ws?.terminate();
  }

  private startFfmpeg(): void {
    const o = this.o;
    const inputOptions = ["-re", ...(o.inputFormat ? ["-f", o.inputFormat] : []), ...(o.loop ? ["-stream_loop", "-1"] : []), ...(o.startSeconds ? ["-ss", String(o.startSeconds)] : [])];
    const ffmpeg = new FfmpegProcess({
      ffmpegPath: o.ffmpegPath,
      input: o.input === "-" ? "pipe" : o.input,
      inputOptions,
      outputOptions: outputArgs(o.send, o.bitrate ?? 128_000),
      maxRestarts: 0,
      log: o.log,
    });
    this.ffmpeg = ffmpeg;
    ffmpeg.on("spawn", (g: FfmpegGeneration) => {
      if (g.stdin) process.stdin.pipe(g.stdin);
      if (o.send === "opus") {
        const demuxer = new opus.OggDemuxer();
        g.stdout.pipe(demuxer);
        demuxer.on("data", (packet: Buffer) => this.sendPacket(packet));
      } else {
        g.stdout.on("data", (chunk: Buffer) => {
          for (const piece of this.resumer?.push(chunk) ?? [chunk]) this.sendBytes(piece);
        });
      }
    });
    ffmpeg.on("end", () => this.emit("end"));
    ffmpeg.on("failed", (err: Error) => this.emit("error", err));
    ffmpeg.start();
  }

  private sendPacket(packet: Buffer): void {
    const duration = opusPacketInfo(packet).duration;
    this.sendBytes(encodeAudioData({ rendition: 0, flags: 0, seq: this.seq, mediaTime: this.mediaTime, duration, packet }));
    this.seq = (this.seq + 1) >>> 0;
    this.mediaTime += duration;
  }

  private sendBytes(bytes: Uint8Array): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(bytes, { binary: true });
    this.framesSent++;
    this.bytesSent += bytes.length;
  }
}
