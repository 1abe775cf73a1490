/**
 * `veza-stream listen <streamId>`: connects as a listener, optionally writes what it hears to a
 * playable Ogg/Opus file (RFC 7845), and at the end prints JSON stats: frames, sequence gaps
 * (missing sequence numbers), discontinuities, bytes. Also used by tests through {@link Listener}.
 */
import fs from "node:fs";
import WebSocket from "ws";
import { OggOpusWriter } from "../../media/ogg/ogg-opus-writer";
import { AudioFlag, decodeAudioData, type AudioFrame } from "../../media/wire";
import type { HelloMessage, ServerMessage } from "../../media/wire/control";

export interface ListenStats {
  streamId: string;
  sessionId: string | null;
  frames: number;
  /** Sequence numbers missing between frames received on one connection (not across a flagged discontinuity). */
  seqGaps: number;
  /** Frames missed while reconnecting (the sequence jump across a reconnection). */
  missedFrames: number;
  /** Frames flagged as following a gap (new broadcaster, encoder restart, new owner). */
  discontinuities: number;
  /** Audio bytes received (whole audio.data messages). */
  bytes: number;
  /** Media time received, ms. */
  audioMs: number;
  firstSeq: number | null;
  lastSeq: number | null;
  reconnects: number;
  closeCode: number | null;
}

export interface ListenerOptions {
  /** Reconnect after a lost connection, to the next URL in turn, resuming the session. Default false. */
  reconnect?: boolean;
}

/**
 * One listener. With `reconnect`, a lost socket is replaced by a new one to the next gateway URL,
 * after an exponential backoff with full jitter (first ~50 ms, cap 2 s; AWS Architecture Blog,
 * "Exponential Backoff And Jitter", 2015), passing `?session=` so the gateway resumes the session.
 * `onFrame` sees every decoded frame, `onText` every text message.
 */
export class Listener {
  ws: WebSocket;
  hello: HelloMessage | null = null;
  readonly texts: ServerMessage[] = [];
  readonly stats: ListenStats;
  onFrame: ((frame: AudioFrame, receivedAt: number) => void) | null = null;
  readonly opened: Promise<HelloMessage>;
  /** Resolves when the listener is closed for good (by `close()`, or a lost socket without reconnect). */
  readonly closed: Promise<number>;
  private readonly urls: string[];
  private urlIndex = 0;
  private attempt = 0;
  private stopped = false;
  private resumed = false;
  private resolveOpened!: (hello: HelloMessage) => void;
  private rejectOpened!: (err: Error) => void;
  private resolveClosed!: (code: number) => void;

  constructor(url: string | string[], readonly streamId: string, private readonly options: ListenerOptions = {}) {
    this.urls = Array.isArray(url) ? url : [url];
    this.stats = { streamId, sessionId: null, frames: 0, seqGaps: 0, missedFrames: 0, discontinuities: 0, bytes: 0, audioMs: 0, firstSeq: null, lastSeq: null, reconnects: 0, closeCode: null };
    this.opened = new Promise((resolve, reject) => ((this.resolveOpened = resolve), (this.rejectOpened = reject)));
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.opened.catch(() => undefined);
    this.ws = this.connect();
  }

  /** Latest text message of a type. */
  last<T extends ServerMessage["type"]>(type: T): Extract<ServerMessage, { type: T }> | undefined {
    for (let i = this.texts.length - 1; i >= 0; i--) if (this.texts[i]?.type === type) return this.texts[i] as Extract<ServerMessage, { type: T }>;
    return undefined;
  }

  close(): void {
    this.stopped = true;
    this.ws.close();
  }

  private connect(): WebSocket {
    const base = (this.urls[this.urlIndex % this.urls.length] ?? "").replace(/\/$/, "");
    const query = this.stats.sessionId ? `?session=${encodeURIComponent(this.stats.sessionId)}` : "";
    const ws = new WebSocket(`${base}/ws/listen/${encodeURIComponent(this.streamId)}${query}`);
    ws.on("error", (err) => {
      if (!this.hello && !this.options.reconnect) this.rejectOpened(err);
    });
    ws.on("message", (data: Buffer, isBinary) => {
      if (isBinary) return this.onBinary(data);
      const msg = JSON.parse(data.toString()) as ServerMessage;
      this.texts.push(msg);
      if (msg.type !== "hello") return;
      this.attempt = 0;
      if (this.hello) {
        this.stats.reconnects++;
        this.resumed = true;
      }
      this.hello = msg;
      this.stats.sessionId = msg.sessionId;
      this.resolveOpened(msg);
    });
    ws.on("close", (code) => {
      if (ws !== this.ws) return;
      this.stats.closeCode = code;
      if (this.stopped || !this.options.reconnect) {
        this.rejectOpened(new Error(`closed with ${code} before hello`));
        this.resolveClosed(code);
        return;
      }
      const delay = Math.random() * Math.min(2000, 50 * 2 ** this.attempt++);
      this.urlIndex++;
      setTimeout(() => {
        if (!this.stopped) this.ws = this.connect();
      }, delay);
    });
    return ws;
  }

  private onBinary(data: Buffer): void {
    const frame = decodeAudioData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    const s = this.stats;
    const flagged = (frame.flags & AudioFlag.DISCONTINUITY) !== 0;
    if (flagged) s.discontinuities++;
    if (s.lastSeq !== null && !flagged && frame.seq !== ((s.lastSeq + 1) >>> 0)) {
      const missing = (frame.seq - s.lastSeq - 1) >>> 0;
      if (this.resumed) s.missedFrames += missing;
      else s.seqGaps += missing;
    }
    this.resumed = false;
    s.firstSeq ??= frame.seq;
    s.lastSeq = frame.seq;
    s.frames++;
    s.bytes += data.length;
    s.audioMs += frame.duration / 48;
    this.onFrame?.(frame, Date.now());
  }
}

export interface ListenOptions {
  /** One gateway URL, or several to fail over between. */
  url: string | string[];
  reconnect?: boolean;
  streamId: string;
  out?: string;
  seconds?: number;
}

/** Runs a listener until `seconds` of audio arrived (or the socket closes); returns its stats. */
export async function listen(o: ListenOptions): Promise<ListenStats> {
  const listener = new Listener(o.url, o.streamId, { reconnect: o.reconnect });
  const hello = await listener.opened;
  const file = o.out ? fs.createWriteStream(o.out) : null;
  const writer = file ? new OggOpusWriter({ channels: hello.channels === 1 ? 1 : 2 }) : null;
  if (file && writer) file.write(writer.header());
  await new Promise<void>((resolve) => {
    listener.onFrame = (frame) => {
      if (file && writer) file.write(writer.packet(frame.packet, frame.duration));
      if (o.seconds !== undefined && listener.stats.audioMs >= o.seconds * 1000) resolve();
    };
    void listener.closed.then(() => resolve());
    process.once("SIGINT", () => resolve());
  });
  listener.onFrame = null;
  listener.close();
  if (file && writer) {
    file.write(writer.end());
    await new Promise<void>((resolve) => file.end(resolve));
  }
  return listener.stats;
}
