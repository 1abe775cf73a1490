/**
 * ws://HOST/ws/listen/:streamId — listener sockets. On open: a `hello` text message, the stream's
 * status (and metadata when known), then binary audio.data frames from the live edge on. A listener
 * that passes the backpressure limit is skipped by uWS, then cut by the gateway's sweep (1006).
 */
import { randomUUID } from "node:crypto";
import { TokenBucket } from "limiter";
import { ListenerSession } from "../actors/listener/listener-session";
import { clusterNowUs } from "../media/clock/cluster-time";
import { DEFAULT_FRAME_SAMPLES, MEDIA_CLOCK_HZ, PROTOCOL_VERSION } from "../media/wire/constants";
import { STREAM_ID_PATTERN, type HelloMessage } from "../media/wire/control";
import type { SessionRecord } from "../actors/cluster/store";
import type { Gateway } from "./gateway";
import { readUpgrade } from "./uws";

export interface ListenerData {
  kind: "listener";
  session: ListenerSession | null;
  /** Session to resume, loaded from the cluster store during the upgrade. */
  resume: SessionRecord | null;
  streamId: string;
  closed: boolean;
  /** Set by the gateway's backpressure sweep before it closes the socket. */
  slow: boolean;
  /** Text messages (clock pings) this listener may still send now; see {@link PING_RATE}. */
  pings: TokenBucket;
}

/**
 * Clock pings a gateway answers per listener: 2 000 a second (twice the fastest schedule the SDK
 * offers, every 1 ms, whose dithered intervals bunch up), with bursts of 500. More are dropped
 * without a pong, so a client flooding pings cannot take the CPU the other listeners' fan-out
 * needs; the clock sync takes a missing pong as a lost one (docs/protocol.md, "clock.ping").
 */
export const PING_RATE = { perSecond: 2000, burst: 500 } as const;

function pingBucket(): TokenBucket {
  const bucket = new TokenBucket({ bucketSize: PING_RATE.burst, tokensPerInterval: PING_RATE.perSecond, interval: "second" });
  bucket.content = PING_RATE.burst; // starts full: the join burst is the point
  return bucket;
}

export function registerListenRoute(gw: Gateway): void {
  const { app, config } = gw;
  app.ws<ListenerData>("/ws/listen/:streamId", {
    maxPayloadLength: 4 * 1024,
    maxBackpressure: config.maxBackpressureBytes,
    // uWS skips a socket over the limit; the gateway's sweep then cuts it and counts it (uWS's own
    // closeOnBackpressureLimit reports 1006 in `close`, indistinguishable from a vanished client)
    closeOnBackpressureLimit: 0,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const { streamId, key, protocol, extensions, query } = readUpgrade(req);
      const resumeId = query.get("session");
      if (!STREAM_ID_PATTERN.test(streamId)) {
        gw.rejectUpgrade(res, "BAD_STREAM_ID");
        return;
      }
      if (gw.listenerCount >= config.maxListeners) {
        gw.rejectUpgrade(res, "NODE_SHUTTING_DOWN", "this gateway is full");
        return;
      }
      const data: ListenerData = { kind: "listener", session: null, resume: null, streamId, closed: false, slow: false, pings: pingBucket() };
      if (!resumeId || resumeId.length > 64) {
        res.upgrade(data, key, protocol, extensions, context);
        return;
      }
      let aborted = false;
      res.onAborted(() => (aborted = true));
      void gw.loadSession(resumeId).then((record) => {
        if (aborted) return;
        if (record && record.streamId === streamId) data.resume = record;
        res.cork(() => res.upgrade(data, key, protocol, extensions, context));
      });
    },
    open: (ws) => {
      const data = ws.getUserData();
      const carried = data.resume;
      const session = new ListenerSession(carried?.sessionId ?? randomUUID(), data.streamId, carried?.connectedAt ?? Date.now(), gw.fanout.framesPublished(data.streamId), carried ?? undefined);
      data.session = session;
      gw.sessions.set(session.sessionId, ws);
      const hello: HelloMessage = {
        type: "hello",
        protocolVersion: PROTOCOL_VERSION,
        sessionId: session.sessionId,
        streamId: data.streamId,
        codec: "opus",
        sampleRate: MEDIA_CLOCK_HZ,
        channels: 2,
        frameDurationMs: (DEFAULT_FRAME_SAMPLES * 1000) / MEDIA_CLOCK_HZ,
        rendition: 0,
        resumed: carried !== null,
        reconnects: session.reconnects,
      };
      ws.cork(() => {
        ws.send(JSON.stringify(hello), false);
        ws.send(JSON.stringify({ type: "stream.status", ...gw.statusOf(data.streamId) }), false);
        for (const tick of gw.syncTicks.get(data.streamId) ?? []) ws.send(JSON.stringify({ type: "sync.tick", streamId: data.streamId, ...tick }), false);
        const info = gw.streamInfo.get(data.streamId);
        if (info && (info.title || Object.keys(info.metadata).length)) {
          ws.send(JSON.stringify({ type: "stream.metadata", streamId: info.streamId, title: info.title, metadata: info.metadata }), false);
        }
      });
      ws.subscribe(`s/${data.streamId}`);
      gw.fanout.join(data.streamId);
      gw.listenerCount++;
      gw.reportListeners(data.streamId);
    },
    message: (ws, message, isBinary) => {
      // clock.ping → clock.pong (NTP-style, RFC 5905 §8): t1 as early as possible, t2 just before sending
      const t1 = clusterNowUs();
      if (isBinary || message.byteLength > 256 || !ws.getUserData().pings.tryRemoveTokens(1)) return;
      let ping: { type?: unknown; id?: unknown; t0?: unknown };
      try {
        ping = JSON.parse(Buffer.from(message).toString("utf8")) as typeof ping;
      } catch {
        return; // listeners' bad input is ignored, never fatal
      }
      if (ping.type !== "clock.ping" || typeof ping.t0 !== "number") return;
      const id = typeof ping.id === "number" ? ping.id : 0;
      ws.send(`{"type":"clock.pong","id":${id},"t0":${ping.t0},"t1":${t1},"t2":${clusterNowUs()}}`, false);
    },
    close: (ws, code) => {
      const data = ws.getUserData();
      data.closed = true;
      const session = data.session;
      if (!session) return;
      const published = gw.fanout.framesPublished(data.streamId);
      if (data.slow) session.framesDropped++;
      session.end(published);
      gw.sessions.delete(session.sessionId);
      gw.saveSession(session.record(published));
      gw.fanout.leave(data.streamId);
      gw.listenerCount--;
      gw.reportListeners(data.streamId);
      gw.log.debug({ ...session.stats(published), code }, "listener left");
    },
  });
}
