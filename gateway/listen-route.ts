/**
 * ws://HOST/ws/listen/:streamId — listener sockets. On open: a `hello` text message, the stream's
 * status (and metadata when known), then binary audio.data frames from the live edge on. A listener
 * that passes the backpressure limit is skipped by uWS, then cut by the gateway's sweep (1006).
 * With `?batch=<ms>` (radio mode) its messages come in one write per period (gateway/fanout.ts).
 */
import { randomUUID } from "node:crypto";
import { TokenBucket } from "limiter";
import { ListenerSession } from "../actors/listener/listener-session";
import { emitSessionEvent } from "../actors/contract";
import { clusterNowUs } from "../media/clock/cluster-time";
import { DEFAULT_FRAME_SAMPLES, MEDIA_CLOCK_HZ, PROTOCOL_VERSION } from "../media/wire/constants";
import { STREAM_ID_PATTERN, type HelloMessage } from "../media/wire/control";
import type { SessionRecord } from "../actors/cluster/store";
import type { ListenerSlot } from "../actors/auth/limits";
import type { VerifiedToken } from "../actors/auth/tokens";
import type { Gateway } from "./gateway";
import { z } from "zod";
import { ERROR_CATALOGUE, errorCodeOf, type ErrorCode, type VezaError } from "../actors/errors";
import { AuthRefreshMessage } from "../media/wire/control";
import { admitUpgrade, TokenExpiry } from "./auth";
import { isValidHandshake, readUpgrade, upgradeAfterAdmission, type WebSocket } from "./uws";
import { listenerTopics, parseBatchMs } from "./fanout";
import { abrState, type AbrState, type ReportState } from "./abr";
import { moveListener, onListenerReport, wsRenditions } from "./listener-renditions";

export interface ListenerData {
  kind: "listener";
  /** The client's address. */
  ip: string;
  /** Counted in the gateway's waiting listeners of this IP (joined a stream that was not live). */
  waiting: boolean;
  session: ListenerSession | null;
  /** Session to resume, loaded from the cluster store during the upgrade. */
  resume: SessionRecord | null;
  streamId: string;
  /** Radio mode: the batch period asked for with `?batch=` (ms, a multiple of 20), 0 for none. */
  batchMs: number;
  closed: boolean;
  /** Set by the gateway's backpressure sweep before it closes the socket. */
  slow: boolean;
  /** Text messages (clock pings) this listener may still send now; see {@link PING_RATE}. */
  pings: TokenBucket;
  /** With LISTEN_AUTH=token: what the listener's token allows, its `sub` and `exp`. */
  grant: VerifiedToken | null;
  /** An auth refusal decided at the upgrade, sent and closed with as soon as the socket opens. */
  refusal: VezaError | null;
  /** The token's expiry timers (LISTEN_AUTH=token). */
  expiry: TokenExpiry | null;
  /** This listener's place in the per-IP and per-stream listener quotas, released on close. */
  slot: ListenerSlot | null;
  /** The rendition it hears (or is moving to). */
  rendition: number;
  /** `auto`: the gateway adapts the rendition (gateway/abr.ts); a number: the listener fixed it. */
  mode: "auto" | number;
  /** A move under way (gateway/rendition-feeds.ts): until the new rendition reaches its media time. */
  moving: { from: number; to: number } | null;
  abr: AbrState;
  /** Its receiver reports (`listener.report`) as ABR uses them; null before one, and after a move. */
  reported: ReportState | null;
}

/** `?rendition=` and `rendition.select`: `auto` or a rendition id. @throws RangeError. */
export function parseRendition(value: string | null): "auto" | number {
  if (value === null || value === "" || value === "auto") return "auto";
  if (!/^\d{1,3}$/.test(value) || Number(value) > 255) throw new RangeError("rendition is auto or a rendition id, 0-255 (hello lists them)");
  return Number(value);
}

/** Listener → server: the end of the newest frame it received (media time, samples at 48 kHz), for ABR. */
const ListenerReport = z.object({ type: z.literal("listener.report"), received: z.number().int().min(0).max(2 ** 48) });

/** Listener → server: choose a rendition, or `auto`. */
const RenditionSelect = z.object({ type: z.literal("rendition.select"), rendition: z.union([z.literal("auto"), z.number().int().min(0).max(255)]) });

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

/**
 * Largest message a listener may send (clock pings are under 100 bytes); a larger one is refused
 * with MESSAGE_TOO_BIG and close 1009. Past {@link LISTEN_TRANSPORT_MAX_BYTES} uWS cuts the connection.
 */
export const LISTEN_MAX_MESSAGE_BYTES = 4 * 1024;
export const LISTEN_TRANSPORT_MAX_BYTES = 64 * 1024;

/** Listener → server: the one message a listener sends. `t0` must be a finite number (JSON has no Infinity). */
const ClockPing = z.object({ type: z.literal("clock.ping"), id: z.number().finite().optional(), t0: z.number().finite() });

export function registerListenRoute(gw: Gateway): void {
  const { app, config } = gw;

  /** auth.refresh (LISTEN_AUTH=token): a token of the same sub with listen on this stream renews the session. */
  const onRefresh = async (ws: WebSocket<ListenerData>, token: string): Promise<void> => {
    const data = ws.getUserData();
    if (!data.grant) return; // LISTEN_AUTH=none: nothing expires
    try {
      data.grant = await gw.access.refresh(data.grant, { token, ip: data.ip, action: "listen", streamId: data.streamId, via: "ws.listen" });
      if (data.closed) return;
      data.expiry?.renew(data.grant.exp);
      ws.cork(() => ws.send(JSON.stringify({ type: "auth.refreshed", exp: data.grant!.exp }), false));
    } catch (err) {
      const code = errorCodeOf(err);
      if (code !== "AUTH_UNAVAILABLE") gw.closeListener(ws, code, (err as Error).message);
      else if (!data.closed) ws.cork(() => ws.send(JSON.stringify({ type: "error", code, message: (err as Error).message }), false));
    }
  };
  /** rendition.select: `auto`, or an Opus rendition of the stream (another is answered with a BAD_REQUEST error message). */
  const onSelect = (ws: WebSocket<ListenerData>, choice: "auto" | number): void => {
    const data = ws.getUserData();
    if (data.batchMs > 0) return void ws.send(JSON.stringify({ type: "error", code: "BAD_REQUEST", message: "batched listeners (?batch=) hear rendition 0 only" }), false);
    if (choice === "auto") {
      data.mode = "auto";
      data.abr = abrState(config.abrStableMs);
      return;
    }
    if (!wsRenditions(gw, data.streamId).some((r) => r.id === choice)) {
      return void ws.send(JSON.stringify({ type: "error", code: "BAD_REQUEST", message: `no Opus rendition ${choice} of stream ${data.streamId}` }), false);
    }
    data.mode = choice;
    moveListener(gw, ws, choice, "select");
  };
  app.ws<ListenerData>("/ws/listen/:streamId", {
    maxPayloadLength: LISTEN_TRANSPORT_MAX_BYTES,
    maxBackpressure: config.maxBackpressureBytes,
    // uWS skips a socket over the limit; the gateway's sweep then cuts it and counts it (uWS's own
    // closeOnBackpressureLimit reports 1006 in `close`, indistinguishable from a vanished client)
    closeOnBackpressureLimit: 0,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const u = readUpgrade(res, req);
      const { streamId, query, ip } = u;
      const resumeId = query.get("session");
      if (!isValidHandshake(u)) {
        gw.rejectUpgrade(res, "UPGRADE_REQUIRED");
        return;
      }
      if (!STREAM_ID_PATTERN.test(streamId)) {
        gw.rejectUpgrade(res, "BAD_STREAM_ID");
        return;
      }
      let batchMs: number;
      let mode: "auto" | number;
      try {
        batchMs = parseBatchMs(query.get("batch"));
        mode = parseRendition(query.get("rendition"));
      } catch (err) {
        gw.rejectUpgrade(res, "BAD_REQUEST", (err as Error).message);
        return;
      }
      if (gw.draining) {
        gw.rejectUpgrade(res, "NODE_DRAINING");
        return;
      }
      if (gw.listenerCount >= config.maxListeners) {
        gw.rejectUpgrade(res, "NODE_SHUTTING_DOWN", "this gateway is full");
        return;
      }
      const waiting = !gw.isLive(streamId);
      // a waiting listener costs a socket and no stream state; MAX_WAITING_PER_IP bounds the sockets
      if (waiting && (gw.waitingByIp.get(ip) ?? 0) >= config.maxWaitingPerIp) {
        gw.rejectUpgrade(res, "RATE_LIMITED", `at most ${config.maxWaitingPerIp} listeners per address may wait for streams that are not live`);
        return;
      }
      let aborted = false;
      res.onAborted(() => (aborted = true));
      void (async () => {
        const admission = await admitUpgrade(gw, res, u, "listen", () => aborted);
        if (!admission || aborted) return;
        const data: ListenerData = {
          kind: "listener", ip, waiting, session: null, resume: null, streamId, batchMs, closed: false, slow: false, pings: pingBucket(),
          grant: admission.grant, refusal: admission.refusal, expiry: null, slot: null,
          // batched listeners share one topic per period: rendition 0 only
          rendition: 0, mode: batchMs > 0 ? 0 : mode, moving: null, abr: abrState(config.abrStableMs), reported: null,
        };
        if (!data.refusal) {
          const slot = await gw.access.limits.openListener(ip, streamId);
          if (!slot.ok) {
            if (!aborted) gw.rejectUpgrade(res, "RATE_LIMITED", `listener quota ${slot.limit} reached`, slot.retryAfterS);
            return;
          }
          data.slot = slot;
          if (resumeId && resumeId.length <= 64) {
            const record = await gw.loadSession(resumeId);
            if (record && record.streamId === streamId) data.resume = record;
          }
        }
        if (aborted) return void data.slot?.release();
        upgradeAfterAdmission(res, data, u, context);
      })();
    },
    open: (ws) => {
      const data = ws.getUserData();
      if (data.refusal) return gw.closeListener(ws, errorCodeOf(data.refusal), data.refusal.message);
      if (data.grant) {
        data.expiry = new TokenExpiry((text) => !data.closed && ws.cork(() => ws.send(text, false)), () => gw.closeListener(ws, "TOKEN_EXPIRED", `the token of ${data.grant?.sub} expired; send auth.refresh before it does (docs/protocol.md)`));
        data.expiry.renew(data.grant.exp);
      }
      const offered = wsRenditions(gw, data.streamId);
      if (typeof data.mode === "number") {
        // a rendition the stream does not have as Opus (when its ladder is known) is refused
        if (gw.statusOf(data.streamId).renditions.length > 0 && !offered.some((r) => r.id === data.mode)) {
          return gw.closeListener(ws, "BAD_REQUEST", `stream ${data.streamId} has no Opus rendition ${data.mode} (renditions: ${offered.map((r) => r.id).join(", ")})`);
        }
        data.rendition = data.mode;
      }
      if (data.waiting) gw.waitingByIp.set(data.ip, (gw.waitingByIp.get(data.ip) ?? 0) + 1);
      const carried = data.resume;
      // joined before the session counts its frames: a batched listener's join publishes what its batch held
      gw.fanout.join(data.streamId, data.batchMs);
      const session = new ListenerSession(carried?.sessionId ?? randomUUID(), data.streamId, carried?.connectedAt ?? Date.now(), gw.fanout.framesPublished(data.streamId, data.batchMs), carried ?? undefined);
      data.session = session;
      session.renditions.add(data.rendition);
      gw.sessions.set(session.sessionId, ws);
      emitSessionEvent(gw.broker, "session.start", session.info(gw.broker.nodeID, gw.fanout.framesPublished(data.streamId, data.batchMs), data.grant?.sub));
      const hello: HelloMessage = {
        type: "hello",
        protocolVersion: PROTOCOL_VERSION,
        sessionId: session.sessionId,
        streamId: data.streamId,
        codec: "opus",
        sampleRate: MEDIA_CLOCK_HZ,
        channels: 2,
        frameDurationMs: (DEFAULT_FRAME_SAMPLES * 1000) / MEDIA_CLOCK_HZ,
        rendition: data.rendition,
        renditionMode: data.mode === "auto" ? "auto" : "fixed",
        renditions: offered,
        resumed: carried !== null,
        reconnects: session.reconnects,
      };
      ws.cork(() => {
        ws.send(JSON.stringify(hello), false);
        ws.send(JSON.stringify({ type: "stream.status", ...gw.statusOf(data.streamId) }), false);
        for (const tick of gw.ticksFor(data.streamId)) ws.send(JSON.stringify({ type: "sync.tick", streamId: data.streamId, ...tick }), false);
        const info = gw.streamInfo.get(data.streamId);
        if (info && (info.title || Object.keys(info.metadata).length)) {
          ws.send(JSON.stringify({ type: "stream.metadata", streamId: info.streamId, title: info.title, metadata: info.metadata }), false);
        }
      });
      gw.renditions.join(data.streamId, data.rendition);
      for (const topic of listenerTopics(data.streamId, data.batchMs, data.rendition)) ws.subscribe(topic);
      gw.listenerCount++;
      gw.reportListeners(data.streamId);
    },
    message: (ws, message, isBinary) => {
      // clock.ping → clock.pong (NTP-style, RFC 5905 §8): t1 as early as possible, t2 just before sending
      const t1 = clusterNowUs();
      if (message.byteLength > LISTEN_MAX_MESSAGE_BYTES) {
        const spec = ERROR_CATALOGUE.MESSAGE_TOO_BIG;
        ws.cork(() => {
          ws.send(JSON.stringify({ type: "error", code: "MESSAGE_TOO_BIG", message: `listener messages are at most ${LISTEN_MAX_MESSAGE_BYTES} bytes` }), false);
          ws.end(spec.close, "MESSAGE_TOO_BIG");
        });
        return;
      }
      if (isBinary || !ws.getUserData().pings.tryRemoveTokens(1)) return;
      let json: unknown;
      try {
        json = JSON.parse(Buffer.from(message).toString("utf8"));
      } catch {
        return; // listeners' bad input is ignored, never fatal
      }
      const ping = ClockPing.safeParse(json);
      if (!ping.success) {
        const refresh = AuthRefreshMessage.safeParse(json);
        if (refresh.success) return void onRefresh(ws, refresh.data.token);
        const report = ListenerReport.safeParse(json);
        if (report.success) return void onListenerReport(gw, ws, report.data.received);
        const select = RenditionSelect.safeParse(json);
        if (select.success) onSelect(ws, select.data.rendition);
        return;
      }
      const { id = 0, t0 } = ping.data;
      ws.send(`{"type":"clock.pong","id":${id},"t0":${t0},"t1":${t1},"t2":${clusterNowUs()}}`, false);
    },
    close: (ws, code) => {
      const data = ws.getUserData();
      data.closed = true;
      data.expiry?.stop();
      void data.slot?.release();
      if (data.refusal) return;
      if (data.waiting) {
        const left = (gw.waitingByIp.get(data.ip) ?? 1) - 1;
        if (left > 0) gw.waitingByIp.set(data.ip, left);
        else gw.waitingByIp.delete(data.ip);
      }
      const session = data.session;
      if (!session) return;
      const published = gw.fanout.framesPublished(data.streamId, data.batchMs);
      if (data.slow) session.framesDropped++;
      session.end(published);
      gw.sessions.delete(session.sessionId);
      gw.saveSession(session.record(published));
      const endedAt = Date.now();
      emitSessionEvent(gw.broker, "session.end", { ...session.info(gw.broker.nodeID, published, data.grant?.sub), endedAt, durationMs: endedAt - session.connectedAt, code });
      gw.fanout.leave(data.streamId, data.batchMs);
      gw.renditions.leave(data.streamId, data.rendition, ws as WebSocket<unknown>);
      gw.listenerCount--;
      gw.reportListeners(data.streamId);
      gw.log.debug({ ...session.stats(published), code }, "listener left");
    },
  });
}
