/**
 * `veza-stream broadcast <file|-> --stream ID`: reads any audio ffmpeg can read, in real time
 * (`-re`), and pushes it to a gateway. Default `--send opus`: encodes to Opus here and sends
 * audio.data frames (the server passes them through). `--send ogg|mp3|webm|wav`: sends the
 * container bytes as they are (`-c copy` where the codec allows) for the server's encoder.
 * Also used by `start --demo` and by tests, through {@link Broadcast}.
 */
import { EventEmitter } from "node:events";
import { opus } from "prism-media";
import type { Logger } from "pino";
import WebSocket from "ws";
import { createResumer, type IngestResumer } from "../../media/ingest/resume";
import { opusPacketInfo } from "../../media/opus/packet";
import { encodeAudioData } from "../../media/wire";
import type { IngestFormat, ServerMessage } from "../../media/wire/control";
import { FfmpegProcess, type FfmpegGeneration } from "../../transports/ffmpeg/ffmpeg-process";

export interface BroadcastOptions {
  /** Gateway base URL, e.g. ws://127.0.0.1:8080, or several to fail over between. */
  url: string | string[];
  /** Reconnect after a lost connection (see {@link Broadcast}). Default false. */
  reconnect?: boolean;
  streamId: string;
  /** File path, or `-` for stdin. */
  input: string;
  send: Exclude<IngestFormat, "pcm_s16le">;
  loop?: boolean;
  /** Start this many seconds into the input. */
  startSeconds?: number;
  title?: string;
  bitrate?: number;
  ffmpegPath: string;
  log: Logger;
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

/** Close codes after which a broadcaster gives up instead of reconnecting: its own mistakes. */
const FINAL_CLOSE_CODES = new Set([1000, 4400, 4408, 4415]);

/**
 * One broadcast. Events: `started` (the server's stream.started message), `message` (any server
 * text message), `reconnected` (after a lost connection was replaced), `close` (code, reason: for
 * good), `end` (input finished). With `reconnect`, a lost connection is retried against the next
 * URL with exponential backoff and full jitter (cap 2 s) while ffmpeg keeps running; container
 * headers are replayed so the server's encoder can start again (media/ingest/resume.ts).
 */
export class Broadcast extends EventEmitter {
  private ws: WebSocket | null = null;
  private ffmpeg: FfmpegProcess | null = null;
  private readonly urls: string[];
  private urlIndex = 0;
  private stopped = false;
  private readonly resumer: IngestResumer | null;
  private seq = 0;
  private mediaTime = 0;
  framesSent = 0;
  bytesSent = 0;
  reconnects = 0;
  /** Session id the server gave the current connection (sent as `resume` when reconnecting). */
  sessionId: string | null = null;

  constructor(private readonly o: BroadcastOptions) {
    super();
    this.urls = Array.isArray(o.url) ? o.url : [o.url];
    this.resumer = o.send === "opus" ? null : createResumer(o.send);
  }

  /** Connects, sends stream.start, waits for stream.started, then starts ffmpeg. @throws on refusal. */
  async start(): Promise<void> {
    this.ws = await this.connect();
    this.startFfmpeg();
  }

  /** One connection up to stream.started. @throws Error with `code` when refused or closed first. */
  private async connect(): Promise<WebSocket> {
    const base = (this.urls[this.urlIndex % this.urls.length] ?? "").replace(/\/$/, "");
    const ws = new WebSocket(`${base}/ws/publish/${encodeURIComponent(this.o.streamId)}`);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const started = new Promise<void>((resolve, reject) => {
      ws.on("message", (data, isBinary) => {
        if (isBinary) return;
        const msg = JSON.parse(data.toString()) as ServerMessage;
        this.emit("message", msg);
        if (msg.type === "stream.started") {
          this.sessionId = msg.sessionId;
          this.emit("started", msg);
          resolve();
        } else if (msg.type === "error") reject(Object.assign(new Error(msg.message), { code: msg.code }));
      });
      ws.once("close", (code) => reject(Object.assign(new Error(`closed with ${code} before stream.started`), { closeCode: code })));
    });
    ws.send(JSON.stringify({ type: "stream.start", format: this.o.send, title: this.o.title ?? this.o.streamId, ...(this.sessionId ? { resume: this.sessionId } : {}) }));
    await started;
    ws.on("close", (code, reason) => void this.onClose(ws, code, reason.toString()));
    return ws;
  }

  private async onClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    if (ws !== this.ws) return;
    if (this.stopped || !this.o.reconnect || FINAL_CLOSE_CODES.has(code)) {
      this.emit("close", code, reason);
      void this.ffmpeg?.stop();
      return;
    }
    this.o.log.warn({ code, reason }, "broadcast connection lost, reconnecting");
    for (let attempt = 0; !this.stopped; attempt++) {
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(2000, 50 * 2 ** attempt)));
      this.urlIndex++;
      try {
        const next = await this.connect();
        this.ws = next;
        this.reconnects++;
        for (const header of this.resumer?.restart() ?? []) this.sendBytes(header);
        this.emit("reconnected");
        return;
      } catch (err) {
        this.o.log.debug({ err, attempt }, "reconnect failed");
      }
    }
  }

  /** Sends now-playing metadata. */
  metadata(title: string, metadata?: Record<string, string>): void {
    this.ws?.send(JSON.stringify({ type: "stream.metadata", title, metadata }));
  }

  /** Ends the stream (`stream.stop`) and closes. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.ffmpeg?.stop();
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "stream.stop" }));
    this.ws?.close();
  }

  /** Drops the connection without stream.stop (as a crash or network loss would). */
  async abort(): Promise<void> {
    this.stopped = true;
    await this.ffmpeg?.stop();
    this.ws?.terminate();
  }

  private startFfmpeg(): void {
    const o = this.o;
    const inputOptions = ["-re", ...(o.loop ? ["-stream_loop", "-1"] : []), ...(o.startSeconds ? ["-ss", String(o.startSeconds)] : [])];
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
