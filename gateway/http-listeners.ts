/**
 * HTTP listeners (`GET /live/<id>.ogg|.mp3|.aac` on both ports, `GET /<mount>` on the Icecast port):
 * Ogg/Opus muxed once per stream from the stream's frames (media/ogg/live-ogg.ts), fed by the
 * fan-out's relay (a tap: the same one subscription per stream as WebSocket listeners); or, for a
 * source that sends MP3 or ADTS AAC, its own bytes cut into whole frames once per stream
 * (media/frames: each listener starts on a frame boundary) from one subscription to `ingest.<id>`;
 * MP3 or AAC of a source that sends something else is transcoded from the stream's Opus by one
 * ffmpeg per stream and format on this gateway, while it has such listeners
 * (transports/ffmpeg/live-transcoder.ts, {@link TRANSCODE_BITRATE}), never per listener. Each listener gets
 * ICY metadata when it asked (media/icy). They count as
 * listeners everywhere (fan-out count reported to the owner, veza_listeners, the gateway's
 * stats). A listener with more than MAX_BACKPRESSURE_BYTES queued is dropped and counted in
 * veza_listeners_dropped_total (Icecast's queue-size).
 *
 * Burst on connect (Icecast's burst-size): each stream keeps its last writes, up to
 * ICECAST_BURST_BYTES (whole MP3 batches or Ogg pages), and a new listener gets them in one write
 * at once, after the Ogg header pages, so that a player fills its start-up buffer without
 * waiting; the burst is that much older than live, so it adds as much to the listener's delay
 * (16 KiB ≈ 1 s at 128 kbit/s). A gateway keeps them from the start for an MP3 or AAC source
 * connected to it ({@link HttpListeners.sourceStarted}); otherwise the first listener of a stream
 * on a gateway gets none (nothing is kept before it: the feed starts with it).
 */
import { randomUUID } from "node:crypto";
import { decodeAudioData } from "../media/wire";
import { IcyInterleaver, DEFAULT_METAINT } from "../media/icy/icy-interleaver";
import { ADTS } from "../media/aac/adts-frames";
import { Framer, framesMs, type FrameFormat } from "../media/frames/framer";
import { MPEG_AUDIO } from "../media/mp3/mp3-frames";
import { TS_PACKETS } from "../media/mpegts/packets";
import { LiveOgg } from "../media/ogg/live-ogg";
import { LiveTranscoder } from "../transports/ffmpeg/live-transcoder";
import { subjects } from "../transports";
import { errorCodeOf, ERROR_CATALOGUE } from "../actors/errors";
import { emitSessionEvent, type SessionInfo } from "../actors/contract";
import { IcecastError, type ListenerSink, type ListenRequest } from "../transports/icecast/server";
import type { Gateway } from "./gateway";

interface HttpListener {
  sink: ListenerSink;
  icy: IcyInterleaver | null;
  dropped: boolean;
  /** The listener-session actor's view of it (actors/listener/service.ts). */
  session: SessionInfo;
}

/**
 * What an HTTP listener hears: Ogg/Opus of the stream's frames, or a source's own MP3 or ADTS AAC;
 * an SRT reader (gateway/srt-door.ts): a source's own MPEG-TS, else the stream's Opus in MPEG-TS.
 */
export type HttpFormat = "ogg" | "mp3" | "aac" | "mpegts";

/** Passthrough formats: the ingest format a source must send, the frames, the Content-Type. */
const PASSTHROUGH: Record<Exclude<HttpFormat, "ogg">, { frames: FrameFormat; contentType: string }> = {
  mp3: { frames: MPEG_AUDIO, contentType: "audio/mpeg" },
  aac: { frames: ADTS, contentType: "audio/aac" },
  mpegts: { frames: TS_PACKETS, contentType: "video/mp2t" },
};

/** Formats whose sources' own bytes are passed through. */
const OWN_BYTES = ["mp3", "aac", "mpegts"] as const;

/**
 * Bit rate of MP3 and AAC transcoded from the stream's Opus for HTTP listeners of a format the
 * source does not send, bit/s: what an Icecast station commonly serves.
 */
export const TRANSCODE_BITRATE = 128_000;

/** One stream's HTTP listeners of one format, and where their bytes come from. */
interface HttpStream {
  /** The muxer of the stream's frames: Ogg listeners', or a transcoder's input. */
  ogg: LiveOgg | null;
  /** MP3, AAC: the framer of the source's bytes, or of the transcoder's. */
  framer: Framer | null;
  /** MP3, AAC of a source of another format: the one ffmpeg that makes it from the stream's Opus. */
  transcoder: LiveTranscoder | null;
  /** Source frames held for the next write (one write per listener per {@link PASSTHROUGH_BATCH_MS} of audio). */
  pending: Uint8Array[];
  /** Audio in {@link pending}, ms. */
  pendingMs: number;
  flushTimer: NodeJS.Timeout | null;
  /** The last writes to every listener, oldest first, at most the burst size in all: a new listener's burst. */
  recent: Uint8Array[];
  recentBytes: number;
  /** Ends the feed (fan-out tap or ingest subscription). */
  untap: () => void;
  listeners: Set<HttpListener>;
  /** Fed while it has no listener: a source on air through this gateway ({@link HttpListeners.sourceStarted}). */
  kept: boolean;
}

/**
 * MP3 and AAC passthrough: ms of source frames gathered into one write per listener (as the Ogg
 * pages' 100 ms). The batch goes out as soon as it holds that much audio (4 MP3 frames of 26 ms
 * at 44.1 kHz, so a frame waits at most 3 frames, 78 ms; 5 AAC frames of 23 ms), or this long
 * after its first frame when the source sends slower than real time.
 */
const PASSTHROUGH_BATCH_MS = 100;

/** The key of a stream's HTTP listeners of `format` (transcoded ones apart from the source's own bytes). */
const streamKey = (format: HttpFormat, transcode: boolean, streamId: string): string => `${format}${transcode ? ":transcoded" : ""}/${streamId}`;

/** A 429 with Retry-After for a refusal of the rate limits (actors/auth/limits.ts). */
export function limitRefusal(r: { limit: string; retryAfterS: number }): IcecastError {
  return new IcecastError(429, `rate limit ${r.limit} reached; retry in ${r.retryAfterS} s`, { "Retry-After": String(r.retryAfterS) });
}

export class HttpListeners {
  /** By `<format>/<stream id>`. */
  private readonly streams = new Map<string, HttpStream>();
  /** Every listener, by session id. */
  private readonly sessions = new Map<string, HttpListener>();

  constructor(private readonly gw: Gateway) {}

  /** HTTP listeners on this gateway. */
  get count(): number {
    return this.sessions.size;
  }

  /** HTTP listeners of `streamId` on this gateway that hear the source's own MP3 or AAC bytes (no Opus). */
  passthroughCount(streamId: string): number {
    return OWN_BYTES.reduce((n, f) => n + (this.streams.get(streamKey(f, false, streamId))?.listeners.size ?? 0), 0);
  }

  /**
   * The answer's headers for a listener of a live stream (Icecast's: Content-Type, icy-name,
   * icy-description, icy-genre, icy-url, icy-pub, icy-br, icy-metaint when asked). The same limits
   * as a WebSocket listener's (docs/security.md): `connections` per IP, then, for a GET, the
   * listener quotas (`listenersPerIp`, `listenersPerStream`), whose slot it leaves in `req.slot`
   * for {@link attach}.
   * @throws IcecastError 404 when the stream is not live, 401/403 with LISTEN_AUTH=token, 429 with
   *   Retry-After past a rate limit or quota, 503 past MAX_LISTENERS.
   */
  async headers(req: ListenRequest): Promise<Record<string, string>> {
    const { gw } = this;
    if (gw.listenerCount >= gw.config.maxListeners) throw new IcecastError(503, "this gateway has no room for another listener");
    const conn = await gw.access.limits.connection(req.ip);
    if (!conn.ok) throw limitRefusal(conn);
    let info;
    try {
      const grant = await gw.access.authorize({ token: req.token, ip: req.ip, action: "listen", streamId: req.streamId, via: req.kind === "srt" ? "srt.read" : "http.listen" });
      if (grant) req.sub = grant.sub;
      info = gw.isLive(req.streamId) ? gw.statusOf(req.streamId) : await gw.getStream(req.streamId);
    } catch (err) {
      const code = errorCodeOf(err);
      if (code === "STREAM_NOT_FOUND" || code === "NO_WORKER") throw new IcecastError(404, "The file you requested could not be found");
      throw new IcecastError(ERROR_CATALOGUE[code].status, err instanceof Error ? err.message : code);
    }
    if (info.state !== "live") throw new IcecastError(404, "The file you requested could not be found");
    if (req.format === "source") req.format = info.format === "mp3" || info.format === "aac" ? info.format : "ogg";
    const format = req.format;
    const transcoded = format !== "ogg" && info.format !== format;
    req.transcode = transcoded;
    const m = info.metadata;
    const headers: Record<string, string> = {
      "Content-Type": format === "ogg" ? "audio/ogg" : PASSTHROUGH[format].contentType,
      "icy-name": m.name ?? info.title ?? req.streamId,
      "icy-description": m.description ?? "",
      "icy-genre": m.genre ?? "",
      "icy-pub": m.public ?? "0",
      "icy-br": format === "ogg" ? String(Math.round(gw.config.opusBitrate / 1000)) : transcoded ? String(TRANSCODE_BITRATE / 1000) : (m.bitrate ?? ""),
    };
    if (m.url) headers["icy-url"] = m.url;
    if (req.icy) headers["icy-metaint"] = String(DEFAULT_METAINT);
    for (const [k, v] of Object.entries(headers)) headers[k] = v.replace(/[\r\n]/g, " ");
    if (!req.head) {
      const slot = await gw.access.limits.openListener(req.ip, req.streamId);
      if (!slot.ok) throw limitRefusal(slot);
      req.slot = slot;
    }
    return headers;
  }

  /** Starts sending `req.streamId` to `sink`: the Ogg header pages, then each page. Returns the detach function. */
  attach(req: ListenRequest, sink: ListenerSink): () => void {
    const { gw } = this;
    const format: HttpFormat = req.format === "source" ? "ogg" : req.format;
    const transcode = format !== "ogg" && req.transcode === true;
    const key = streamKey(format, transcode, req.streamId);
    gw.fanout.join(req.streamId); // before a tap: the join holds the stream's relay
    gw.listenerCount++;
    const s = this.streams.get(key) ?? this.open(key, req.streamId, format, transcode);
    const session: SessionInfo = {
      sessionId: randomUUID(), streamId: req.streamId, kind: req.kind ?? "http", nodeID: gw.broker.nodeID, connectedAt: Date.now(), connectedMs: 0, bytes: 0,
      renditions: [req.kind === "srt" || req.kind === "relay" || format === "mpegts" ? "mpegts" : `${format}${transcode ? ":transcoded" : ""}`], ...(req.sub ? { sub: req.sub } : {}),
    };
    const listener: HttpListener = { sink, icy: req.icy ? new IcyInterleaver() : null, dropped: false, session };
    s.listeners.add(listener);
    this.sessions.set(session.sessionId, listener);
    emitSessionEvent(gw.broker, "session.start", session);
    const burst = s.recent.length === 0 ? null : s.recent.length === 1 ? s.recent[0]! : Buffer.concat(s.recent, s.recentBytes);
    if (s.ogg && !s.transcoder) this.send(req.streamId, listener, burst ? Buffer.concat([s.ogg.header, burst]) : s.ogg.header);
    else if (burst) this.send(req.streamId, listener, burst);
    gw.reportListeners(req.streamId);
    gw.log.info({ streamId: req.streamId, ip: req.ip, icy: req.icy }, "http listener joined");
    let detached = false;
    return () => {
      if (detached) return;
      detached = true;
      s.listeners.delete(listener);
      this.sessions.delete(session.sessionId);
      const endedAt = Date.now();
      emitSessionEvent(gw.broker, "session.end", { ...session, connectedMs: endedAt - session.connectedAt, endedAt, durationMs: endedAt - session.connectedAt, ...(listener.dropped ? { code: "SLOW_LISTENER" } : {}) });
      gw.listenerCount--;
      void req.slot?.release();
      if (s.listeners.size === 0 && !s.kept && this.streams.get(key) === s) this.drop(key, s);
      gw.fanout.leave(req.streamId);
      gw.reportListeners(req.streamId);
    };
  }

  /**
   * A source of `format` went on air through this gateway (the Icecast door): its own MP3 or AAC
   * frames are kept from now on, so that the first listener gets a burst too, as with Icecast,
   * which holds the source itself. Other formats: nothing (their listeners' Opus comes from the
   * stream's owner). Until {@link sourceEnded}.
   */
  sourceStarted(streamId: string, format: string): void {
    this.sourceEnded(streamId); // a source replacing another may send another format
    if (!(OWN_BYTES as readonly string[]).includes(format)) return;
    const f = format as (typeof OWN_BYTES)[number];
    const key = streamKey(f, false, streamId);
    (this.streams.get(key) ?? this.open(key, streamId, f, false)).kept = true;
  }

  /** The source of `streamId` on this gateway left: its frames are kept only while it has listeners. */
  sourceEnded(streamId: string): void {
    for (const key of OWN_BYTES.map((f) => streamKey(f, false, streamId))) {
      const s = this.streams.get(key);
      if (!s) continue;
      s.kept = false;
      if (s.listeners.size === 0) this.drop(key, s);
    }
  }

  /**
   * A new stream of `format` under `key`, and its feed: the fan-out's frames muxed into Ogg pages;
   * the source's own bytes from `ingest.<id>` (MP3, AAC); or, with `transcode`, the frames into one
   * ffmpeg whose MP3 or AAC is framed like a source's.
   */
  private open(key: string, streamId: string, format: HttpFormat, transcode: boolean): HttpStream {
    const { gw } = this;
    const frames = format === "ogg" ? null : PASSTHROUGH[format].frames;
    const stream: HttpStream = {
      // a transcoder gets a page per packet (20 ms): the Ogg listeners' 100 ms pages would add to the delay
      ogg: !frames || transcode ? new LiveOgg(transcode ? 1 : 5) : null, framer: frames ? new Framer(frames) : null, transcoder: null,
      pending: [], pendingMs: 0, flushTimer: null, recent: [], recentBytes: 0, listeners: new Set(), untap: () => undefined, kept: false,
    };
    this.streams.set(key, stream);
    const onSourceBytes = (bytes: Uint8Array) => this.onSourceBytes(streamId, stream, bytes);
    if (format !== "ogg" && transcode) {
      const log = gw.log.child({ streamId, transcode: format });
      const transcoder = new LiveTranscoder({
        ffmpegPath: gw.node.ffmpegPath, format, bitrate: TRANSCODE_BITRATE, header: stream.ogg!.header, log, onOutput: onSourceBytes,
        // its listeners would wait for ever: closed, a player reconnects (and gets a new ffmpeg)
        onFailed: () => {
          if (this.streams.get(key) === stream) this.drop(key, stream); // a listener arriving now gets a new ffmpeg
          [...stream.listeners].forEach((l) => l.sink.close());
        },
      });
      stream.transcoder = transcoder;
      const untap = gw.fanout.tap(streamId, (frame) => this.onFrame(streamId, stream, frame));
      stream.untap = () => (untap(), void transcoder.stop());
      log.info({ bitrate: TRANSCODE_BITRATE }, "transcoding for HTTP listeners");
    } else if (frames) {
      stream.untap = gw.bus.subscribe(subjects.ingest(streamId), onSourceBytes);
    } else {
      stream.untap = gw.fanout.tap(streamId, (frame) => this.onFrame(streamId, stream, frame));
    }
    return stream;
  }

  private drop(key: string, s: HttpStream): void {
    this.streams.delete(key);
    s.untap();
    if (s.flushTimer) clearTimeout(s.flushTimer);
  }

  /** Closes the HTTP listeners of `streamId` (its broadcast ended: there is nothing more to wait for). */
  closeStream(streamId: string): void {
    for (const [key, s] of [...this.streams]) if (key.endsWith(`/${streamId}`)) for (const l of [...s.listeners]) l.sink.close();
  }

  /** HTTP and SRT listener sessions here, optionally of one stream. */
  list(streamId?: string): SessionInfo[] {
    const now = Date.now();
    return [...this.sessions.values()].filter((l) => !streamId || l.session.streamId === streamId).map((l) => ({ ...l.session, connectedMs: now - l.session.connectedAt }));
  }

  /** The session `sessionId` of an HTTP or SRT listener here, or undefined. */
  get(sessionId: string): SessionInfo | undefined {
    const l = this.sessions.get(sessionId);
    return l && { ...l.session, connectedMs: Date.now() - l.session.connectedAt };
  }

  /** Closes the listener of `sessionId`; false when there is none here. */
  kick(sessionId: string): boolean {
    const l = this.sessions.get(sessionId);
    if (!l) return false;
    l.sink.close();
    return true;
  }

  /** Closes every HTTP listener (a drain: players reconnect, to another gateway behind the balancer). */
  closeAll(): void {
    for (const s of this.streams.values()) for (const l of [...s.listeners]) l.sink.close();
  }

  private onFrame(streamId: string, s: HttpStream, frame: Uint8Array): void {
    if (s.listeners.size === 0) return;
    let page: Uint8Array | null;
    try {
      const f = decodeAudioData(frame);
      page = s.ogg!.push(f.packet, f.duration);
    } catch {
      return;
    }
    if (!page) return;
    if (s.transcoder) s.transcoder.write(page);
    else this.broadcast(streamId, s, page);
  }

  /** The source's bytes (MP3, AAC): whole frames to every listener, {@link PASSTHROUGH_BATCH_MS} of them per write. */
  private onSourceBytes(streamId: string, s: HttpStream, bytes: Uint8Array): void {
    if (s.listeners.size === 0 && !s.kept) return;
    const framer = s.framer!;
    const frames = framer.push(bytes);
    if (frames.length === 0) return;
    s.pending.push(frames);
    s.pendingMs += framesMs(framer.format, frames);
    // the source writes about one frame (20-30 ms) at a time: one write per listener per 100 ms of audio instead
    if (s.pendingMs >= PASSTHROUGH_BATCH_MS) return this.flush(streamId, s);
    s.flushTimer ??= setTimeout(() => this.flush(streamId, s), PASSTHROUGH_BATCH_MS);
  }

  private flush(streamId: string, s: HttpStream): void {
    if (s.flushTimer) clearTimeout(s.flushTimer);
    s.flushTimer = null;
    if (s.pending.length === 0) return;
    const batch = s.pending.length === 1 ? s.pending[0]! : Buffer.concat(s.pending);
    s.pending = [];
    s.pendingMs = 0;
    this.broadcast(streamId, s, batch);
  }

  /** Writes `bytes` to every listener of `s` and keeps it for the bursts of later ones. */
  private broadcast(streamId: string, s: HttpStream, bytes: Uint8Array): void {
    for (const l of s.listeners) this.send(streamId, l, bytes);
    const max = this.gw.config.icecastBurstBytes ?? 0;
    if (max <= 0) return;
    s.recent.push(bytes);
    s.recentBytes += bytes.length;
    while (s.recentBytes > max && s.recent.length > 0) s.recentBytes -= s.recent.shift()!.length;
  }

  private send(streamId: string, l: HttpListener, bytes: Uint8Array): void {
    if (l.dropped) return;
    l.session.bytes! += bytes.length;
    let queued = 0;
    if (l.icy) for (const part of l.icy.write(bytes, this.gw.streamInfo.get(streamId)?.title ?? "")) queued = l.sink.write(part);
    else queued = l.sink.write(bytes);
    if (queued > this.gw.config.maxBackpressureBytes) {
      l.dropped = true;
      this.gw.metrics.listenersDropped.inc();
      this.gw.metrics.framesDropped.inc({ reason: "slow_listener" });
      this.gw.log.info({ streamId, queued }, "dropping slow http listener");
      l.sink.close();
    }
  }
}
