/**
 * A node's SRT port (SRT_PORT, MediaMTX's 8890): one listening libsrt socket that accepts many
 * callers and tells them apart by streamid (streamid.ts): `publish:<stream>:<user>:<token>` sends
 * MPEG-TS that goes on air, `read:<stream>` receives the stream as MPEG-TS. Decisions (who may
 * publish or read, where the bytes go) belong to the {@link SrtHost}, the gateway; this file only
 * speaks the protocol.
 *
 * A streamid that starts as none of ours can is refused in the handshake itself (SRT_REJX_BAD_REQUEST,
 * 1400: the caller is told). Anything else is judged after the accept (libsrt's listen callback runs
 * on its receive thread, where waiting for a token check would stall every connection of the port),
 * so a refused token closes the connection right after the handshake; the reason is in the node's log. A publisher
 * that sends nothing for {@link SOURCE_TIMEOUT_MS} is closed, as Icecast's source-timeout.
 */
import type { Logger } from "pino";
import { SrtListener, type SrtConnection, type SrtSocketOptions } from "./libsrt";
import { parseStreamId, StreamIdError, STREAMID_PREFIXES, type SrtRequest } from "./streamid";

/** A publisher on air: its MPEG-TS goes to {@link push}; {@link end} once its connection closed. */
export interface SrtSourceHandle {
  push(bytes: Uint8Array): void;
  end(): void;
}

/** Where a reader's MPEG-TS goes; `write` returns bytes still queued (SRT keeps its own buffer: 0). */
export interface SrtReaderSink {
  write(bytes: Uint8Array): number;
  close(): void;
}

/** The gateway's side of the port. Methods throw to refuse (the message is logged). */
export interface SrtHost {
  readonly draining: boolean;
  /** Authorises and starts a publisher; `kick` closes it from the server side. */
  startPublish(req: SrtRequest, ip: string, kick: (reason: string) => void): Promise<SrtSourceHandle>;
  /** Authorises a reader and attaches it; returns its detach function. */
  startRead(req: SrtRequest, ip: string, sink: SrtReaderSink): Promise<() => void>;
}

/** A publisher that sends nothing this long (ms) is closed, as Icecast's `source-timeout` (10 s). */
const SOURCE_TIMEOUT_MS = 10_000;
/** Bytes held while a publisher's start is decided; more are dropped (counted in the log). */
const MAX_EARLY_BYTES = 1 << 20;

interface Caller {
  conn: SrtConnection;
  req: SrtRequest;
  lastDataAt: number;
  close(reason: string): void;
}

export class SrtServer {
  private listener: SrtListener | null = null;
  private readonly callers = new Set<Caller>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly host: SrtHost,
    private readonly log: Logger,
  ) {}

  /**
   * Listens on UDP `hostAddr:port`. `options`: latency and passphrase every caller gets.
   * @throws Error when SRT is not available here or the port cannot be bound.
   */
  listen(port: number, hostAddr: string, options: SrtSocketOptions = {}): void {
    this.listener = SrtListener.listen(hostAddr, port, { ...options, streamIdPrefixes: STREAMID_PREFIXES });
    this.listener.onAccept = (conn, streamId) => this.onAccept(conn, streamId);
    this.timer = setInterval(() => this.sweep(), 1000);
    this.timer.unref();
  }

  private onAccept(conn: SrtConnection, streamId: string): void {
    const ip = conn.peer.replace(/^\[?(.*?)\]?:\d+$/, "$1");
    let req: SrtRequest;
    try {
      req = parseStreamId(streamId);
    } catch (err) {
      if (!(err instanceof StreamIdError)) throw err;
      this.log.info({ peer: conn.peer, err: err.message }, "srt caller refused: bad streamid");
      conn.close();
      return;
    }
    const caller: Caller = { conn, req, lastDataAt: Date.now(), close: (reason) => this.closeCaller(caller, reason) };
    this.callers.add(caller);
    const log = this.log.child({ streamId: req.streamId, mode: req.mode, peer: conn.peer });
    if (this.host.draining) return caller.close("NODE_DRAINING");
    if (req.mode === "publish") void this.publish(caller, req, ip, log);
    else void this.read(caller, req, ip, log);
  }

  private async publish(caller: Caller, req: SrtRequest, ip: string, log: Logger): Promise<void> {
    const { conn } = caller;
    const early: Buffer[] = [];
    let earlyBytes = 0;
    let dropped = 0;
    let handle: SrtSourceHandle | null = null;
    conn.onData = (packets) => {
      caller.lastDataAt = Date.now();
      for (const p of packets) {
        if (handle) handle.push(p);
        else if (earlyBytes + p.length <= MAX_EARLY_BYTES) (early.push(p), (earlyBytes += p.length));
        else dropped += p.length;
      }
    };
    conn.onClose = (reason) => {
      this.callers.delete(caller);
      log.info({ reason }, "srt publisher left");
      handle?.end();
    };
    try {
      const h = await this.host.startPublish(req, ip, (reason) => caller.close(reason));
      if (!conn.isOpen) return h.end();
      handle = h;
      for (const p of early) h.push(p);
      log.info({ earlyBytes, dropped }, "srt publisher on air");
    } catch (err) {
      log.info({ code: (err as { type?: unknown }).type, err: (err as Error).message }, "srt publisher refused");
      caller.close("refused");
    }
  }

  private async read(caller: Caller, req: SrtRequest, ip: string, log: Logger): Promise<void> {
    const { conn } = caller;
    let refused = 0;
    let detach: (() => void) | null = null;
    conn.onData = () => undefined; // a reader sends nothing but SRT's own control packets
    conn.onClose = (reason) => {
      this.callers.delete(caller);
      log.info({ reason, refused }, "srt reader left");
      detach?.();
    };
    try {
      const d = await this.host.startRead(req, ip, {
        write: (bytes) => {
          refused += conn.write(bytes);
          return 0;
        },
        close: () => caller.close("stream ended"),
      });
      if (!conn.isOpen) return d();
      detach = d;
      log.info("srt reader joined");
    } catch (err) {
      log.info({ code: (err as { type?: unknown }).type, err: (err as Error).message }, "srt reader refused");
      caller.close("refused");
    }
  }

  /** Closes a caller from the server side. */
  private closeCaller(caller: Caller, reason: string): void {
    this.callers.delete(caller);
    if (!caller.conn.isOpen) return;
    this.log.info({ streamId: caller.req.streamId, peer: caller.conn.peer, reason }, "closing srt caller");
    caller.conn.terminate(reason);
  }

  private sweep(): void {
    const now = Date.now();
    for (const c of this.callers) {
      if (c.req.mode === "publish" && now - c.lastDataAt > SOURCE_TIMEOUT_MS) c.close("source timeout");
    }
  }

  /** Closes every publisher (a drain: their streams go offline, they reconnect elsewhere). */
  closePublishers(): void {
    for (const c of [...this.callers]) if (c.req.mode === "publish") c.close("NODE_DRAINING");
  }

  /** Stops listening and closes every caller. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const c of [...this.callers]) c.close("NODE_SHUTTING_DOWN");
    this.listener?.close();
    this.listener = null;
  }
}
