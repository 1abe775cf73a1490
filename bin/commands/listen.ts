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
  /** Sequence numbers missing between received frames. */
  seqGaps: number;
  /** Frames flagged as following a gap (new broadcaster, encoder restart). */
  discontinuities: number;
  /** Audio bytes received (whole audio.data messages). */
  bytes: number;
  /** Media time received, ms. */
  audioMs: number;
  firstSeq: number | null;
  lastSeq: number | null;
  closeCode: number | null;
}

/** One listener connection. `onFrame` sees every decoded frame, `onText` every text message. */
export class Listener {
  readonly ws: WebSocket;
  hello: HelloMessage | null = null;
  readonly texts: ServerMessage[] = [];
  readonly stats: ListenStats;
  onFrame: ((frame: AudioFrame, receivedAt: number) => void) | null = null;
  readonly opened: Promise<HelloMessage>;
  readonly closed: Promise<number>;

  constructor(url: string, readonly streamId: string) {
    this.stats = { streamId, sessionId: null, frames: 0, seqGaps: 0, discontinuities: 0, bytes: 0, audioMs: 0, firstSeq: null, lastSeq: null, closeCode: null };
    this.ws = new WebSocket(`${url.replace(/\/$/, "")}/ws/listen/${encodeURIComponent(streamId)}`);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("error", reject);
      this.ws.once("close", (code) => reject(new Error(`closed with ${code} before hello`)));
      this.ws.on("message", (data: Buffer, isBinary) => {
        if (isBinary) return this.onBinary(data);
        const msg = JSON.parse(data.toString()) as ServerMessage;
        this.texts.push(msg);
        if (msg.type === "hello") {
          this.hello = msg;
          this.stats.sessionId = msg.sessionId;
          resolve(msg);
        }
      });
    });
    this.closed = new Promise((resolve) =>
      this.ws.once("close", (code) => {
        this.stats.closeCode = code;
        resolve(code);
      }),
    );
    this.opened.catch(() => undefined);
  }

  /** Latest text message of a type. */
  last<T extends ServerMessage["type"]>(type: T): Extract<ServerMessage, { type: T }> | undefined {
    for (let i = this.texts.length - 1; i >= 0; i--) if (this.texts[i]?.type === type) return this.texts[i] as Extract<ServerMessage, { type: T }>;
    return undefined;
  }

  close(): void {
    this.ws.close();
  }

  private onBinary(data: Buffer): void {
    const frame = decodeAudioData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    const s = this.stats;
    if (s.lastSeq !== null && frame.seq !== ((s.lastSeq + 1) >>> 0)) s.seqGaps += (frame.seq - s.lastSeq - 1) >>> 0;
    if (frame.flags & AudioFlag.DISCONTINUITY) s.discontinuities++;
    s.firstSeq ??= frame.seq;
    s.lastSeq = frame.seq;
    s.frames++;
    s.bytes += data.length;
    s.audioMs += frame.duration / 48;
    this.onFrame?.(frame, Date.now());
  }
}

export interface ListenOptions {
  url: string;
  streamId: string;
  out?: string;
  seconds?: number;
}

/** Runs a listener until `seconds` of audio arrived (or the socket closes); returns its stats. */
export async function listen(o: ListenOptions): Promise<ListenStats> {
  const listener = new Listener(o.url, o.streamId);
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
