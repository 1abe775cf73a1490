/**
 * A listener's connection to `/ws/listen/:streamId` that reconnects by itself. Binary messages are
 * decoded with media/wire ({@link decodeAudioData}); text messages are the server's JSON
 * (media/wire/control.ts). Each new socket is a new "generation": whoever buffers audio must drop
 * what it holds and start again from the live edge the server sends. A reconnection names the
 * previous session (`?session=<id>`) so the server carries its statistics over. A close a retry
 * cannot fix ends it (4400-4499: a bad id, a refused token (4401 UNAUTHORIZED or TOKEN_EXPIRED,
 * 4403 FORBIDDEN), 1008: kicked); RATE_LIMITED (4429) is retried after at least
 * {@link RATE_LIMITED_DELAY_MS}.
 *
 * Token (needed when the node runs with `LISTEN_AUTH=token`, a `listen` scope): as for
 * {@link PublishConnection}: `?token=` on the URL next to `?session=` (browsers), or
 * `Authorization: Bearer` through the socket factory with `tokenIn: "header"` (Node); renewed on
 * `auth.expiring` when it comes from a function, or on demand with {@link ListenConnection.refreshToken}.
 * Renditions: {@link ListenConnectionOptions.rendition} (`?rendition=`) and {@link ListenConnection.selectRendition}
 * (`rendition.select`) choose one, or `auto` (the gateway adapts it to the link); {@link ListenConnection.rendition}
 * is the rendition of the latest frame. A fixed choice is kept across reconnections.
 * Browser-safe and usable from Node with a `ws` socket factory.
 */
import { decodeAudioData, type AudioFrame } from "../../media/wire";
import type { ClockPongMessage, HelloMessage, ServerMessage } from "../../media/wire/control";
import { asAuthMessage, SessionToken, type AuthEvent, type TokenPlacement, type TokenSource } from "./auth";
import { Backoff, type BackoffOptions } from "./backoff";
import { Emitter } from "./emitter";
import { codeOfReason, defaultSocketFactory, isFinalCloseCode, RATE_LIMITED_DELAY_MS, SOCKET_OPEN, streamSocketUrl, type SocketFactory, type WebSocketLike } from "./socket";

/** Where the connection is. */
export type ListenState =
  | { state: "connecting"; attempt: number }
  | { state: "open"; sessionId: string; generation: number }
  | { state: "retrying"; attempt: number; delayMs: number; closeCode: number }
  /**
   * Closed for good: by {@link ListenConnection.stop} (1000), or by the server (`final`), with the
   * code of its last `error` message or close reason when it named one (e.g. `UNAUTHORIZED`).
   */
  | { state: "closed"; closeCode: number; final: boolean; code: string | null; message: string | null };

export interface ListenEvents {
  /** A decoded audio.data frame; `arrivalMs` is {@link ListenConnectionOptions.now} at arrival. */
  frame: { frame: AudioFrame; arrivalMs: number; generation: number };
  /** A JSON message from the server (hello, stream.status, stream.metadata, sync.tick, error); not clock.pong. */
  message: ServerMessage;
  /** A clock.pong; `arrivalMs` is {@link ListenConnectionOptions.now} when its message arrived (the exchange's t3). */
  clockPong: { pong: ClockPongMessage; arrivalMs: number };
  state: ListenState;
  /** A binary message that is not a valid audio.data frame (counted, then ignored). */
  badFrame: Error;
  /** The token is expiring, a new one was sent, or the server accepted it. */
  auth: AuthEvent;
}

export interface ListenConnectionOptions {
  /** Gateway base URL: http(s)://host:port or ws(s)://host:port. */
  baseUrl: string;
  streamId: string;
  /** The listener's token (a `listen` scope, when the node asks for one), or a function that gives one. */
  token?: TokenSource;
  /** Where the token goes: `query` (`?token=`, default; browsers) or `header` (`Authorization: Bearer`, Node). */
  tokenIn?: TokenPlacement;
  createSocket?: SocketFactory;
  backoff?: BackoffOptions;
  /** Clock for arrival times, ms. Default performance.now(). */
  now?: () => number;
  /** `auto` (default: the gateway adapts it) or a rendition id of `hello.renditions` (`?rendition=`). */
  rendition?: "auto" | number;
}

/** Counters of one connection, across its reconnections. */
export interface ListenCounters {
  framesReceived: number;
  bytesReceived: number;
  badFrames: number;
  /** Sequence numbers missing between frames of the same socket and rendition (each rendition has its own). */
  seqGaps: number;
  /** Sockets opened after the first one. */
  reconnects: number;
}

/** How often a listener in `auto` mode sends its receiver report (`listener.report`), ms. */
export const REPORT_INTERVAL_MS = 1000;

export class ListenConnection extends Emitter<ListenEvents> {
  readonly counters: ListenCounters = { framesReceived: 0, bytesReceived: 0, badFrames: 0, seqGaps: 0, reconnects: 0 };
  /** The last hello (codec, channels, session id); null before the first. */
  hello: HelloMessage | null = null;
  private current: ListenState = { state: "connecting", attempt: 0 };
  private socket: WebSocketLike | null = null;
  private generation = 0;
  private lastSeq: number | null = null;
  /** Rendition of the latest frame (from hello before the first); null before hello. */
  rendition: number | null = null;
  /** The listener's choice: `auto`, or a fixed rendition id. */
  renditionChoice: "auto" | number;
  /** The server's last `error` message on the current socket (says why it closes). */
  private lastError: { code: string; message: string } | null = null;
  private stopped = false;
  private readonly backoff: Backoff;
  private readonly createSocket: SocketFactory;
  private readonly now: () => number;
  private readonly url: string;
  private readonly token: SessionToken;
  /** Counts socket openings that wait for the token function; a later one (or stop) supersedes it. */
  private opening = 0;
  /** End of the newest frame received on this socket (media time, samples at 48 kHz); null before one. */
  private receivedEnd: number | null = null;
  private reportTimer: ReturnType<typeof setInterval> | null = null;

  constructor(o: ListenConnectionOptions) {
    super();
    this.url = streamSocketUrl(o.baseUrl, "listen", o.streamId);
    this.token = new SessionToken(o.token, o.tokenIn);
    this.backoff = new Backoff(o.backoff);
    this.createSocket = o.createSocket ?? defaultSocketFactory();
    this.now = o.now ?? (() => performance.now());
    this.renditionChoice = o.rendition ?? "auto";
  }

  /**
   * Asks for rendition `r` (an id of `hello.renditions`) or `auto`; the server answers with
   * `rendition.changed` when the rendition changes, or an `error` (BAD_REQUEST) for one it does not
   * have. Kept for later sockets (`?rendition=`). Returns whether it went out on an open socket.
   */
  selectRendition(r: "auto" | number): boolean {
    this.renditionChoice = r;
    return this.sendJson({ type: "rendition.select", rendition: r });
  }

  /** Where the connection is now. */
  get state(): ListenState {
    return this.current;
  }

  /**
   * Sends a JSON message (e.g. a clock.ping) on the open socket; returns false, sending nothing,
   * when no socket is open.
   */
  sendJson(message: object): boolean {
    const ws = this.socket;
    if (!ws || ws.readyState !== SOCKET_OPEN || this.current.state !== "open") return false;
    ws.send(JSON.stringify(message));
    return true;
  }

  /**
   * Opens the first socket. While the choice is `auto`, a receiver report (`listener.report`, the
   * media time received) goes to the gateway every {@link REPORT_INTERVAL_MS}: its ABR sees from
   * it audio still on the way, which its own send queue does not show (docs/protocol.md).
   */
  start(): void {
    this.stopped = false;
    this.open();
    this.reportTimer ??= setInterval(() => {
      if (this.renditionChoice === "auto" && this.receivedEnd !== null) this.sendJson({ type: "listener.report", received: this.receivedEnd });
    }, REPORT_INTERVAL_MS);
    (this.reportTimer as { unref?(): void }).unref?.();
  }

  /**
   * Sends a token for the session now (`auth.refresh`): `token` replaces the connection's token
   * (for later sockets too); without it, the token function is asked. Resolves to whether a token
   * went out on an open socket; the `auth` event then says whether the server took it.
   */
  refreshToken(token?: string): Promise<boolean> {
    return this.token.refresh(() => this.socket, (e) => this.emit("auth", e), token);
  }

  /** Closes the socket (1000) and stops reconnecting. */
  stop(): void {
    this.stopped = true;
    this.opening++;
    if (this.reportTimer) clearInterval(this.reportTimer);
    this.reportTimer = null;
    this.backoff.cancel();
    const ws = this.socket;
    this.socket = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      ws.close(1000, "listener stopped");
    }
    this.setState({ state: "closed", closeCode: 1000, final: true, code: null, message: null });
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
      const target = this.token.target(this.url, token, { session: this.hello?.sessionId, rendition: this.renditionChoice === "auto" ? undefined : String(this.renditionChoice) });
      ws = this.createSocket(target.url, target.init);
    } catch {
      this.scheduleRetry(1006);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.socket = ws;
    this.lastError = null;
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onerror = () => undefined; // a close event follows
    ws.onclose = (ev) => {
      if (this.socket !== ws) return;
      this.socket = null;
      if (this.stopped) return;
      const code = this.lastError?.code ?? codeOfReason(ev.reason);
      if (isFinalCloseCode(ev.code, code)) this.setState({ state: "closed", closeCode: ev.code, final: true, code, message: this.lastError?.message ?? (ev.reason || null) });
      else this.scheduleRetry(ev.code, code === "RATE_LIMITED" ? RATE_LIMITED_DELAY_MS : 0);
    };
  }

  private scheduleRetry(closeCode: number, minDelayMs = 0): void {
    const delayMs = this.backoff.schedule(() => {
      if (!this.stopped) this.open();
    }, minDelayMs);
    this.setState({ state: "retrying", attempt: this.backoff.attempt, delayMs, closeCode });
  }

  private onMessage(data: unknown): void {
    const arrivalMs = this.now();
    if (typeof data === "string") {
      let msg: ServerMessage;
      try {
        msg = JSON.parse(data) as ServerMessage;
      } catch {
        return;
      }
      const auth = asAuthMessage(msg);
      if (auth) return this.token.onMessage(auth, () => this.socket, (e) => this.emit("auth", e));
      if (msg.type === "error") this.lastError = { code: msg.code, message: msg.message };
      if (msg.type === "clock.pong") {
        this.emit("clockPong", { pong: msg, arrivalMs });
        return;
      }
      if (msg.type === "hello") this.onHello(msg);
      this.emit("message", msg);
      return;
    }
    if (!(data instanceof ArrayBuffer)) return;
    let frame: AudioFrame;
    try {
      frame = decodeAudioData(new Uint8Array(data));
    } catch (err) {
      this.counters.badFrames++;
      this.emit("badFrame", err as Error);
      return;
    }
    const c = this.counters;
    // seq counts per rendition: a rendition change starts a new count (media time stays continuous)
    if (frame.rendition !== this.rendition) this.lastSeq = null;
    this.rendition = frame.rendition;
    if (this.lastSeq !== null && frame.seq !== ((this.lastSeq + 1) >>> 0)) c.seqGaps += (frame.seq - this.lastSeq - 1) >>> 0;
    this.lastSeq = frame.seq;
    c.framesReceived++;
    c.bytesReceived += data.byteLength;
    this.receivedEnd = frame.mediaTime + frame.duration;
    this.emit("frame", { frame, arrivalMs, generation: this.generation });
  }

  private onHello(msg: HelloMessage): void {
    if (this.hello) this.counters.reconnects++;
    this.hello = msg;
    this.generation++;
    this.lastSeq = null;
    this.receivedEnd = null;
    this.rendition = msg.rendition;
    this.backoff.reset();
    this.setState({ state: "open", sessionId: msg.sessionId, generation: this.generation });
  }

  private setState(s: ListenState): void {
    this.current = s;
    this.emit("state", s);
  }
}
