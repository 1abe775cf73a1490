/**
 * Container sources on air through this gateway, whatever door they came in by (the Icecast port,
 * SRT): who may publish (SOURCE_PASSWORD, compared in constant time, or a publish token of the
 * stream), putting the source on air through its stream's owner exactly as a WebSocket broadcaster
 * of a container is (`stream.start`, then its bytes on `ingest.<id>`, `stream.stop` when it
 * leaves), kicking it when the owner takes it off air or another broadcaster takes over, and
 * re-homing it when the owner is lost.
 *
 * Such a source cannot resume a session: when it leaves (a drain included) its stream goes offline
 * at once, so that its reconnection, here or on another node, starts it again.
 */
import { randomUUID, timingSafeEqual } from "node:crypto";
import { limitError } from "../actors/auth/access";
import { call } from "../actors/contract";
import { errorCodeOf } from "../actors/errors";
import type { IngestFormat } from "../media/wire/control";
import { subjects } from "../transports";
import type { Gateway } from "./gateway";
import { rehome, type OnAirSession } from "./rehome";

/** The door a source came in by: its audit and log name (`relay`: pulled by an operator's remote relay). */
export type SourceDoor = "icecast" | "srt" | "relay";

/** A source on air through this gateway. */
interface Source extends OnAirSession {
  sub: string;
  ip: string;
  door: SourceDoor;
  ended: boolean;
  kick(reason: string): void;
}

/** A source asking to go live. */
export interface SourceStart {
  streamId: string;
  /** A publish token of the stream, or SOURCE_PASSWORD; undefined when none was given. */
  password: string | undefined;
  ip: string;
  format: IngestFormat;
  title: string;
  metadata: Record<string, string>;
  door: SourceDoor;
  /** The audit log's `via`, e.g. `icecast.put`, `srt`. */
  via: string;
  /** Already authorised (an operator's admin token): `password` is not checked. */
  grant?: { sub: string };
}

/** A source on air: its bytes go to {@link push}; {@link end} once its connection closed. */
export interface SourceHandle {
  push(bytes: Uint8Array): void;
  end(): void;
}

export class Sources {
  private readonly byStream = new Map<string, Source>();

  constructor(private readonly gw: Gateway) {}

  /**
   * Who `password` lets publish on `streamId`: SOURCE_PASSWORD as `icecast-source`, else the
   * password as a publish token of the stream (its `sub`).
   * @throws the catalogue's UNAUTHORIZED, TOKEN_EXPIRED, FORBIDDEN, RATE_LIMITED (actors/errors.ts).
   */
  async authorize(password: string | undefined, ip: string, streamId: string, via: string): Promise<string> {
    const configured = this.gw.config.sourcePassword?.reveal()[0];
    if (configured !== undefined && password !== undefined) {
      const a = Buffer.from(password);
      const b = Buffer.from(configured);
      if (a.length === b.length && timingSafeEqual(a, b)) return "icecast-source";
    }
    const grant = await this.gw.access.authorize({ token: password, ip, action: "publish", streamId, via });
    return grant?.sub ?? "";
  }

  /**
   * Authorises and starts a source; `kick` closes it from the server side (drain, takeover, an
   * operator's stop, owner lost for good).
   * @throws the catalogue's errors: the connection and publish limits, {@link authorize}'s, and
   *   stream.start's (BROADCASTER_EXISTS, UNSUPPORTED_FORMAT, NO_WORKER…).
   */
  async start(req: SourceStart, kick: (reason: string) => void): Promise<SourceHandle> {
    const { gw } = this;
    const conn = await gw.access.limits.connection(req.ip);
    if (!conn.ok) throw limitError(conn);
    const sub = req.grant ? req.grant.sub : await this.authorize(req.password, req.ip, req.streamId, `${req.door}.source`);
    const sessionId = randomUUID();
    const start = { streamId: req.streamId, format: req.format, title: req.title, metadata: req.metadata, broadcaster: { sessionId, nodeID: gw.broker.nodeID, sub } };
    let info;
    try {
      const quota = await gw.access.limits.publishStart(sub);
      if (!quota.ok) throw limitError(quota);
      info = await gw.callOwner(req.streamId, "stream.start", start);
    } catch (err) {
      const code = errorCodeOf(err);
      gw.log.info({ streamId: req.streamId, code, via: req.door }, "stream.start refused");
      if (code === "FORBIDDEN" || code === "RATE_LIMITED") gw.access.auditEvent("publish.refused", { streamId: req.streamId, sub, code, ip: req.ip, via: req.door });
      throw err;
    }
    gw.placement.learn(info);
    const source: Source = { streamId: req.streamId, sessionId, owner: info.owner, start, rehoming: false, ingestBytes: 0, ended: false, sub, ip: req.ip, door: req.door, kick };
    this.byStream.get(req.streamId)?.kick("BROADCASTER_REPLACED");
    this.byStream.set(req.streamId, source);
    gw.access.auditEvent("publish.start", { streamId: req.streamId, sub, sessionId, ip: req.ip, format: req.format, via: req.via });
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
        if (this.byStream.get(req.streamId) === source) {
          this.byStream.delete(req.streamId);
          gw.httpListeners.sourceEnded(req.streamId);
        }
        gw.access.auditEvent("publish.stop", { streamId: req.streamId, sub, sessionId, ip: req.ip, via: req.door });
        gw.log.info({ streamId: req.streamId, sessionId, via: req.door }, "source left");
        void call(gw.broker, "stream.stop", { streamId: req.streamId, sessionId, reason: "disconnect", ingestBytes: source.ingestBytes }, { nodeID: source.owner ?? undefined }).catch((err: unknown) =>
          gw.log.warn({ err, streamId: req.streamId }, "stream.stop after a source left failed"),
        );
      },
    };
  }

  /** The source on air here for `streamId` through `door`, if any: its session and owner. */
  get(streamId: string, door: SourceDoor): { sessionId: string; owner: string | null; start: OnAirSession["start"] } | undefined {
    const s = this.byStream.get(streamId);
    return s && s.door === door ? s : undefined;
  }

  /**
   * A stream event: a source whose session the owner took off air (an operator's stop, too fast)
   * or that another broadcaster took over is closed.
   */
  onStreamEvent(kind: "start" | "stop", info: { streamId: string; sessionId?: string; code?: string }): void {
    const source = this.byStream.get(info.streamId);
    if (!source) return;
    if (kind === "start" && info.sessionId !== undefined && info.sessionId !== source.sessionId) source.kick("BROADCASTER_REPLACED");
    if (kind === "stop" && info.code && info.sessionId === source.sessionId) source.kick(info.code);
  }

  /** The node `nodeID` that owned the streams of some sources here was lost: they are re-homed (gateway/rehome.ts). */
  onOwnerLost(nodeID: string): void {
    for (const source of this.byStream.values()) {
      if (source.ended || source.owner !== nodeID) continue;
      this.gw.log.warn({ streamId: source.streamId, owner: nodeID, via: source.door }, "stream owner lost; re-homing the stream");
      void rehome(this.gw, source, nodeID, () => source.ended, () => source.kick("OWNER_LOST"));
    }
  }

  /** Sources on air through `door` here. */
  count(door: SourceDoor): number {
    let n = 0;
    for (const s of this.byStream.values()) if (s.door === door) n++;
    return n;
  }
}
