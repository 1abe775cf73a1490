/**
 * A broadcaster's connection to `/ws/publish/:streamId`: sends `stream.start`, waits for
 * `stream.started`, then carries audio (audio.data frames for format `opus`, container bytes for
 * `webm` and the other formats), metadata and `stream.stop`. When the socket drops while on air it
 * reconnects with backoff and starts again, naming its previous session (`resume`) so the server
 * hands the stream over even if it has not noticed the old socket is gone; a refusal that a retry
 * cannot fix (4400-4499, e.g. BROADCASTER_EXISTS, or a refused token: UNAUTHORIZED, TOKEN_EXPIRED,
 * FORBIDDEN) ends it; RATE_LIMITED (4429) is retried, after at least {@link RATE_LIMITED_DELAY_MS}.
 *
 * Token (docs/security.md): `token` (a string, or a function asked before each socket and when the
 * server sends `auth.expiring`) goes on the URL as `?token=` (browsers) or, with `tokenIn: "header"`,
 * to the socket factory as `Authorization: Bearer` (Node). On `auth.expiring` a token function is
 * asked for a new token, sent as `auth.refresh`; with a plain string the `auth` event tells the
 * application, which may call {@link PublishConnection.refreshToken} with a new one.
 * Browser-safe; in Node pass a `ws` socket factory.
 */
import { encodeAudioData } from "../../media/wire";
import type { ErrorMessage, IngestFormat, ServerMessage, StartedMessage, StreamInfo } from "../../media/wire/control";
import { asAuthMessage, SessionToken, type AuthEvent, type TokenPlacement, type TokenSource } from "./auth";
import { Backoff, type BackoffOptions } from "./backoff";
import { Emitter } from "./emitter";
import { codeOfReason, defaultSocketFactory, isFinalCloseCode, RATE_LIMITED_DELAY_MS, SOCKET_OPEN, streamSocketUrl, type SocketFactory, type WebSocketLike } from "./socket";

/** Where the broadcast is. */
export type PublishState =
  | { state: "idle" }
  | { state: "connecting"; attempt: number }
  | { state: "live"; sessionId: string; generation: number }
  | { state: "retrying"; attempt: number; delayMs: number; closeCode: number }
  | { state: "stopped" }
  /** Refused, or closed for good by the server; `afterLive` when it had been on air before (e.g. STREAM_ENDED). */
  | { state: "failed"; code: string; message: string; afterLive: boolean };

export interface PublishEvents {
  state: PublishState;
  /** The server accepted a stream.start (once per socket: after a reconnect the container restarts). */
  started: StartedMessage;
  /** The stream's public view changed (listeners, title, state). */
  status: StreamInfo;
  /** An error message from the server (fatal or not). */
  error: ErrorMessage;
  /** The token is expiring, a new one was sent, or the server accepted it. */
  auth: AuthEvent;
}

export interface PublishOptions {
  /** Gateway base URL: http(s)://host:port or ws(s)://host:port. */
  baseUrl: string;
  streamId: string;
  /** `opus`: {@link PublishConnection.sendOpus} frames; others: {@link PublishConnection.sendBytes}. */
  format: Exclude<IngestFormat, "pcm_s16le">;
  title?: string;
  metadata?: Record<string, string>;
  /** Channels of the Opus packets (format opus). Default 2. */
  channels?: 1 | 2;
  /** The broadcaster's token (a `publish` scope on the stream), or a function that gives one. */
  token?: TokenSource;
  /** Where the token goes: `query` (`?token=`, default; browsers) or `header` (`Authorization: Bearer`, Node). */
  tokenIn?: TokenPlacement;
  createSocket?: SocketFactory;
  backoff?: BackoffOptions;
  /** Bytes queued in the socket above which audio is dropped rather than queued. Default 256 KiB. */
  maxBufferedBytes?: number;
}

export class PublishConnection extends Emitter<PublishEvents> {
  /** Audio messages sent, and dropped because the socket was not live or was backed up. */
  readonly counters = { messagesSent: 0, bytesSent: 0, dropped: 0, reconnects: 0 };
  /** Latest view of the stream from the server; null before stream.started. */
  info: StreamInfo | null = null;
  private current: PublishState = { state: "idle" };
  private socket: WebSocketLike | null = null;
  private live = false;
  private generation = 0;
  /** Session id of the last accepted stream.start, resumed after a reconnect. */
  private sessionId: string | null = null;
  private seq = 0;
  /** Media time of the next frame sent, samples at 48 kHz. */
  private mediaTime = 0;
  private title: string | undefined;
  private metadata: Record<string, string> | undefined;
  private stopped = false;
  private readonly backoff: Backoff;
  private readonly createSocket: SocketFactory;
  private readonly url: string;
  private readonly token: SessionToken;
  /** Counts socket openings that wait for the token function; a later one (or stop) supersedes it. */
  private opening = 0;

  constructor(private readonly o: PublishOptions) {
    super();
    this.url = streamSocketUrl(o.baseUrl, "publish", o.streamId);
    this.token = new SessionToken(o.token, o.tokenIn);
    this.backoff = new Backoff(o.backoff);
    this.createSocket = o.createSocket ?? defaultSocketFactory();
    this.title = o.title;
    this.metadata = o.metadata;
  }

  get state(): PublishState {
    return this.current;
  }

  /** Whether audio sent now reaches the server. */
  get isLive(): boolean {
    return this.live;
  }

  /** Connects and resolves on the first stream.started. @throws the server's error when refused. */
  start(): Promise<StartedMessage> {
    this.stopped = false;
    return new Promise((resolve, reject) => {
      const offStarted = this.on("started", (m) => (offStarted(), offState(), resolve(m)));
      const offState = this.on("state", (s) => {
        if (s.state === "failed") (offStarted(), offState(), reject(Object.assign(new Error(s.message), { code: s.code })));
      });
      this.open();
    });
  }

  /** Sends one Opus packet as audio.data. `durationSamples` is at 48 kHz (960 for 20 ms). */
  sendOpus(packet: Uint8Array, durationSamples: number): boolean {
    const bytes = encodeAudioData({ rendition: 0, flags: 0, seq: this.seq, mediaTime: this.mediaTime, duration: durationSamples, packet });
    this.seq = (this.seq + 1) >>> 0;
    this.mediaTime += durationSamples;
    return this.sendBytes(bytes);
  }

  /** Sends one binary message (container bytes for non-opus formats). Returns false if dropped. */
  sendBytes(bytes: Uint8Array): boolean {
    const ws = this.socket;
    if (!this.live || !ws || ws.readyState !== SOCKET_OPEN || ws.bufferedAmount > (this.o.maxBufferedBytes ?? 256 * 1024)) {
      this.counters.dropped++;
      return false;
    }
    ws.send(bytes);
    this.counters.messagesSent++;
    this.counters.bytesSent += bytes.length;
    return true;
  }

  /** Sends now-playing metadata (kept for stream.start after a reconnect). */
  sendMetadata(title: string | undefined, metadata?: Record<string, string>): void {
    this.title = title ?? this.title;
    this.metadata = metadata ?? this.metadata;
    if (this.live) this.socket?.send(JSON.stringify({ type: "stream.metadata", title, metadata }));
  }

  /**
   * Sends a token for the session now (`auth.refresh`): `token` replaces the connection's token
   * (for later sockets too); without it, the token function is asked. Resolves to whether a token
   * went out on an open socket; the `auth` event then says whether the server took it.
   */
  refreshToken(token?: string): Promise<boolean> {
    return this.token.refresh(() => this.socket, (e) => this.emit("auth", e), token);
  }

  /** Ends the stream (`stream.stop`) and closes; no reconnection after this. */
  stop(): void {
    this.stopped = true;
    this.opening++;
    this.live = false;
    this.backoff.cancel();
    const ws = this.socket;
    this.socket = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      if (ws.readyState === SOCKET_OPEN) ws.send(JSON.stringify({ type: "stream.stop" }));
      ws.close(1000, "broadcaster stopped");
    }
    this.setState({ state: "stopped" });
  }

  private open(): void {
    this.setState({ state: "connecting", attempt: this.backoff.attempt });
    const attempt = ++this.opening; // a stop() (and start()) while the token function runs supersedes it
    this.token.resolveFor((t) => this.openWith(t), (err) => this.tokenFailed(err), () => attempt === this.opening && !this.stopped);
  }

  /** The token function failed: said on `auth`, and retried like a socket that could not open. */
  private tokenFailed(err: unknown): void {
    this.emit("auth", { type: "refresh-failed", message: err instanceof Error ? err.message : String(err) });
    this.scheduleRetry(1006);
  }

  private openWith(token: string | undefined): void {
    let ws: WebSocketLike;
    try {
      const target = this.token.target(this.url, token);
      ws = this.createSocket(target.url, target.init);
    } catch {
      this.scheduleRetry(1006);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.socket = ws;
    let failure: ErrorMessage | null = null;
    ws.onopen = () => {
      const { format, channels } = this.o;
      const start = { type: "stream.start", format, title: this.title, metadata: this.metadata, ...(format === "opus" ? { channels: channels ?? 2 } : {}) };
      ws.send(JSON.stringify(this.sessionId ? { ...start, resume: this.sessionId } : start));
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      let msg: ServerMessage;
      try {
        msg = JSON.parse(ev.data) as ServerMessage;
      } catch {
        return;
      }
      const auth = asAuthMessage(msg);
      if (auth) this.token.onMessage(auth, () => this.socket, (e) => this.emit("auth", e));
      else if (msg.type === "stream.started") this.onStarted(msg);
      else if (msg.type === "stream.status") {
        this.info = msg;
        this.emit("status", msg);
      } else if (msg.type === "error") {
        failure = msg;
        this.emit("error", msg);
      }
    };
    ws.onerror = () => undefined; // a close event follows
    ws.onclose = (ev) => {
      if (this.socket !== ws) return;
      this.socket = null;
      this.live = false;
      if (this.stopped) return;
      const code = failure?.code ?? codeOfReason(ev.reason);
      if (isFinalCloseCode(ev.code, code)) {
        const f: ErrorMessage = failure ?? { type: "error", code: code ?? `CLOSED_${ev.code}`, message: ev.reason || `closed with ${ev.code}` };
        this.stopped = true;
        this.setState({ state: "failed", code: f.code, message: f.message, afterLive: this.generation > 0 });
      } else this.scheduleRetry(ev.code, code === "RATE_LIMITED" ? RATE_LIMITED_DELAY_MS : 0);
    };
  }

  private onStarted(msg: StartedMessage): void {
    if (this.generation > 0) this.counters.reconnects++;
    this.generation++;
    this.live = true;
    this.sessionId = msg.sessionId;
    this.info = msg;
    this.backoff.reset();
    this.setState({ state: "live", sessionId: msg.sessionId, generation: this.generation });
    this.emit("started", msg);
    this.emit("status", msg);
  }

  private scheduleRetry(closeCode: number, minDelayMs = 0): void {
    const delayMs = this.backoff.schedule(() => {
      if (!this.stopped) this.open();
    }, minDelayMs);
    this.setState({ state: "retrying", attempt: this.backoff.attempt, delayMs, closeCode });
  }

  private setState(s: PublishState): void {
    this.current = s;
    this.emit("state", s);
  }
}

