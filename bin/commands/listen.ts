/**
 * `veza-stream listen <streamId>`: connects as a listener, optionally writes what it hears to a
 * playable Ogg/Opus file (RFC 7845), and at the end prints JSON stats: frames, sequence gaps
 * (missing sequence numbers), discontinuities, bytes. Also used by tests through {@link Listener}.
 * A token (`--token`, VEZA_TOKEN; needed when the node runs with `LISTEN_AUTH=token`) goes in the
 * upgrade's `Authorization: Bearer` header.
 */
import fs from "node:fs";
import WebSocket from "ws";
import { asAuthMessage, type AuthEvent } from "../../client/core/auth";
import { Backoff } from "../../client/core/backoff";
import { REPORT_INTERVAL_MS } from "../../client/core/listen-connection";
import { OggOpusWriter } from "../../media/ogg/ogg-opus-writer";
import { AudioFlag, decodeAudioData, type AudioFrame } from "../../media/wire";
import type { HelloMessage, ServerMessage } from "../../media/wire/control";
import { closeFailure, ConnectionFailure } from "./failure";
import { openSocket } from "./handshake";

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
  /** Reconnect after a lost connection or a retryable refusal, to the next URL in turn, resuming the session. Default false. */
  reconnect?: boolean;
  /** Called before each retry: why the last attempt failed, the wait (ms), the URL tried next. */
  onRetry?: (failure: ConnectionFailure, delayMs: number, url: string) => void;
  /**
   * The listener's token (a `listen` scope), sent as `Authorization: Bearer`; a function is asked
   * before each connection and when the server says the token is expiring (synchronous: the
   * listener opens its socket at once).
   */
  token?: string | (() => string);
  /** Called when the token is expiring (`refreshing` when a token function gave a new one), or was renewed. */
  onAuth?: (event: AuthEvent) => void;
  /**
   * `auto` (default: the gateway moves the listener between the stream's Opus renditions as its
   * link allows; the listener sends a receiver report a second, `listener.report`) or a rendition
   * id of `hello.renditions` (`?rendition=`).
   */
  rendition?: "auto" | number;
}

/**
 * One listener. With `reconnect`, a failed first connection or a lost socket is retried against
 * the next gateway URL after an exponential backoff with jitter ({@link Backoff}: 100 ms doubling
 * to 2 s), passing `?session=` so the gateway resumes the session, as long as the failure is
 * retryable (failure.ts), after the server's Retry-After if it sent one (RATE_LIMITED); a final one
 * (BAD_STREAM_ID, a kick, a refused token, …) closes it for good.
 * `onFrame` sees every decoded frame, `onText` every text message.
 */
export class Listener {
  ws: WebSocket;
  hello: HelloMessage | null = null;
  readonly texts: ServerMessage[] = [];
  readonly stats: ListenStats;
  onFrame: ((frame: AudioFrame, receivedAt: number) => void) | null = null;
  /** Resolves with the first hello; rejects with the {@link ConnectionFailure} that ended the listener before one. */
  readonly opened: Promise<HelloMessage>;
  /** Resolves with the close code when the listener is closed for good (by `close()`, or a final or unretried failure). */
  readonly closed: Promise<number>;
  /** Why the listener ended, when it was not `close()`: the server's code and text. */
  failure: ConnectionFailure | null = null;
  private readonly urls: string[];
  private urlIndex = 0;
  private readonly backoff = new Backoff({ baseMs: 100, capMs: 2000, factor: 2 });
  private stopped = false;
  private resumed = false;
  private resolveOpened!: (hello: HelloMessage) => void;
  private rejectOpened!: (err: Error) => void;
  private resolveClosed!: (code: number) => void;
  /** Rendition of the last frame (seq counts per rendition), and the end of its media time (samples at 48 kHz). */
  private lastRendition: number | null = null;
  private receivedEnd: number | null = null;
  private reportTimer: NodeJS.Timeout | null = null;

  constructor(url: string | string[], readonly streamId: string, private options: ListenerOptions = {}) {
    this.urls = Array.isArray(url) ? url : [url];
    this.stats = { streamId, sessionId: null, frames: 0, seqGaps: 0, missedFrames: 0, discontinuities: 0, bytes: 0, audioMs: 0, firstSeq: null, lastSeq: null, reconnects: 0, closeCode: null };
    this.opened = new Promise((resolve, reject) => ((this.resolveOpened = resolve), (this.rejectOpened = reject)));
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.opened.catch(() => undefined);
    this.ws = this.connect();
    if ((options.rendition ?? "auto") === "auto") {
      this.reportTimer = setInterval(() => {
        if (this.receivedEnd !== null && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "listener.report", received: this.receivedEnd }));
      }, REPORT_INTERVAL_MS);
      this.reportTimer.unref();
    }
  }

  /** Latest text message of a type. */
  last<T extends ServerMessage["type"]>(type: T): Extract<ServerMessage, { type: T }> | undefined {
    for (let i = this.texts.length - 1; i >= 0; i--) if (this.texts[i]?.type === type) return this.texts[i] as Extract<ServerMessage, { type: T }>;
    return undefined;
  }

  close(): void {
    this.stopped = true;
    this.backoff.cancel();
    this.ws.close();
    if (this.ws.readyState === WebSocket.CLOSED) this.end(this.stats.closeCode ?? 1000, null);
  }

  private currentUrl(): string {
    return (this.urls[this.urlIndex % this.urls.length] ?? "").replace(/\/$/, "");
  }

  /** The token now, or undefined (none, or the token function failed: the server will say). */
  private currentToken(): string | undefined {
    const source = this.options.token;
    try {
      return (typeof source === "function" ? source() : source)?.trim() || undefined;
    } catch (err) {
      this.options.onAuth?.({ type: "refresh-failed", message: err instanceof Error ? err.message : String(err) });
      return undefined;
    }
  }

  /**
   * Sends a token for this session now (`auth.refresh`): `token`, else the token option's. Returns
   * whether one went out on an open socket; `onAuth` then says whether the server took it.
   */
  refreshToken(token?: string): boolean {
    if (token !== undefined) this.options = { ...this.options, token };
    const next = this.currentToken();
    if (!next || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ type: "auth.refresh", token: next }));
    this.options.onAuth?.({ type: "refresh-sent" });
    return true;
  }

  private connect(): WebSocket {
    const params = new URLSearchParams();
    if (this.stats.sessionId) params.set("session", this.stats.sessionId);
    if (this.options.rendition !== undefined && this.options.rendition !== "auto") params.set("rendition", String(this.options.rendition));
    const query = params.size > 0 ? `?${params}` : "";
    const { ws, opened } = openSocket(`${this.currentUrl()}/ws/listen/${encodeURIComponent(this.streamId)}${query}`, { token: this.currentToken() });
    let lastError: { code: string; message: string } | null = null;
    let handled = false;
    // the first of a failed handshake and the socket's close decides; the other is the same event
    const lostOnce = (failure: ConnectionFailure) => {
      if (handled || ws !== this.ws) return;
      handled = true;
      this.lost(failure);
    };
    let isOpen = false;
    ws.once("open", () => (isOpen = true));
    opened.catch((failure: ConnectionFailure) => lostOnce(failure));
    ws.on("message", (data: Buffer, isBinary) => {
      if (isBinary) return this.onBinary(data);
      let msg: ServerMessage;
      try {
        msg = JSON.parse(data.toString()) as ServerMessage;
      } catch {
        return;
      }
      this.texts.push(msg);
      const auth = asAuthMessage(msg);
      if (auth?.type === "auth.refreshed") this.options.onAuth?.({ type: "refreshed", exp: auth.exp });
      else if (auth) {
        const refreshing = typeof this.options.token === "function";
        this.options.onAuth?.({ type: "expiring", exp: auth.exp, refreshing });
        if (refreshing) this.refreshToken();
      }
      if (msg.type === "error") lastError = { code: msg.code, message: msg.message };
      if (msg.type !== "hello") return;
      this.backoff.reset();
      if (this.hello) {
        this.stats.reconnects++;
        this.resumed = true;
      }
      this.hello = msg;
      this.stats.sessionId = msg.sessionId;
      this.resolveOpened(msg);
    });
    ws.on("close", (code, reason) => {
      if (ws !== this.ws || handled || !isOpen) return; // before open, the handshake's failure says why
      this.stats.closeCode = code;
      lostOnce(closeFailure(code, reason.toString(), { lastError }));
    });
    return ws;
  }

  /** The current socket failed or closed: retry or end. */
  private lost(failure: ConnectionFailure): void {
    if (this.stopped) return this.end(failure.closeCode ?? this.stats.closeCode ?? 1000, null);
    if (!this.options.reconnect || !failure.retryable) return this.end(failure.closeCode ?? 1006, failure);
    this.urlIndex++;
    const delayMs = this.backoff.schedule(() => {
      if (!this.stopped) this.ws = this.connect();
    }, failure.retryAfterMs ?? 0);
    this.options.onRetry?.(failure, delayMs, this.currentUrl());
  }

  private end(code: number, failure: ConnectionFailure | null): void {
    if (this.reportTimer) clearInterval(this.reportTimer);
    this.reportTimer = null;
    this.failure ??= failure;
    this.stats.closeCode ??= code;
    this.rejectOpened(failure ?? new ConnectionFailure("CLOSED", `closed with ${code} before hello`, false, code));
    this.resolveClosed(code);
  }

  private onBinary(data: Buffer): void {
    const frame = decodeAudioData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    const s = this.stats;
    const flagged = (frame.flags & AudioFlag.DISCONTINUITY) !== 0;
    if (flagged) s.discontinuities++;
    // seq counts per rendition: a move to another one (ABR, rendition.select) starts a new count
    const sameRendition = frame.rendition === this.lastRendition;
    this.lastRendition = frame.rendition;
    this.receivedEnd = frame.mediaTime + frame.duration;
    if (s.lastSeq !== null && !flagged && sameRendition && frame.seq !== ((s.lastSeq + 1) >>> 0)) {
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
  /** Ogg/Opus file to write, or `-` for standard output. */
  out?: string;
  /** Stop after this many seconds of audio. */
  seconds?: number;
  onRetry?: ListenerOptions["onRetry"];
  /** The listener's token, sent as `Authorization: Bearer`. */
  token?: ListenerOptions["token"];
  onAuth?: ListenerOptions["onAuth"];
  rendition?: ListenerOptions["rendition"];
}

export interface ListenResult {
  stats: ListenStats;
  /** Why the listener stopped, when it was neither `seconds` reached, Ctrl-C nor a normal close. */
  failure: ConnectionFailure | null;
}

/**
 * Runs a listener until `seconds` of audio arrived, the connection closes for good, or SIGINT or
 * SIGTERM; writes the audio as Ogg/Opus to `out` (`-`: standard output).
 * @throws ConnectionFailure when the listener ended before the server's hello (e.g. BAD_STREAM_ID),
 *   or (code ENOENT, EACCES, …) when `out` cannot be written.
 */
export async function listen(o: ListenOptions): Promise<ListenResult> {
  const listener = new Listener(o.url, o.streamId, { reconnect: o.reconnect, onRetry: o.onRetry, token: o.token, onAuth: o.onAuth, rendition: o.rendition });
  const interrupted = new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  const first = await Promise.race([listener.opened, interrupted.then(() => null)]);
  if (!first) {
    listener.close();
    return { stats: listener.stats, failure: null };
  }
  const file = o.out === "-" ? process.stdout : o.out ? fs.createWriteStream(o.out) : null;
  const writer = file ? new OggOpusWriter({ channels: first.channels === 1 ? 1 : 2 }) : null;
  if (file && writer) file.write(writer.header());
  let done = false;
  let writeError: Error | null = null;
  await new Promise<void>((resolve) => {
    // a reader of `--out -` that went away (`| head -c 1000`), or a file that cannot be written,
    // ends the listening, not the process
    file?.once("error", (err: Error) => ((writeError = err), (done = true), resolve()));
    listener.onFrame = (frame) => {
      if (done) return;
      if (file && writer) file.write(writer.packet(frame.packet, frame.duration));
      if (o.seconds !== undefined && listener.stats.audioMs >= o.seconds * 1000) resolve();
    };
    void listener.closed.then(() => resolve());
    void interrupted.then(() => resolve());
  });
  done = true;
  listener.onFrame = null;
  listener.close();
  if (file && writer && !writeError) {
    file.write(writer.end());
    if (file !== process.stdout) await new Promise<void>((resolve) => file.end(resolve));
    else await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
  }
  const err = writeError as NodeJS.ErrnoException | null;
  if (err && file !== process.stdout) throw new ConnectionFailure(err.code ?? "WRITE_FAILED", `cannot write ${o.out}: ${err.message}`, false);
  return { stats: listener.stats, failure: listener.failure };
}
