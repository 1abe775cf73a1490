/**
 * The gateway's side of the Icecast-compatible port (transports/icecast/server.ts): who may
 * publish (a publish token of the stream as the source password, or SOURCE_PASSWORD), putting the
 * source on air through its stream's owner exactly as a WebSocket broadcaster of a container is
 * (`stream.start`, then its bytes on `ingest.<id>`, `stream.stop` when it leaves), now-playing
 * updates (`/admin/metadata`), the status page's sources and the HTTP listeners' answers.
 *
 * An Icecast source cannot resume a session: when it leaves (a drain included) its stream goes
 * offline at once, so that its reconnection, here or on another node, starts it again.
 */
import { randomUUID, timingSafeEqual } from "node:crypto";
import { limitError, retryAfterOf } from "../actors/auth/access";
import { call } from "../actors/contract";
import { ERROR_CATALOGUE, errorCodeOf, type ErrorCode } from "../actors/errors";
import type { StreamInfo } from "../media/wire/control";
import { subjects } from "../transports";
import { IcecastError, IcecastServer, type IcecastHost, type ListenerSink, type ListenRequest, type SourceHandle, type SourceRequest } from "../transports/icecast/server";
import type { IcecastSourceStatus } from "../transports/icecast/protocol";
import type { Gateway } from "./gateway";
import { limitRefusal } from "./http-listeners";
import { rehome, type OnAirSession } from "./rehome";

/** An Icecast source on air through this gateway. */
interface IcecastSource extends OnAirSession {
  sub: string;
  ip: string;
  ended: boolean;
  kick(reason: string): void;
}

/** Icecast's answers to the catalogue's refusals. */
function refusal(err: unknown): IcecastError {
  const code: ErrorCode = errorCodeOf(err);
  const message = err instanceof Error ? err.message : ERROR_CATALOGUE[code].text;
  if (code === "BROADCASTER_EXISTS") return new IcecastError(403, "Mountpoint in use");
  if (code === "UNAUTHORIZED" || code === "TOKEN_EXPIRED") return new IcecastError(401, "You need to authenticate");
  if (code === "UNSUPPORTED_FORMAT") return new IcecastError(415, message);
  if (code === "RATE_LIMITED") {
    return new IcecastError(429, message, { "Retry-After": String(retryAfterOf(err)) });
  }
  return new IcecastError(ERROR_CATALOGUE[code].status, message);
}

export class IcecastDoor implements IcecastHost {
  readonly server: IcecastServer;
  /** Sources on air through this gateway, by stream id. */
  private readonly sources_ = new Map<string, IcecastSource>();
  /** Highest listener count seen per stream (the status page's listener_peak). */
  private readonly peaks = new Map<string, number>();

  constructor(private readonly gw: Gateway) {
    this.server = new IcecastServer(this, gw.log.child({ mod: "icecast" }));
  }

  get draining(): boolean {
    return this.gw.draining;
  }

  /**
   * Who the password lets publish on `streamId`: SOURCE_PASSWORD (compared in constant time) as
   * `icecast-source`, else the password as a publish token of the stream.
   * @throws IcecastError 401, 403, 429, 503.
   */
  private async authorize(password: string | undefined, ip: string, streamId: string): Promise<string> {
    const configured = this.gw.config.sourcePassword?.reveal()[0];
    if (configured !== undefined && password !== undefined) {
      const a = Buffer.from(password);
      const b = Buffer.from(configured);
      if (a.length === b.length && timingSafeEqual(a, b)) return "icecast-source";
    }
    try {
      const grant = await this.gw.access.authorize({ token: password, ip, action: "publish", streamId, via: "icecast.source" });
      return grant?.sub ?? "";
    } catch (err) {
      throw refusal(err);
    }
  }

  async startSource(req: SourceRequest, kick: (reason: string) => void): Promise<SourceHandle> {
    const { gw } = this;
    const conn = await gw.access.limits.connection(req.ip);
    if (!conn.ok) throw limitRefusal(conn);
    const sub = await this.authorize(req.password, req.ip, req.streamId);
    const sessionId = randomUUID();
    const start = { streamId: req.streamId, format: req.format, title: req.title, metadata: req.metadata, broadcaster: { sessionId, nodeID: gw.broker.nodeID, sub } };
    let info;
    try {
      const quota = await gw.access.limits.publishStart(sub);
      if (!quota.ok) throw limitError(quota);
      info = await gw.callOwner(req.streamId, "stream.start", start);
    } catch (err) {
      const code = errorCodeOf(err);
      gw.log.info({ streamId: req.streamId, code, via: "icecast" }, "stream.start refused");
      if (code === "FORBIDDEN" || code === "RATE_LIMITED") gw.access.auditEvent("publish.refused", { streamId: req.streamId, sub, code, ip: req.ip, via: "icecast" });
      throw refusal(err);
    }
    gw.placement.learn(info);
    const source: IcecastSource = { streamId: req.streamId, sessionId, owner: info.owner, start, rehoming: false, ingestBytes: 0, ended: false, sub, ip: req.ip, kick };
    this.sources_.get(req.streamId)?.kick("BROADCASTER_REPLACED");
    this.sources_.set(req.streamId, source);
    gw.access.auditEvent("publish.start", { streamId: req.streamId, sub, sessionId, ip: req.ip, format: req.format, via: `icecast.${req.method.toLowerCase()}` });
    gw.httpListeners.sourceStarted(req.streamId, req.format);
    const subject = subjects.ingest(req.streamId);
    return {
      push: (bytes) => {
        if (source.ended) return;
        source.ingestBytes += bytes.length;
        gw.metrics.bytesIn.inc(bytes.length);
        gw.bus.publish(subject, bytes);
      },
      end: () => {
        if (source.ended) return;
        source.ended = true;
        if (this.sources_.get(req.streamId) === source) {
          this.sources_.delete(req.streamId);
          gw.httpListeners.sourceEnded(req.streamId);
        }
        gw.access.auditEvent("publish.stop", { streamId: req.streamId, sub, sessionId, ip: req.ip, via: "icecast" });
        gw.log.info({ streamId: req.streamId, sessionId }, "icecast source left");
        void call(gw.broker, "stream.stop", { streamId: req.streamId, sessionId, reason: "disconnect", ingestBytes: source.ingestBytes }, { nodeID: source.owner ?? undefined }).catch((err: unknown) =>
          gw.log.warn({ err, streamId: req.streamId }, "stream.stop after an icecast source left failed"),
        );
      },
    };
  }

  async updateMetadata(req: { streamId: string; password: string | undefined; ip: string; song: string }): Promise<void> {
    await this.authorize(req.password, req.ip, req.streamId);
    const source = this.sources_.get(req.streamId);
    if (!source) throw new IcecastError(400, "Source does not exist");
    try {
      if (source.start) source.start.title = req.song; // a re-homed stream keeps the latest title
      await call(this.gw.broker, "stream.metadata", { streamId: req.streamId, sessionId: source.sessionId, title: req.song }, { nodeID: source.owner ?? undefined });
    } catch (err) {
      throw refusal(err);
    }
  }

  async sources(base: string): Promise<IcecastSourceStatus[]> {
    const live = (await this.gw.listStreams()).filter((s) => s.state === "live");
    return live.map((s: StreamInfo) => {
      const peak = Math.max(this.peaks.get(s.streamId) ?? 0, s.listeners);
      this.peaks.set(s.streamId, peak);
      return {
        listenurl: `${base}/${s.streamId}`,
        listeners: s.listeners,
        listener_peak: peak,
        server_name: s.metadata.name ?? s.streamId,
        server_description: s.metadata.description ?? "",
        genre: s.metadata.genre ?? "",
        title: s.title,
        bitrate: Math.round(s.bitrate / 1000),
        server_type: "audio/ogg",
        ...(s.metadata.url ? { server_url: s.metadata.url } : {}),
        stream_start_iso8601: s.startedAt ?? "",
      };
    });
  }

  listenHeaders(req: ListenRequest): Promise<Record<string, string>> {
    return this.gw.httpListeners.headers(req);
  }

  listen(req: ListenRequest, sink: ListenerSink): () => void {
    return this.gw.httpListeners.attach(req, sink);
  }

  /**
   * A stream event: a source whose session the owner took off air (an operator's stop, too fast)
   * or that another broadcaster took over is closed.
   */
  onStreamEvent(kind: "start" | "stop", info: { streamId: string; sessionId?: string; code?: string }): void {
    const source = this.sources_.get(info.streamId);
    if (!source) return;
    if (kind === "start" && info.sessionId !== undefined && info.sessionId !== source.sessionId) source.kick("BROADCASTER_REPLACED");
    if (kind === "stop" && info.code && info.sessionId === source.sessionId) source.kick(info.code);
  }

  /** The node `nodeID` that owned the streams of some sources here was lost: they are re-homed (gateway/rehome.ts). */
  onOwnerLost(nodeID: string): void {
    for (const source of this.sources_.values()) {
      if (source.ended || source.owner !== nodeID) continue;
      this.gw.log.warn({ streamId: source.streamId, owner: nodeID, via: "icecast" }, "stream owner lost; re-homing the stream");
      void rehome(this.gw, source, nodeID, () => source.ended, () => source.kick("OWNER_LOST"));
    }
  }

  /** A drain: every source is closed (its stream goes offline) so that it reconnects elsewhere. */
  closeSources(): void {
    this.server.closeSources();
  }

  get sourceCount(): number {
    return this.sources_.size;
  }
}
