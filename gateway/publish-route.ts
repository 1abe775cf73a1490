/**
 * ws://HOST/ws/publish/:streamId — broadcaster sockets. The first text message must be
 * `stream.start` (within START_TIMEOUT_MS); then binary messages carry audio (audio.data for
 * format `opus`, else container bytes for the encoder) and text messages `stream.metadata` or
 * `stream.stop`. Errors are answered with `{"type":"error",code,message}`; fatal ones also close the
 * socket with the catalogue's close code. Bad frames and bad JSON are answered, never fatal to the
 * node or to other clients.
 */
import { randomUUID } from "node:crypto";
import type { CallingOptions } from "moleculer";
import { limitError } from "../actors/auth/access";
import type { VerifiedToken } from "../actors/auth/tokens";
import { call, type ActionParams } from "../actors/contract";
import { errorCodeOf, ERROR_CATALOGUE, type ErrorCode, type VezaError } from "../actors/errors";
import { opusPacketInfo } from "../media/opus/packet";
import { decodeAudioData } from "../media/wire";
import { BroadcasterMessage, INGEST_FORMATS, STREAM_ID_PATTERN, type IngestFormat, type StartedMessage } from "../media/wire/control";
import { subjects } from "../transports";
import { admitUpgrade, TokenExpiry } from "./auth";
import type { Gateway } from "./gateway";
import { isValidHandshake, readUpgrade, upgradeAfterAdmission, type WebSocket } from "./uws";

type Phase = "awaiting-start" | "starting" | "live" | "closed";

export interface BroadcasterData {
  kind: "broadcaster";
  streamId: string;
  sessionId: string;
  phase: Phase;
  format: IngestFormat | null;
  /** Node that owns the stream actor, once stream.start succeeded. */
  owner: string | null;
  /** The broadcaster sent stream.stop, which this gateway passed on (the close then needs no stream.stop). */
  stopSent: boolean;
  /** Binary messages received while stream.start is in flight, sent on once it succeeds. */
  queued: Uint8Array[];
  /** The stream.start this session was put on air with (sent again to re-home it: gateway/rehome.ts). */
  start: Omit<ActionParams<"stream.start">, "resume"> | null;
  /** A re-homing of this session's stream is in flight. */
  rehoming: boolean;
  /** Bytes published on `ingest.<id>` for this session, told in stream.stop (the encoder waits for them). */
  ingestBytes: number;
  startTimer: NodeJS.Timeout | null;
  /** ms since epoch of the last error message sent; errors are rate-limited to one a second. */
  lastErrorAt: number;
  /** The client's address. */
  ip: string;
  /** What the broadcaster's token allows (a publish scope on this stream), its `sub` and `exp`. */
  grant: VerifiedToken | null;
  /** An auth refusal decided at the upgrade, sent and closed with as soon as the socket opens. */
  refusal: VezaError | null;
  /** The token's expiry timers (auth.expiring, then TOKEN_EXPIRED), from open to close. */
  expiry: TokenExpiry | null;
}

/** Most binary messages held while stream.start is in flight (about 5 s of 20 ms frames). */
const MAX_QUEUED = 256;

/**
 * Size limits of a broadcaster's messages (docs/protocol.md, "Limits"). A text message over
 * {@link MAX_TEXT_BYTES} is refused before parsing, with MESSAGE_TOO_BIG and close 1009 (RFC 6455
 * §7.4.1); a binary message over {@link MAX_BINARY_BYTES} is refused with BAD_FRAME and the
 * connection kept; past {@link TRANSPORT_MAX_BYTES} uWS cuts the connection without a close frame.
 */
export const PUBLISH_LIMITS = { MAX_TEXT_BYTES: 64 * 1024, MAX_BINARY_BYTES: 1024 * 1024, TRANSPORT_MAX_BYTES: 4 * 1024 * 1024 } as const;

/**
 * Runs `run` inside a span named `name` when tracing is on (TRACING_URL), passing the span as its
 * calls' parent, so that the actions they reach on other nodes join the trace; else just runs it.
 */
async function traced<T>(gw: Gateway, name: string, tags: Record<string, unknown>, run: (opts: CallingOptions) => Promise<T>): Promise<T> {
  if (!gw.broker.isTracingEnabled()) return run({});
  const span = gw.broker.tracer.startSpan(name, { tags });
  try {
    const result = await run({ parentSpan: span });
    span.finish();
    return result;
  } catch (err) {
    span.setError(err as Error).finish();
    throw err;
  }
}

export function registerPublishRoute(gw: Gateway): void {
  const { app, config } = gw;

  const sendError = (ws: WebSocket<BroadcasterData>, code: ErrorCode, message: string, close = false): void => {
    const data = ws.getUserData();
    if (close) return gw.closeBroadcaster(ws, code, message);
    const now = Date.now();
    if (data.phase === "closed" || now - data.lastErrorAt < 1000) return;
    data.lastErrorAt = now;
    ws.cork(() => ws.send(JSON.stringify({ type: "error", code, message }), false));
  };

  const forward = (data: BroadcasterData, bytes: Uint8Array): void => {
    gw.metrics.bytesIn.inc(bytes.length);
    data.ingestBytes += bytes.length;
    gw.bus.publish(subjects.ingest(data.streamId), bytes);
  };

  const onStart = async (ws: WebSocket<BroadcasterData>, msg: Extract<BroadcasterMessage, { type: "stream.start" }>): Promise<void> => {
    const data = ws.getUserData();
    data.phase = "starting";
    data.format = msg.format;
    if (data.startTimer) clearTimeout(data.startTimer);
    const sub = data.grant?.sub ?? "";
    try {
      const quota = await gw.access.limits.publishStart(sub);
      if (!quota.ok) throw limitError(quota);
      if ((data.phase as Phase) === "closed") return;
      const tags = { streamId: data.streamId, format: msg.format, resume: Boolean(msg.resume) };
      const start = {
        streamId: data.streamId,
        format: msg.format,
        title: msg.title,
        sampleRate: msg.sampleRate,
        channels: msg.channels,
        metadata: msg.metadata,
        playoutDelayMs: msg.playoutDelayMs,
        ladder: msg.ladder,
        record: msg.record,
        broadcaster: { sessionId: data.sessionId, nodeID: gw.broker.nodeID, sub },
      };
      const info = await traced(gw, "ws.publish stream.start", tags, (opts) => gw.callOwner(data.streamId, "stream.start", { ...start, resume: msg.resume }, opts));
      if ((data.phase as Phase) === "closed") {
        await call(gw.broker, "stream.stop", { streamId: data.streamId, sessionId: data.sessionId, reason: "disconnect", ingestBytes: data.ingestBytes }, { nodeID: info.owner });
        return;
      }
      data.phase = "live";
      data.owner = info.owner;
      data.start = start;
      gw.placement.learn(info);
      gw.addBroadcaster(data.streamId, ws);
      gw.access.auditEvent(msg.resume ? "publish.resume" : "publish.start", { streamId: data.streamId, sub, sessionId: data.sessionId, resumed: msg.resume, ip: data.ip, format: msg.format });
      const started: StartedMessage = { type: "stream.started", sessionId: data.sessionId, ...info };
      ws.cork(() => ws.send(JSON.stringify(started), false));
      for (const bytes of data.queued) forward(data, bytes);
      data.queued = [];
    } catch (err) {
      const code = errorCodeOf(err);
      gw.log.info({ streamId: data.streamId, code }, "stream.start refused");
      if (code === "FORBIDDEN" || code === "RATE_LIMITED") gw.access.auditEvent("publish.refused", { streamId: data.streamId, sub, code, ip: data.ip });
      sendError(ws, code, err instanceof Error ? err.message : ERROR_CATALOGUE[code].text, true);
    }
  };

  /** auth.refresh: a token of the same sub with publish on this stream renews the session. */
  const onRefresh = async (ws: WebSocket<BroadcasterData>, token: string): Promise<void> => {
    const data = ws.getUserData();
    if (!data.grant) return;
    try {
      data.grant = await gw.access.refresh(data.grant, { token, ip: data.ip, action: "publish", streamId: data.streamId, via: "ws.publish" });
      if (data.phase === "closed") return;
      data.expiry?.renew(data.grant.exp);
      ws.cork(() => ws.send(JSON.stringify({ type: "auth.refreshed", exp: data.grant!.exp }), false));
    } catch (err) {
      const code = errorCodeOf(err);
      // a Redis or JWKS outage is no reason to drop a broadcaster whose token is still valid
      if (code === "AUTH_UNAVAILABLE") sendError(ws, code, (err as Error).message);
      else sendError(ws, code, (err as Error).message, true);
    }
  };

  const onText = (ws: WebSocket<BroadcasterData>, text: string): void => {
    const data = ws.getUserData();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      sendError(ws, "BAD_REQUEST", "text messages must be JSON");
      return;
    }
    const parsed = BroadcasterMessage.safeParse(json);
    const badFormat = (json as { type?: unknown; format?: unknown } | null)?.type === "stream.start" && !(INGEST_FORMATS as readonly unknown[]).includes((json as { format?: unknown }).format);
    if (badFormat && data.phase === "awaiting-start") {
      sendError(ws, "UNSUPPORTED_FORMAT", `format must be one of ${INGEST_FORMATS.join(", ")}`, true);
      return;
    }
    if (!parsed.success) {
      sendError(ws, "BAD_REQUEST", parsed.error.issues.map((i) => `${i.path.join(".") || "message"}: ${i.message}`).join("; "));
      return;
    }
    const msg = parsed.data;
    if (msg.type === "auth.refresh") {
      void onRefresh(ws, msg.token);
      return;
    }
    if (msg.type === "stream.start") {
      if (data.phase !== "awaiting-start") sendError(ws, "BAD_REQUEST", "stream.start was already sent");
      else void onStart(ws, msg);
      return;
    }
    if (data.phase !== "live") {
      sendError(ws, "NOT_STARTED", `${msg.type} before stream.start`);
      return;
    }
    if (msg.type === "stream.metadata") {
      // a re-homed stream keeps the latest title and metadata
      if (data.start && msg.title !== undefined) data.start.title = msg.title;
      if (data.start && msg.metadata !== undefined) data.start.metadata = msg.metadata;
      call(gw.broker, "stream.metadata", { streamId: data.streamId, sessionId: data.sessionId, title: msg.title, metadata: msg.metadata }, { nodeID: data.owner ?? undefined }).catch((err: unknown) => {
        if (data.phase !== "closed") sendError(ws, errorCodeOf(err), err instanceof Error ? err.message : "metadata refused");
      });
      return;
    }
    // stream.stop: the stream ends; the socket closes normally
    data.phase = "closed";
    data.stopSent = true;
    gw.removeBroadcaster(data.streamId, ws);
    ws.end(1000, "stream.stop");
    void call(gw.broker, "stream.stop", { streamId: data.streamId, sessionId: data.sessionId, reason: "stop", ingestBytes: data.ingestBytes }, { nodeID: data.owner ?? undefined }).catch((err: unknown) => gw.log.warn({ err }, "stream.stop failed"));
  };

  const onBinary = (ws: WebSocket<BroadcasterData>, bytes: ArrayBuffer): void => {
    const data = ws.getUserData();
    if (data.phase === "awaiting-start") {
      gw.metrics.framesDropped.inc({ reason: "not_started" });
      sendError(ws, "NOT_STARTED", "audio before stream.start");
      return;
    }
    // uWS reuses `bytes` after this callback returns: copy before keeping it
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(new Uint8Array(bytes));
    if (data.format === "opus") {
      try {
        // the broadcaster's duration field is not trusted: the TOC byte says what the packet holds
        const { duration } = opusPacketInfo(decodeAudioData(copy).packet);
        new DataView(copy.buffer).setUint16(14, duration);
      } catch (err) {
        gw.metrics.framesDropped.inc({ reason: "bad_frame" });
        sendError(ws, "BAD_FRAME", err instanceof Error ? err.message : "bad frame");
        return;
      }
    }
    if (data.phase === "starting") {
      if (data.queued.length < MAX_QUEUED) data.queued.push(copy);
      else gw.metrics.framesDropped.inc({ reason: "not_started" });
      return;
    }
    if (data.phase === "live") forward(data, copy);
  };

  app.ws<BroadcasterData>("/ws/publish/:streamId", {
    maxPayloadLength: PUBLISH_LIMITS.TRANSPORT_MAX_BYTES,
    maxBackpressure: 1024 * 1024,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const u = readUpgrade(res, req);
      const { streamId } = u;
      if (!isValidHandshake(u)) {
        gw.rejectUpgrade(res, "UPGRADE_REQUIRED");
        return;
      }
      if (!STREAM_ID_PATTERN.test(streamId)) {
        gw.rejectUpgrade(res, "BAD_STREAM_ID");
        return;
      }
      if (gw.draining) {
        gw.rejectUpgrade(res, "NODE_DRAINING");
        return;
      }
      let aborted = false;
      res.onAborted(() => (aborted = true));
      void admitUpgrade(gw, res, u, "publish", () => aborted).then((admission) => {
        if (!admission || aborted) return;
        const data: BroadcasterData = {
          kind: "broadcaster", streamId, sessionId: randomUUID(), phase: "awaiting-start", format: null, owner: null, start: null, rehoming: false, stopSent: false, queued: [], ingestBytes: 0, startTimer: null, lastErrorAt: 0,
          ip: u.ip, grant: admission.grant, refusal: admission.refusal, expiry: null,
        };
        upgradeAfterAdmission(res, data, u, context);
      });
    },
    open: (ws) => {
      const data = ws.getUserData();
      if (data.refusal) {
        gw.closeBroadcaster(ws, errorCodeOf(data.refusal), data.refusal.message);
        return;
      }
      if (data.grant) {
        data.expiry = new TokenExpiry((text) => data.phase !== "closed" && ws.cork(() => ws.send(text, false)), () => gw.closeBroadcaster(ws, "TOKEN_EXPIRED", `the token of ${data.grant?.sub} expired; send auth.refresh before it does (docs/protocol.md)`));
        data.expiry.renew(data.grant.exp);
      }
      data.startTimer = setTimeout(() => {
        if (data.phase === "awaiting-start") sendError(ws, "START_TIMEOUT", `no stream.start within ${config.startTimeoutMs} ms`, true);
      }, config.startTimeoutMs);
    },
    message: (ws, message, isBinary) => {
      try {
        if (!isBinary && message.byteLength > PUBLISH_LIMITS.MAX_TEXT_BYTES) {
          sendError(ws, "MESSAGE_TOO_BIG", `text messages are at most ${PUBLISH_LIMITS.MAX_TEXT_BYTES} bytes; this one has ${message.byteLength}`, true);
        } else if (isBinary && message.byteLength > PUBLISH_LIMITS.MAX_BINARY_BYTES) {
          gw.metrics.framesDropped.inc({ reason: "bad_frame" });
          sendError(ws, "BAD_FRAME", `binary messages are at most ${PUBLISH_LIMITS.MAX_BINARY_BYTES} bytes; this one has ${message.byteLength}`);
        } else if (isBinary) onBinary(ws, message);
        else onText(ws, Buffer.from(message).toString("utf8"));
      } catch (err) {
        gw.log.error({ err, streamId: ws.getUserData().streamId }, "broadcaster message handler failed");
        sendError(ws, "INTERNAL", "internal error");
      }
    },
    close: (ws, code) => {
      const data = ws.getUserData();
      // on air once stream.start succeeded, whoever closed the socket: the gateway itself closing it
      // (MESSAGE_TOO_BIG, …) also takes the stream off air; for a session the owner already took off
      // air (STREAM_ENDED, BROADCASTER_TOO_FAST, BROADCASTER_REPLACED) the stop is a no-op there
      const wasOnAir = data.owner !== null && !data.stopSent;
      data.phase = "closed";
      if (data.startTimer) clearTimeout(data.startTimer);
      data.expiry?.stop();
      gw.removeBroadcaster(data.streamId, ws);
      if (data.owner !== null) gw.access.auditEvent("publish.stop", { streamId: data.streamId, sub: data.grant?.sub, sessionId: data.sessionId, code, ip: data.ip });
      gw.log.info({ streamId: data.streamId, sessionId: data.sessionId, code }, "broadcaster left");
      if (wasOnAir) {
        void call(gw.broker, "stream.stop", { streamId: data.streamId, sessionId: data.sessionId, reason: "disconnect", ingestBytes: data.ingestBytes }, { nodeID: data.owner ?? undefined }).catch((err: unknown) =>
          gw.log.warn({ err, streamId: data.streamId }, "stream.stop after disconnect failed"),
        );
      }
    },
  });
}
