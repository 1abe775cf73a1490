/**
 * A minimal WebSocket client over node:net, light enough for thousands of listeners in one process.
 * It does the HTTP upgrade (RFC 6455 §4.1), parses unfragmented server frames (§5.2: unmasked, 7,
 * 16 or 64-bit lengths), answers pings and close frames, and sends masked frames (§5.3).
 *
 * Reads go into one buffer shared by every socket (net `onread`), and frames are handed to the
 * handlers as (buffer, start, end) views, so a frame costs no allocation unless it arrives split
 * across two reads; then it is copied once into the connection's scratch buffer.
 */
import crypto from "node:crypto";
import net from "node:net";

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** One Sec-WebSocket-Key for the whole process: servers do not check it is fresh, and we verify the accept once. */
const KEY = crypto.randomBytes(16).toString("base64");
const ACCEPT = crypto.createHash("sha1").update(KEY + WS_GUID).digest("base64");
/** Read buffer shared by all sockets; safe because every read is consumed synchronously. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
/** Largest frame this client accepts, bytes (audio.data is at most 7666). */
const MAX_FRAME_BYTES = 64 * 1024;

export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** Close code reported when the handshake was refused (not a RFC 6455 code). */
export const CLOSE_HANDSHAKE_FAILED = 0;
/** Close code reported when the TCP connection ended without a close frame (RFC 6455 §7.1.5). */
export const CLOSE_ABNORMAL = 1006;

/** What a {@link RawWsClient} reports. Payload views are only valid during the call. */
export interface WsHandlers {
  /** The upgrade succeeded. */
  open(): void;
  /** A text message; UTF-8 bytes in buf[start, end). */
  text(buf: Buffer, start: number, end: number): void;
  /** A binary message in buf[start, end), read at `atMs` (performance.now() of the socket read). */
  binary(buf: Buffer, start: number, end: number, atMs: number): void;
  /** The connection is over: the close frame's code, 1005 without code, 1006 without close frame, 0 for a refused upgrade. */
  closed(code: number, reason: string): void;
}

/** One WebSocket connection to ws://host:port/path, with `headers` added to the upgrade request (e.g. authorization). */
export class RawWsClient {
  /** Socket reads by all clients of this process (for messages-per-read figures). */
  static reads = 0;
  readonly socket: net.Socket;
  private state: "handshake" | "open" | "closed" = "handshake";
  private response = "";
  private scratch: Buffer | null = null;
  private pending = 0;
  private lastError = "";

  constructor(
    port: number,
    path: string,
    private readonly handlers: WsHandlers,
    host = "127.0.0.1",
    headers: Record<string, string> = {},
  ) {
    const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
    this.socket = net.connect({
      host,
      port,
      onread: { buffer: READ_BUFFER, callback: (n) => this.onRead(n) },
    });
    this.socket.setNoDelay(true);
    this.socket.on("connect", () => {
      this.socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
      );
    });
    this.socket.on("error", (err) => {
      this.lastError = err.message;
    });
    this.socket.on("close", () => this.finish(CLOSE_ABNORMAL, this.lastError || "connection closed without close frame"));
  }

  /** Whether the upgrade succeeded and no close happened yet. */
  get isOpen(): boolean {
    return this.state === "open";
  }

  /** Sends one masked frame (FIN set) with `opcode` and `payload`. */
  send(opcode: number, payload: Uint8Array): void {
    if (this.state !== "open") return;
    this.socket.write(maskedFrame(opcode, payload));
  }

  /** Sends a text message. */
  sendText(text: string): void {
    this.send(OP_TEXT, Buffer.from(text, "utf8"));
  }

  /** Drops the connection without a close handshake. */
  destroy(): void {
    this.state = "closed";
    this.socket.destroy();
  }

  private onRead(n: number): boolean {
    const atMs = performance.now();
    RawWsClient.reads++;
    if (this.state === "handshake") this.readHandshake(n, atMs);
    else if (this.state === "open") this.parse(READ_BUFFER, 0, n, atMs);
    return true;
  }

  private readHandshake(n: number, atMs: number): void {
    const before = this.response.length;
    this.response += READ_BUFFER.toString("latin1", 0, n);
    const end = this.response.indexOf("\r\n\r\n");
    if (end < 0) {
      if (this.response.length > 8192) this.fail(CLOSE_HANDSHAKE_FAILED, "upgrade response too long");
      return;
    }
    const head = this.response.slice(0, end);
    this.response = "";
    const status = head.slice(0, head.indexOf("\r\n"));
    if (!/^HTTP\/1\.1 101\b/.test(status)) return this.fail(CLOSE_HANDSHAKE_FAILED, status);
    if (!new RegExp(`^sec-websocket-accept:\\s*${escapeRegExp(ACCEPT)}\\s*$`, "im").test(head)) {
      return this.fail(CLOSE_HANDSHAKE_FAILED, "bad Sec-WebSocket-Accept");
    }
    this.state = "open";
    this.handlers.open();
    const bodyStart = end + 4 - before; // offset in READ_BUFFER of the first frame byte
    if (bodyStart < n && this.state === "open") this.parse(READ_BUFFER, bodyStart, n, atMs);
  }

  /** Parses frames in buf[off, end); a trailing partial frame goes to the scratch buffer. */
  private parse(buf: Buffer, off: number, end: number, atMs: number): void {
    if (this.pending > 0) {
      off = this.fillScratch(buf, off, end, atMs);
      if (this.pending > 0 || this.state !== "open") return;
    }
    while (off < end) {
      const total = frameLength(buf, off, end);
      if (total < 0 || off + total > end) {
        this.stash(buf, off, end);
        return;
      }
      this.dispatch(buf, off, total, atMs);
      if (this.state !== "open") return;
      off += total;
    }
  }

  private stash(buf: Buffer, off: number, end: number): void {
    this.scratch ??= Buffer.allocUnsafe(MAX_FRAME_BYTES);
    buf.copy(this.scratch, 0, off, end);
    this.pending = end - off;
  }

  /** Completes the frame held in scratch from buf[off, end); returns the offset after it. */
  private fillScratch(buf: Buffer, off: number, end: number, atMs: number): number {
    const s = this.scratch as Buffer;
    let total = frameLength(s, 0, this.pending);
    // Header incomplete: take one byte at a time so no byte of the next frame is taken.
    while (total < 0 && off < end) {
      buf.copy(s, this.pending, off, off + 1);
      this.pending += 1;
      off += 1;
      total = frameLength(s, 0, this.pending);
    }
    if (total < 0) return end;
    if (total > s.length) {
      this.fail(1009, `frame of ${total} bytes is over ${s.length}`);
      return end;
    }
    const take = Math.min(total - this.pending, end - off);
    buf.copy(s, this.pending, off, off + take);
    this.pending += take;
    if (this.pending < total) return end;
    this.pending = 0;
    this.dispatch(s, 0, total, atMs);
    return off + take;
  }

  private dispatch(buf: Buffer, off: number, total: number, atMs: number): void {
    const b0 = buf[off] as number;
    const b1 = buf[off + 1] as number;
    const len7 = b1 & 0x7f;
    const start = off + (len7 < 126 ? 2 : len7 === 126 ? 4 : 10);
    const end = off + total;
    const opcode = b0 & 0x0f;
    if (b1 & 0x80) return this.fail(1002, "server frame is masked");
    if (!(b0 & 0x80) || opcode === 0) return this.fail(1002, "fragmented messages are not supported");
    switch (opcode) {
      case OP_BINARY:
        this.handlers.binary(buf, start, end, atMs);
        return;
      case OP_TEXT:
        this.handlers.text(buf, start, end);
        return;
      case OP_PING:
        this.socket.write(maskedFrame(OP_PONG, buf.subarray(start, end)));
        return;
      case OP_PONG:
        return;
      case OP_CLOSE: {
        const code = end - start >= 2 ? buf.readUInt16BE(start) : 1005;
        const reason = end - start > 2 ? buf.toString("utf8", start + 2, end) : "";
        this.socket.end(maskedFrame(OP_CLOSE, buf.subarray(start, Math.min(end, start + 2))));
        this.finish(code, reason);
        return;
      }
      default:
        this.fail(1002, `unknown opcode ${opcode}`);
    }
  }

  private fail(code: number, reason: string): void {
    this.finish(code, reason);
    this.socket.destroy();
  }

  private finish(code: number, reason: string): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.handlers.closed(code, reason);
  }
}

/** Total bytes of the frame starting at buf[off], or -1 when its header is not all in buf[off, end). */
function frameLength(buf: Buffer, off: number, end: number): number {
  const avail = end - off;
  if (avail < 2) return -1;
  const b1 = buf[off + 1] as number;
  const mask = b1 & 0x80 ? 4 : 0;
  const len7 = b1 & 0x7f;
  if (len7 < 126) return 2 + mask + len7;
  if (len7 === 126) return avail < 4 ? -1 : 4 + mask + buf.readUInt16BE(off + 2);
  return avail < 10 ? -1 : 10 + mask + buf.readUInt32BE(off + 2) * 2 ** 32 + buf.readUInt32BE(off + 6);
}

/** A client frame (FIN, `opcode`, random mask) carrying `payload`. */
export function maskedFrame(opcode: number, payload: Uint8Array): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  const mask = (Math.random() * 2 ** 32) >>> 0;
  out.writeUInt32BE(mask, head);
  const m = [mask >>> 24, (mask >>> 16) & 0xff, (mask >>> 8) & 0xff, mask & 0xff] as const;
  for (let i = 0; i < len; i++) out[head + 4 + i] = (payload[i] as number) ^ (m[i & 3] as number);
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
