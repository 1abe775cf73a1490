/**
 * A listener's connection to `/ws/listen/:streamId` that reconnects by itself. Binary messages are
 * decoded with media/wire ({@link decodeAudioData}); text messages are the server's JSON
 * (media/wire/control.ts). Each new socket is a new "generation": whoever buffers audio must drop
 * what it holds and start again from the live edge the server sends. A reconnection names the
 * previous session (`?session=<id>`) so the server carries its statistics over. Browser-safe and
 * usable from Node with a `ws` socket factory.
 */
import { decodeAudioData, type AudioFrame } from "../../media/wire";
import type { ClockPongMessage, HelloMessage, ServerMessage } from "../../media/wire/control";
import { Backoff, type BackoffOptions } from "./backoff";
import { Emitter } from "./emitter";
import { defaultSocketFactory, isFinalCloseCode, SOCKET_OPEN, streamSocketUrl, type SocketFactory, type WebSocketLike } from "./socket";

/** Where the connection is. */
export type ListenState =
  | { state: "connecting"; attempt: number }
  | { state: "open"; sessionId: string; generation: number }
  | { state: "retrying"; attempt: number; delayMs: number; closeCode: number }
  | { state: "closed"; closeCode: number; final: boolean };

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
}

export interface ListenConnectionOptions {
  /** Gateway base URL: http(s)://host:port or ws(s)://host:port. */
  baseUrl: string;
  streamId: string;
  createSocket?: SocketFactory;
  backoff?: BackoffOptions;
  /** Clock for arrival times, ms. Default performance.now(). */
  now?: () => number;
}

/** Counters of one connection, across its reconnections. */
export interface ListenCounters {
  framesReceived: number;
  bytesReceived: number;
  badFrames: number;
  /** Sequence numbers missing between frames of the same socket. */
  seqGaps: number;
  /** Sockets opened after the first one. */
  reconnects: number;
}

export class ListenConnection extends Emitter<ListenEvents> {
  readonly counters: ListenCounters = { framesReceived: 0, bytesReceived: 0, badFrames: 0, seqGaps: 0, reconnects: 0 };
  /** The last hello (codec, channels, session id); null before the first. */
  hello: HelloMessage | null = null;
  private current: ListenState = { state: "connecting", attempt: 0 };
  private socket: WebSocketLike | null = null;
  private generation = 0;
  private lastSeq: number | null = null;
  private stopped = false;
  private readonly backoff: Backoff;
  private readonly createSocket: SocketFactory;
  private readonly now: () => number;
  private readonly url: string;

  constructor(o: ListenConnectionOptions) {
    super();
    this.url = streamSocketUrl(o.baseUrl, "listen", o.streamId);
    this.backoff = new Backoff(o.backoff);
    this.createSocket = o.createSocket ?? defaultSocketFactory();
    this.now = o.now ?? (() => performance.now());
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

  /** Opens the first socket. */
  start(): void {
    this.stopped = false;
    this.open();
  }

  /** Closes the socket (1000) and stops reconnecting. */
  stop(): void {
    this.stopped = true;
    this.backoff.cancel();
    const ws = this.socket;
    this.socket = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      ws.close(1000, "listener stopped");
    }
    this.setState({ state: "closed", closeCode: 1000, final: true });
  }

  private open(): void {
    this.setState({ state: "connecting", attempt: this.backoff.attempt });
    let ws: WebSocketLike;
    const sessionId = this.hello?.sessionId;
    try {
      ws = this.createSocket(sessionId ? `${this.url}?session=${encodeURIComponent(sessionId)}` : this.url);
    } catch {
      this.scheduleRetry(1006);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.socket = ws;
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onerror = () => undefined; // a close event follows
    ws.onclose = (ev) => {
      if (this.socket !== ws) return;
      this.socket = null;
      if (this.stopped) return;
      if (isFinalCloseCode(ev.code)) this.setState({ state: "closed", closeCode: ev.code, final: true });
      else this.scheduleRetry(ev.code);
    };
  }

  private scheduleRetry(closeCode: number): void {
    const delayMs = this.backoff.schedule(() => {
      if (!this.stopped) this.open();
    });
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
    if (this.lastSeq !== null && frame.seq !== ((this.lastSeq + 1) >>> 0)) c.seqGaps += (frame.seq - this.lastSeq - 1) >>> 0;
    this.lastSeq = frame.seq;
    c.framesReceived++;
    c.bytesReceived += data.byteLength;
    this.emit("frame", { frame, arrivalMs, generation: this.generation });
  }

  private onHello(msg: HelloMessage): void {
    if (this.hello) this.counters.reconnects++;
    this.hello = msg;
    this.generation++;
    this.lastSeq = null;
    this.backoff.reset();
    this.setState({ state: "open", sessionId: msg.sessionId, generation: this.generation });
  }

  private setState(s: ListenState): void {
    this.current = s;
    this.emit("state", s);
  }
}
