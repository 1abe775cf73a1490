/**
 * The Icecast-compatible port on node:net: sources (`PUT` and `SOURCE /<mount>`), libshout's probes
 * (`OPTIONS *`, `GET /admin/!POKE`), `/admin/metadata`, `/status-json.xsl` and HTTP listeners
 * (`GET /<mount>`, `/live/<id>.ogg`). It reads each request head itself (head.ts: 8 KiB, 100
 * headers, 10 s) and, for a source, treats every later byte as audio until the socket closes.
 *
 * Decisions (who may publish, what a mount is live with, where listeners' bytes come from) belong
 * to the {@link IcecastHost}, the gateway; this file only speaks the protocol. Bad input is
 * answered with an HTTP error and the socket closed; nothing a client sends can throw past a
 * connection's handlers.
 */
import net from "node:net";
import type { Logger } from "pino";
import { HEAD_LIMITS, HeadError, parseHead, type RequestHead } from "./head";
import {
  basicPassword, errorResponse, formatOfContentType, iceMetadata, iceResponse, mountToStreamId, response, statusJson, targetPath,
  type IcecastFormat, type IcecastSourceStatus,
} from "./protocol";

/** A refusal of the host, answered with `status` (401 adds Icecast's Basic challenge). */
export class IcecastError extends Error {
  override readonly name = "IcecastError";
  /** @param headers sent with the answer, e.g. `Retry-After` with a 429. */
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The answer to a refusal thrown by the host: its status, message and headers (500 for anything not an {@link IcecastError}). */
function refusalResponse(version: string, err: unknown): Buffer {
  if (err instanceof IcecastError) return errorResponse(version, err.status, err.message, err.headers);
  return errorResponse(version, 500, err instanceof Error ? err.message : "refused");
}

/** A source asking to go live. */
export interface SourceRequest {
  streamId: string;
  /** The Basic password (a publish token, or SOURCE_PASSWORD); undefined when none was sent. */
  password: string | undefined;
  ip: string;
  format: IcecastFormat;
  /** From `ice-name` (else the stream id). */
  title: string;
  /** From the `ice-*` headers: name, description, genre, url, public, bitrate. */
  metadata: Record<string, string>;
  /** How it came: `PUT` or `SOURCE`. */
  method: string;
}

/** A source on air: its bytes go to {@link push}; {@link end} once its socket closed. */
export interface SourceHandle {
  push(bytes: Uint8Array): void;
  end(): void;
}

/** Where an HTTP listener's bytes go; {@link ListenerSink.write} returns bytes still queued for it. */
export interface ListenerSink {
  write(bytes: Uint8Array): number;
  close(): void;
}

/** What an HTTP listener asked for. */
export interface ListenRequest {
  streamId: string;
  /**
   * `ogg`: Ogg/Opus of the stream's frames; `mp3`, `aac`: the source's own MP3 or ADTS AAC bytes (a
   * source of that format only); `source`: the source's own format when it sends MP3 or AAC, else `ogg` (the host resolves it in
   * {@link IcecastHost.listenHeaders}, as Icecast serves a mount in its source's format).
   */
  format: "ogg" | "mp3" | "aac" | "mpegts" | "source";
  /** `Icy-MetaData: 1`: ICY metadata every {@link ICY_METAINT} bytes. */
  icy: boolean;
  ip: string;
  /** `?token=`: a listen token, needed only with LISTEN_AUTH=token. */
  token?: string;
  /** A HEAD request: the headers only (no listener is counted). */
  head?: boolean;
  /** How it listens, for the listener-session actor: `http` (default), `srt` (an SRT reader), `relay` (an operator's push). */
  kind?: "http" | "srt" | "relay";
  /** `sub` of its listen token, set by {@link IcecastHost.listenHeaders} when it gave one. */
  sub?: string;
  /** MP3 or AAC of a source that sends another format: made from the stream's Opus (set by {@link IcecastHost.listenHeaders}). */
  transcode?: boolean;
  /**
   * The listener's place under the listener quotas, taken by {@link IcecastHost.listenHeaders} and
   * released by the detach function of {@link IcecastHost.listen}; whoever does not go on to
   * `listen` (the client left meanwhile) releases it.
   */
  slot?: { release(): Promise<void> };
}

/** The gateway's side of the port. Methods throw {@link IcecastError} to refuse. */
export interface IcecastHost {
  /** A drain is under way: new sources and listeners are refused with 503. */
  readonly draining: boolean;
  /** Authorises and starts a source; `kick` closes it from the server side (drain, takeover, an operator's stop). */
  startSource(req: SourceRequest, kick: (reason: string) => void): Promise<SourceHandle>;
  /** `/admin/metadata?mode=updinfo&song=…` of a source on air here. */
  updateMetadata(req: { streamId: string; password: string | undefined; ip: string; song: string }): Promise<void>;
  /** Live streams for `/status-json.xsl`; `base` is `http://<Host>` of the request. */
  sources(base: string): Promise<IcecastSourceStatus[]>;
  /** Headers of a listener's answer (Content-Type, icy-*); throws 404 for a stream that is not live. */
  listenHeaders(req: ListenRequest): Promise<Record<string, string>>;
  /** Attaches a listener; returns its detach function. */
  listen(req: ListenRequest, sink: ListenerSink): () => void;
}

/** Bytes of audio between two ICY metadata blocks (Icecast's default `icy-metaint`). */
export const ICY_METAINT = 16_000;
/** A source that sends nothing this long (ms) is closed, as Icecast's `source-timeout` (10 s). */
const SOURCE_TIMEOUT_MS = 10_000;
/** Body bytes held while a source's start is decided; more is a misbehaving client. */
const MAX_EARLY_BODY_BYTES = 1 << 20;

type ConnState = "head" | "busy" | "source" | "listener" | "closed";

export class IcecastServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly sourceSockets = new Set<net.Socket>();
  private readonly started = new Date();
  port = 0;

  constructor(
    private readonly host: IcecastHost,
    private readonly log: Logger,
  ) {
    this.server = net.createServer((sock) => this.onConnection(sock));
  }

  /** Listens on `port` (0: a free one). @throws Error with `code` EADDRINUSE when the port is taken. */
  async listen(port: number, hostAddr: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once("error", onError);
      this.server.listen({ port, host: hostAddr, exclusive: true }, () => {
        this.server.off("error", onError);
        this.server.on("error", (err) => this.log.error({ err }, "icecast port error"));
        resolve();
      });
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** Sources connected now. */
  get sourceCount(): number {
    return this.sourceSockets.size;
  }

  /** Closes every source's socket (a drain: they reconnect to another node). */
  closeSources(): void {
    for (const sock of this.sourceSockets) sock.destroy();
  }

  /** Stops listening and closes every connection. */
  close(): void {
    this.server.close();
    for (const sock of this.sockets) sock.destroy();
  }

  private onConnection(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.setNoDelay(true);
    const ip = sock.remoteAddress?.replace(/^::ffff:/, "") ?? "";
    let state: ConnState = "head";
    let buf: Buffer = Buffer.alloc(0);
    let onBody: ((chunk: Buffer) => void) | null = null;
    let headTimer: NodeJS.Timeout | null = null;
    const armHeadTimer = () => {
      if (headTimer) clearTimeout(headTimer);
      headTimer = setTimeout(() => {
        if (state !== "head") return;
        this.log.info({ ip, bytes: buf.length }, "icecast: request head not complete in time");
        finish(errorResponse("HTTP/1.0", 408, `the request head must arrive within ${HEAD_LIMITS.HEAD_TIMEOUT_MS / 1000} s`));
      }, HEAD_LIMITS.HEAD_TIMEOUT_MS);
    };
    /** Writes a last answer and closes. */
    const finish = (bytes: Buffer) => {
      if (state === "closed") return;
      state = "closed";
      if (headTimer) clearTimeout(headTimer);
      sock.end(bytes);
      setTimeout(() => sock.destroy(), 2000).unref();
    };
    /** Answers and goes on reading the next request on this connection (HTTP/1.1 keep-alive). */
    const answer = (head: RequestHead, bytes: Buffer, keepAlive: boolean) => {
      if (!keepAlive || !canKeepAlive(head)) return finish(bytes);
      sock.write(bytes);
      state = "head";
      armHeadTimer();
      if (buf.length > 0) setImmediate(() => onData(Buffer.alloc(0)));
    };
    const ctx: Conn = {
      sock, ip,
      answer,
      finish,
      becomeSource: (handleBody) => {
        state = "source";
        this.sourceSockets.add(sock);
        sock.setTimeout(SOURCE_TIMEOUT_MS, () => {
          this.log.info({ ip }, "icecast: source sent nothing for 10 s; closing it");
          sock.destroy();
        });
        onBody = handleBody;
        const early = buf;
        buf = Buffer.alloc(0);
        if (early.length > 0) handleBody(early);
      },
      becomeListener: () => {
        state = "listener";
      },
      isClosed: () => state === "closed" || sock.destroyed,
    };
    const onData = (chunk: Buffer) => {
      if (state === "source") {
        try {
          onBody?.(chunk);
        } catch (err) {
          this.log.error({ err, ip }, "icecast: a source's audio could not be passed on; closing it");
          sock.destroy();
        }
        return;
      }
      if (state === "closed" || state === "listener") return;
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (state === "busy") {
        if (buf.length > MAX_EARLY_BODY_BYTES) finish(errorResponse("HTTP/1.0", 400, "audio sent before the answer to the request"));
        return;
      }
      let head: RequestHead | null;
      try {
        head = parseHead(buf);
      } catch (err) {
        const e = err as HeadError;
        this.log.info({ ip, status: e.status, reason: e.message }, "icecast: bad request head");
        return finish(errorResponse("HTTP/1.0", e.status ?? 400, e.message, e.status === 405 ? { Allow: "GET, HEAD, PUT, SOURCE, OPTIONS" } : {}));
      }
      if (!head) return;
      if (headTimer) clearTimeout(headTimer);
      buf = buf.subarray(head.length);
      state = "busy";
      this.dispatch(head, ctx).catch((err: unknown) => {
        this.log.error({ err, ip, method: head.method }, "icecast: request failed");
        finish(errorResponse(head.version, 500, "internal error"));
      });
    };
    armHeadTimer();
    sock.on("data", onData);
    sock.on("error", () => undefined); // resets, EPIPE: the close handler cleans up
    sock.on("close", () => {
      state = "closed";
      if (headTimer) clearTimeout(headTimer);
      this.sockets.delete(sock);
      this.sourceSockets.delete(sock);
      ctx.onClose?.();
    });
  }

  private async dispatch(head: RequestHead, c: Conn): Promise<void> {
    const { method, target, version, headers } = head;
    const path = targetPath(target);
    if (method === "OPTIONS") {
      // libshout probes for TLS (Upgrade: TLS/1.0) with OPTIONS *: plain answer, no upgrade
      return c.answer(head, response(version, 200, { Allow: "GET, HEAD, PUT, SOURCE, OPTIONS" }, "", canKeepAlive(head)), true);
    }
    if (method === "SOURCE" || method === "PUT") return this.onSource(head, c);
    if (path === "/admin/!POKE") return c.answer(head, response(version, 200, { "Content-Type": "text/xml" }, iceResponse("OK", true), canKeepAlive(head)), true);
    if (path === "/admin/metadata" || path === "/admin/metadata.xsl") return this.onMetadata(head, c);
    if (path === "/status-json.xsl") {
      const base = `http://${headers.host ?? `localhost:${this.port}`}`;
      const body = statusJson({ admin: "icemaster@localhost", host: (headers.host ?? "localhost").replace(/:\d+$/, ""), location: "veza-stream", serverStart: this.started, sources: await this.host.sources(base) });
      return c.answer(head, response(version, 200, { "Content-Type": "application/json; charset=utf-8", "Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache" }, method === "HEAD" ? undefined : body, canKeepAlive(head)), true);
    }
    if (path.startsWith("/admin/")) return c.finish(errorResponse(version, 404, "this admin request is not served here (only /admin/metadata)"));
    return this.onListen(head, c);
  }

  private async onSource(head: RequestHead, c: Conn): Promise<void> {
    const { version, headers, method, target } = head;
    const streamId = mountToStreamId(target);
    if (!streamId) return c.finish(errorResponse(version, 400, "the mount must be /<stream id>, 1-64 of A-Z a-z 0-9 _ - (an extension such as .mp3 is stripped)"));
    const format = formatOfContentType(headers["content-type"]);
    if (!format) return c.finish(errorResponse(version, 415, `Content-type ${headers["content-type"] ?? "(none)"} not supported: audio/mpeg, audio/ogg, application/ogg, audio/webm, audio/aac, audio/aacp, audio/flac`));
    const password = basicPassword(headers.authorization);
    if (password === undefined) return c.finish(errorResponse(version, 401, "You need to authenticate"));
    if (this.host.draining) return c.finish(errorResponse(version, 503, "this node is draining; connect to another one"));
    const { title, metadata } = iceMetadata(headers, streamId);
    let handle: SourceHandle;
    try {
      handle = await this.host.startSource({ streamId, password, ip: c.ip, format, title, metadata, method }, (reason) => {
        this.log.info({ streamId, reason }, "icecast: closing source");
        c.sock.destroy();
      });
    } catch (err) {
      return c.finish(refusalResponse(version, err));
    }
    if (c.isClosed()) return handle.end();
    c.onClose = () => handle.end();
    // ffmpeg's PUT waits for 100 Continue before it sends audio; libshout's SOURCE waits for 200
    if (/100-continue/i.test(headers.expect ?? "")) c.sock.write("HTTP/1.1 100 Continue\r\n\r\n");
    c.sock.write(response(version, 200, {}, undefined, true));
    this.log.info({ streamId, format, method, ip: c.ip }, "icecast: source on air");
    c.becomeSource((chunk) => handle.push(chunk));
  }

  private async onMetadata(head: RequestHead, c: Conn): Promise<void> {
    const { version, headers, target } = head;
    const q = new URLSearchParams(target.slice(target.indexOf("?") + 1));
    const password = basicPassword(headers.authorization);
    if (password === undefined) return c.finish(errorResponse(version, 401, "You need to authenticate"));
    const streamId = mountToStreamId(q.get("mount") ?? "");
    const xml = (status: number, message: string, ok: boolean) => c.answer(head, response(version, status, { "Content-Type": "text/xml" }, iceResponse(message, ok), status === 200 && canKeepAlive(head)), status === 200);
    if (!streamId) return xml(400, "Missing or bad parameter: mount", false);
    if (q.get("mode") !== "updinfo") return xml(400, "No such mode: only mode=updinfo", false);
    try {
      await this.host.updateMetadata({ streamId, password, ip: c.ip, song: (q.get("song") ?? "").slice(0, 256) });
    } catch (err) {
      const status = err instanceof IcecastError ? err.status : 500;
      if (status === 401) return c.finish(errorResponse(version, 401, "You need to authenticate"));
      return xml(status, err instanceof Error ? err.message : "refused", false);
    }
    return xml(200, "Metadata update successful", true);
  }

  private async onListen(head: RequestHead, c: Conn): Promise<void> {
    const { version, method, target, headers } = head;
    if (method !== "GET" && method !== "HEAD") return c.finish(errorResponse(version, 405, `${method} is for sources`, { Allow: "GET, HEAD, PUT, SOURCE, OPTIONS" }));
    const path = targetPath(target);
    const live = /^\/live\/([A-Za-z0-9_-]{1,64})\.(ogg|mp3|aac)$/.exec(path);
    const streamId = live ? live[1]! : mountToStreamId(path);
    if (!streamId) return c.finish(errorResponse(version, 404, "The file you requested could not be found"));
    if (this.host.draining) return c.finish(errorResponse(version, 503, "this node is draining; connect to another one"));
    const token = new URLSearchParams(target.slice(target.indexOf("?") + 1 || target.length)).get("token") ?? undefined;
    const req: ListenRequest = { streamId, format: live ? (live[2] as "ogg" | "mp3" | "aac") : "source", icy: headers["icy-metadata"] === "1", ip: c.ip, token, head: method === "HEAD" };
    let extra: Record<string, string>;
    try {
      extra = await this.host.listenHeaders(req);
    } catch (err) {
      return c.finish(refusalResponse(version, err));
    }
    const headLines = response(version, 200, { ...extra, "Cache-Control": "no-cache, no-store", Expires: "Mon, 26 Jul 1997 05:00:00 GMT", Pragma: "no-cache", "Access-Control-Allow-Origin": "*" });
    if (method === "HEAD") return c.finish(headLines);
    c.becomeListener();
    c.sock.setTimeout(0);
    // the answer's head and the burst the host sends at once go out in one write (writev)
    c.sock.cork();
    c.sock.write(headLines);
    const sink: ListenerSink = {
      write: (bytes) => {
        if (!c.sock.destroyed) c.sock.write(bytes);
        return c.sock.writableLength;
      },
      close: () => c.sock.destroy(),
    };
    if (c.isClosed()) return void req.slot?.release();
    c.onClose = this.host.listen(req, sink);
    c.sock.uncork();
  }
}

/** Whether the connection may carry another request after this one's answer (HTTP/1.1 without Connection: close). */
function canKeepAlive(head: RequestHead): boolean {
  return head.version === "HTTP/1.1" && !/close/i.test(head.headers.connection ?? "");
}

/** One connection as the request handlers see it. */
interface Conn {
  sock: net.Socket;
  ip: string;
  /** Answers; with `keepAlive` (and HTTP/1.1 without Connection: close) reads the next request. */
  answer(head: RequestHead, bytes: Buffer, keepAlive: boolean): void;
  /** Answers and closes. */
  finish(bytes: Buffer): void;
  /** Every later byte is the source's audio. */
  becomeSource(onBody: (chunk: Buffer) => void): void;
  /** The connection now only writes (an HTTP listener). */
  becomeListener(): void;
  isClosed(): boolean;
  onClose?: () => void;
}
