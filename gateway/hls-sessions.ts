/**
 * HLS and DASH players as listen sessions, for analytics: a player is a run of stateless HTTP
 * requests, so a session is one client (address, User-Agent and token subject) fetching one
 * stream's playlists and media; it starts at its first request that succeeds and ends when it has
 * asked for nothing for {@link IDLE_MS} (a live player reloads its playlist at least every target
 * duration, 1 s here), at its last request. Emits `session.start` and `session.end` (kind `hls` or
 * `dash`) as the WebSocket and HTTP listeners do; `bytes` are the media bytes it was sent, and
 * `renditions` the rendition ids it fetched media of.
 */
import { randomUUID } from "node:crypto";
import { emitSessionEvent, type SessionInfo } from "../actors/contract";
import type { Gateway } from "./gateway";

/** A player silent this long has left (ms). */
export const IDLE_MS = 10_000;

interface PlayerSession {
  info: SessionInfo;
  lastSeenAt: number;
  renditions: Set<string>;
}

export class HlsSessions {
  private readonly sessions = new Map<string, PlayerSession>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly gw: Gateway) {
    this.timer = setInterval(() => this.sweep(Date.now()), 2000);
    this.timer.unref();
  }

  /** Sessions open on this gateway. */
  get count(): number {
    return this.sessions.size;
  }

  /**
   * A request of `client` for stream `streamId` was answered: `rendition` its rendition id when it
   * was a rendition's file, `mediaBytes` the bytes of media (segment, part, init) it was sent.
   */
  seen(kind: "hls" | "dash", streamId: string, client: { ip: string; userAgent: string; sub?: string }, rendition: string | null, mediaBytes: number): void {
    const key = `${kind}\n${streamId}\n${client.ip}\n${client.userAgent}\n${client.sub ?? ""}`;
    const now = Date.now();
    let s = this.sessions.get(key);
    if (!s) {
      s = {
        info: { sessionId: randomUUID(), streamId, kind, nodeID: this.gw.broker.nodeID, connectedAt: now, connectedMs: 0, bytes: 0, renditions: [], ...(client.sub ? { sub: client.sub } : {}) },
        lastSeenAt: now, renditions: new Set(),
      };
      this.sessions.set(key, s);
      emitSessionEvent(this.gw.broker, "session.start", s.info);
    }
    s.lastSeenAt = now;
    s.info.bytes = (s.info.bytes ?? 0) + mediaBytes;
    if (rendition !== null) s.renditions.add(rendition);
  }

  /** Ends every session (the gateway stops). */
  close(): void {
    clearInterval(this.timer);
    this.sweep(Infinity);
  }

  private sweep(now: number): void {
    for (const [key, s] of this.sessions) {
      if (now - s.lastSeenAt < IDLE_MS) continue;
      this.sessions.delete(key);
      const endedAt = s.lastSeenAt;
      const info = { ...s.info, renditions: [...s.renditions], connectedMs: endedAt - s.info.connectedAt };
      emitSessionEvent(this.gw.broker, "session.end", { ...info, endedAt, durationMs: endedAt - s.info.connectedAt, code: "IDLE" });
    }
  }
}
