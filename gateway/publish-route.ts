/**
 * ws://HOST/ws/publish/:streamId — broadcaster sockets. The first text message must be
 * `stream.start` (within START_TIMEOUT_MS); then binary messages carry audio (audio.data for
 * format `opus`, else container bytes for the encoder) and text messages `stream.metadata` or
 * `stream.stop`. Errors are answered with `{"type":"error",code,message}`; fatal ones also close the
 * socket with the catalogue's close code. Bad frames and bad JSON are answered, never fatal to the
 * node or to other clients.
 */
import { randomUUID } from "node:crypto";
import { call } from "../actors/contract";
import { closeCodeOf, errorCodeOf, ERROR_CATALOGUE, type ErrorCode } from "../actors/errors";
import { opusPacketInfo } from "../media/opus/packet";
import { decodeAudioData } from "../media/wire";
import { BroadcasterMessage, INGEST_FORMATS, STREAM_ID_PATTERN, type IngestFormat, type StartedMessage } from "../media/wire/control";
import { subjects } from "../transports";
import type { Gateway } from "./gateway";
import { readUpgrade, type WebSocket } from "./uws";

type Phase = "awaiting-start" | "starting" | "live" | "closed";

export interface BroadcasterData {
  kind: "broadcaster";
  streamId: string;
  sessionId: string;
  phase: Phase;
  format: IngestFormat | null;
  /** Node that owns the stream actor, once stream.start succeeded. */
  owner: string | null;
  /** Binary messages received while stream.start is in flight, sent on once it succeeds. */
  queued: Uint8Array[];
  startTimer: NodeJS.Timeout | null;
  /** ms since epoch of the last error message sent; errors are rate-limited to one a second. */
  lastErrorAt: number;
}

/** Most binary messages held while stream.start is in flight (about 5 s of 20 ms frames). */
const MAX_QUEUED = 256;

export function registerPublishRoute(gw: Gateway): void {
  const { app, config } = gw;

  const sendError = (ws: WebSocket<BroadcasterData>, code: ErrorCode, message: string, close = false): void => {
    const data = ws.getUserData();
    if (data.phase === "closed") return;
    const now = Date.now();
    if (!close && now - data.lastErrorAt < 1000) return;
    data.lastErrorAt = now;
    ws.cork(() => {
      ws.send(JSON.stringify({ type: "error", code, message }), false);
      if (close) {
        data.phase = "closed";
        ws.end(closeCodeOf(code), code);
      }
    });
  };

  const forward = (data: BroadcasterData, bytes: Uint8Array): void => {
    gw.metrics.bytesIn.inc(bytes.length);
    gw.bus.publish(subjects.ingest(data.streamId), bytes);
  };

  const onStart = async (ws: WebSocket<BroadcasterData>, msg: Extract<BroadcasterMessage, { type: "stream.start" }>): Promise<void> => {
    const data = ws.getUserData();
    data.phase = "starting";
    data.format = msg.format;
    if (data.startTimer) clearTimeout(data.startTimer);
    try {
      const info = await gw.callOwner(data.streamId, "stream.start", {
        streamId: data.streamId,
        format: msg.format,
        title: msg.title,
        sampleRate: msg.sampleRate,
        channels: msg.channels,
        metadata: msg.metadata,
        resume: msg.resume,
        playoutDelayMs: msg.playoutDelayMs,
        broadcaster: { sessionId: data.sessionId, nodeID: gw.broker.nodeID },
      });
      if ((data.phase as Phase) === "closed") {
        await call(gw.broker, "stream.stop", { streamId: data.streamId, sessionId: data.sessionId, reason: "disconnect" }, { nodeID: info.owner });
        return;
      }
      data.phase = "live";
      data.owner = info.owner;
      gw.placement.learn(info);
      gw.addBroadcaster(data.streamId, ws);
      const started: StartedMessage = { type: "stream.started", sessionId: data.sessionId, ...info };
      ws.cork(() => ws.send(JSON.stringify(started), false));
      for (const bytes of data.queued) forward(data, bytes);
      data.queued = [];
    } catch (err) {
      const code = errorCodeOf(err);
      gw.log.info({ streamId: data.streamId, code }, "stream.start refused");
      sendError(ws, code, err instanceof Error ? err.message : ERROR_CATALOGUE[code].text, true);
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
      call(gw.broker, "stream.metadata", { streamId: data.streamId, sessionId: data.sessionId, title: msg.title, metadata: msg.metadata }, { nodeID: data.owner ?? undefined }).catch((err: unknown) => {
        if (data.phase !== "closed") sendError(ws, errorCodeOf(err), err instanceof Error ? err.message : "metadata refused");
      });
      return;
    }
    // stream.stop: the stream ends; the socket closes normally
    data.phase = "closed";
    gw.removeBroadcaster(data.streamId, ws);
    ws.end(1000, "stream.stop");
    void call(gw.broker, "stream.stop", { streamId: data.streamId, sessionId: data.sessionId, reason: "stop" }, { nodeID: data.owner ?? undefined }).catch((err: unknown) => gw.log.warn({ err }, "stream.stop failed"));
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
    maxPayloadLength: 1024 * 1024,
    maxBackpressure: 1024 * 1024,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const { streamId, key, protocol, extensions } = readUpgrade(req);
      if (!STREAM_ID_PATTERN.test(streamId)) {
        gw.rejectUpgrade(res, "BAD_STREAM_ID");
        return;
      }
      const data: BroadcasterData = { kind: "broadcaster", streamId, sessionId: randomUUID(), phase: "awaiting-start", format: null, owner: null, queued: [], startTimer: null, lastErrorAt: 0 };
      res.upgrade(data, key, protocol, extensions, context);
    },
    open: (ws) => {
      const data = ws.getUserData();
      data.startTimer = setTimeout(() => {
        if (data.phase === "awaiting-start") sendError(ws, "START_TIMEOUT", `no stream.start within ${config.startTimeoutMs} ms`, true);
      }, config.startTimeoutMs);
    },
    message: (ws, message, isBinary) => {
      try {
        if (isBinary) onBinary(ws, message);
        else onText(ws, Buffer.from(message).toString("utf8"));
      } catch (err) {
        gw.log.error({ err, streamId: ws.getUserData().streamId }, "broadcaster message handler failed");
        sendError(ws, "INTERNAL", "internal error");
      }
    },
    close: (ws, code) => {
      const data = ws.getUserData();
      const wasOnAir = data.phase === "live";
      data.phase = "closed";
      if (data.startTimer) clearTimeout(data.startTimer);
      gw.removeBroadcaster(data.streamId, ws);
      gw.log.info({ streamId: data.streamId, sessionId: data.sessionId, code }, "broadcaster left");
      if (wasOnAir) {
        void call(gw.broker, "stream.stop", { streamId: data.streamId, sessionId: data.sessionId, reason: "disconnect" }, { nodeID: data.owner ?? undefined }).catch((err: unknown) =>
          gw.log.warn({ err, streamId: data.streamId }, "stream.stop after disconnect failed"),
        );
      }
    },
  });
}
