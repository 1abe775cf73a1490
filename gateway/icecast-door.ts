/**
 * The gateway's side of the Icecast-compatible port (transports/icecast/server.ts): sources put on
 * air by gateway/sources.ts (a publish token of the stream as the source password, or
 * SOURCE_PASSWORD) with their refusals in Icecast's terms, now-playing updates
 * (`/admin/metadata`), the status page's sources and the HTTP listeners' answers.
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
  /** Highest listener count seen per stream (the status page's listener_peak). */
  private readonly peaks = new Map<string, number>();

  constructor(private readonly gw: Gateway) {
    this.server = new IcecastServer(this, gw.log.child({ mod: "icecast" }));
  }

  get draining(): boolean {
    return this.gw.draining;
  }

  async startSource(req: SourceRequest, kick: (reason: string) => void): Promise<SourceHandle> {
    try {
      return await this.gw.sources.start({ ...req, door: "icecast", via: `icecast.${req.method.toLowerCase()}` }, kick);
    } catch (err) {
      throw refusal(err);
    }
  }

  async updateMetadata(req: { streamId: string; password: string | undefined; ip: string; song: string }): Promise<void> {
    try {
      await this.gw.sources.authorize(req.password, req.ip, req.streamId, "icecast.source");
    } catch (err) {
      throw refusal(err);
    }
    const source = this.gw.sources.get(req.streamId, "icecast");
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

  /** A drain: every source is closed (its stream goes offline) so that it reconnects elsewhere. */
  closeSources(): void {
    this.server.closeSources();
  }

  get sourceCount(): number {
    return this.gw.sources.count("icecast");
  }
}
