/**
 * The actor contract: every Moleculer action with its params schema (zod, the one source of both
 * validation and types) and result type, and every event with its payload. {@link call} and
 * {@link emitEvent} are the only ways the code base calls actions or emits events, so a call cannot
 * drift from its handler.
 */
import type { CallingOptions, Context, ServiceBroker } from "moleculer";
import { z } from "zod";
import { INGEST_FORMATS, STREAM_ID_PATTERN, type StreamInfo } from "../media/wire/control";
import type { SyncTick } from "../media/clock/playout";
import { VezaError } from "./errors";
import type { RemoteRelayInfo } from "../gateway/remote-relays";
import type { AnalyticsReport } from "./analytics/report";
import type { RecordingInfo } from "../media/recording/manifest";

const streamId = z.string().regex(STREAM_ID_PATTERN);
const metadata = z.record(z.string(), z.string());
/** Bytes a gateway published on `ingest.<id>` for one broadcaster session (absent: unknown). */
const ingestBytes = z.number().int().min(0).optional();
/** `sub`: the user of the broadcaster's token; only the same user may take the session over (resume). */
const broadcaster = z.object({ sessionId: z.string().min(1), nodeID: z.string().min(1), sub: z.string().max(256) });

/** Params schema of each action. */
export const ACTION_PARAMS = {
  /** Puts a broadcaster on air. Errors: BAD_REQUEST, BROADCASTER_EXISTS, FORBIDDEN (resume by another user), STREAM_MOVED (data.owner), ENCODER_FAILED. */
  "stream.start": z.object({
    streamId,
    format: z.enum(INGEST_FORMATS),
    title: z.string().optional(),
    sampleRate: z.number().int().optional(),
    channels: z.number().int().min(1).max(2).optional(),
    metadata: metadata.optional(),
    broadcaster,
    playoutDelayMs: z.number().int().min(20).max(10_000).optional(),
    /** Session id of the broadcaster's previous connection: taken over even if still on air. */
    resume: z.string().optional(),
    /** The stream's ladder rungs (media/ladder.ts text form); default the node's LADDER. */
    ladder: z.string().max(256).optional(),
    /** Record this broadcast (actors/recording); RECORD_STREAMS and an admin can also turn it on. */
    record: z.boolean().optional(),
  }),
  /**
   * Takes a broadcaster off air: `stop` → state ended, `disconnect` → offline. Idempotent.
   * `ingestBytes`: bytes the gateway published on `ingest.<id>` for this session; a container
   * stream's encoder waits for all of them before it ends (see encoder.close).
   */
  "stream.stop": z.object({ streamId, sessionId: z.string(), reason: z.enum(["stop", "disconnect", "error"]), ingestBytes }),
  /** Operator: ends the broadcast on air (state ended; the broadcaster is closed with 4410). Errors: STREAM_NOT_FOUND. */
  "stream.end": z.object({ streamId }),
  /** Updates now-playing metadata. Errors: STREAM_NOT_FOUND, NOT_STARTED (not this broadcaster). */
  "stream.metadata": z.object({ streamId, sessionId: z.string(), title: z.string().optional(), metadata: metadata.optional() }),
  /** Admin, on the stream's owner: turns recording of a live stream on or off (off ends its recording). Errors: STREAM_NOT_FOUND (not live here), FORBIDDEN. */
  "stream.record": z.object({ streamId, on: z.boolean() }),
  /** One stream's public view. Errors: STREAM_NOT_FOUND. */
  "stream.get": z.object({ streamId }),
  /** All streams this node owns. */
  "stream.list": z.object({}),
  /** A gateway's count of its listeners of one stream (absolute, not a delta); ignored for a stream no broadcaster created. */
  /** `count`: the node's listeners of the stream; `passthrough`: those of them hearing the source's own bytes (no Opus needed). */
  /** `renditions`: by rendition id (≥ 1, as a string), how many of them use that ladder rung (WebSocket listeners on it, an HLS or DASH packager of it). */
  "stream.listeners": z.object({
    streamId, nodeID: z.string(), count: z.number().int().min(0), passthrough: z.number().int().min(0).optional(),
    renditions: z.record(z.string().regex(/^\d{1,3}$/), z.number().int().min(0)).optional(),
  }),
  /** Starts transcoding a stream's ingest into Opus (ffmpeg failures come later, as encoder.failed). Errors: BAD_REQUEST. */
  "encoder.open": z.object({
    streamId,
    format: z.enum(INGEST_FORMATS).exclude(["opus"]),
    sampleRate: z.number().int().optional(),
    channels: z.number().int().min(1).max(2).optional(),
  }),
  /**
   * Stops a stream's encoder after encoding its input; idempotent. `ingestBytes`: the session's
   * bytes published on `ingest.<id>`, which the encoder waits to have received (bounded) first.
   */
  "encoder.close": z.object({ streamId, ingestBytes }),
  "encoder.pause": z.object({ streamId }),
  "encoder.resume": z.object({ streamId }),
  /**
   * Sets the ladder rungs that run for a stream (made from its rendition 0 on this node's media bus,
   * actors/encoder/rung-encoder.ts): those listed start, the others stop; idempotent. The stream
   * actor asks for the rungs someone uses.
   */
  "encoder.ladder": z.object({
    streamId,
    rungs: z.array(z.object({ id: z.number().int().min(1).max(255), codec: z.enum(["opus", "aac"]), bitrate: z.number().int().min(6000).max(510_000), channels: z.union([z.literal(1), z.literal(2)]) })).max(8),
  }),
  /** Encoders running on this node (pid, restarts, frames out). */
  "encoder.list": z.object({}),
  /**
   * Operator (admin on the stream): relays a stream from (`pull`: it goes on air) or to (`push`) a
   * remote `srt://` or `rist://` endpoint, on this node's gateway. Errors: BAD_REQUEST (the URI, SRT
   * or RIST missing here, no gateway on this node), BROADCASTER_EXISTS (pull), STREAM_NOT_FOUND
   * (push of a stream not live).
   */
  "relay.start": z.object({ streamId, uri: z.string().min(1).max(1024), direction: z.enum(["pull", "push"]) }),
  /** Operator: stops a remote relay of this node. Errors: STREAM_NOT_FOUND (no such relay). */
  "relay.stop": z.object({ id: z.string().min(1).max(64) }),
  /** Remote relays on this node (admin). */
  "relay.remotes": z.object({}),
  /** A stream's listening figures over [from, to), ms since the epoch (default: the last 24 h) (admin on the stream). */
  "analytics.query": z.object({ streamId, from: z.number().int().min(0).optional(), to: z.number().int().min(0).optional() }).refine((p) => p.from === undefined || p.to === undefined || p.from < p.to, "from must be before to"),
  /** Listener sessions on this gateway (WebSocket, HTTP, SRT readers), optionally of one stream (admin). */
  "listener-session.list": z.object({ streamId: streamId.optional() }),
  /** One listener session of this gateway (admin on its stream). Errors: SESSION_NOT_FOUND. */
  "listener-session.get": z.object({ sessionId: z.string().min(1).max(64) }),
  /** Closes a listener session of this gateway (WebSocket: 1008; HTTP, SRT: the connection), audited (admin on its stream). Errors: SESSION_NOT_FOUND. */
  "listener-session.kick": z.object({ sessionId: z.string().min(1).max(64) }),
} as const;

export interface EncoderInfo {
  streamId: string;
  format: string;
  pid: number | null;
  restarts: number;
  framesOut: number;
  /** No listener needs Opus: ffmpeg is stopped until one does (ENCODER_IDLE_MS). */
  paused: boolean;
}

/** Result type of each action. */
export interface ActionResults {
  "stream.start": StreamInfo;
  "stream.stop": StreamInfo;
  "stream.end": StreamInfo;
  "stream.metadata": StreamInfo;
  "stream.get": StreamInfo;
  "stream.record": { streamId: string; recording: RecordingInfo | null };
  "stream.list": StreamInfo[];
  /** null when this node holds no such stream (a listener waiting for a stream nobody started creates nothing). */
  "stream.listeners": StreamInfo | null;
  "encoder.open": EncoderInfo;
  "encoder.close": { closed: boolean };
  /** `paused`: the encoder's state after the call; `changed`: whether the call changed it. */
  "encoder.pause": { paused: boolean; changed: boolean };
  "encoder.resume": { paused: boolean; changed: boolean };
  /** The rungs running for the stream after the call. */
  "encoder.ladder": { running: number[] };
  "encoder.list": EncoderInfo[];
  "relay.start": RemoteRelayInfo;
  "relay.stop": RemoteRelayInfo;
  "relay.remotes": RemoteRelayInfo[];
  "listener-session.list": SessionInfo[];
  "listener-session.get": SessionInfo;
  "listener-session.kick": { kicked: string };
  "analytics.query": AnalyticsReport;
}

/** How a listener is connected. */
export type ListenerKind = "websocket" | "http" | "srt" | "relay" | "hls" | "dash";

/** A listener session as the listener-session actor shows it. */
export interface SessionInfo {
  sessionId: string;
  streamId: string;
  kind: ListenerKind;
  /** The gateway that holds it. */
  nodeID: string;
  /** ms since the epoch of its first connection (a resumed WebSocket session keeps its first). */
  connectedAt: number;
  connectedMs: number;
  /** `sub` of its listen token, when it gave one. */
  sub?: string;
  /** WebSocket: frames sent and dropped over the whole session, and its reconnections. */
  framesSent?: number;
  framesDropped?: number;
  reconnects?: number;
  /** HTTP and SRT: bytes written to it. */
  bytes?: number;
  /**
   * What it heard: WebSocket, the Opus rendition ids it was sent ("0", "2", … as the ladder numbers
   * them, each once, in the order first used); HTTP, its format (`ogg`, `mp3`, `aac`, with
   * `:transcoded` when made from the stream's Opus); SRT readers and relays, `mpegts`.
   */
  renditions?: string[];
}

/**
 * Events about listener sessions, emitted (balanced: one instance of each subscribing service gets
 * each) by the gateway that holds the session; analytics consumes them.
 */
export interface SessionEventPayloads {
  "session.start": SessionInfo;
  /** `code`: why it ended (a close code or a catalogue code), when known; `durationMs` on this gateway. */
  "session.end": SessionInfo & { endedAt: number; durationMs: number; code?: string | number };
}

/** Emits a session event to one instance of each service that subscribes to it (none: nothing is sent). */
export function emitSessionEvent<E extends keyof SessionEventPayloads>(broker: ServiceBroker, event: E, payload: SessionEventPayloads[E]): void {
  void broker.emit(event, payload);
}

export type ActionName = keyof typeof ACTION_PARAMS;
export type ActionParams<A extends ActionName> = z.infer<(typeof ACTION_PARAMS)[A]>;

/** Payload of each event (all are broadcast to every node). */
export interface EventPayloads {
  /** `sessionId`: the broadcaster now on air; a gateway holding another broadcaster of the stream closes it (BROADCASTER_REPLACED). */
  "stream.start": StreamInfo & { sessionId: string };
  "stream.stop": StreamInfo & { reason: "stop" | "disconnect" | "error"; sessionId: string; code?: string };
  "stream.metadata": StreamInfo;
  "stream.status": StreamInfo;
  "encoder.restarted": { streamId: string; restarts: number; exitCode: number | null; signal: string | null };
  "encoder.failed": { streamId: string; code: string; message: string };
  /** A stream's listening figures over the last 24 h, after sessions started or ended (at most every 2 s a stream): for admin sockets. */
  "analytics.update": Omit<AnalyticsReport, "byHour"> & { at: string };
  /** A stream's clock mapping for synchronised playout (docs/protocol.md, sync.tick). */
  "stream.clock": { streamId: string; tick: SyncTick };
}
export type EventName = keyof EventPayloads;

/** Calls an action with typed params and result. */
export function call<A extends ActionName>(
  via: ServiceBroker | Context,
  action: A,
  params: ActionParams<A>,
  opts?: CallingOptions,
): Promise<ActionResults[A]> {
  return via.call(action, params, opts) as Promise<ActionResults[A]>;
}

/** Broadcasts an event to every node (and every local service) with a typed payload. */
export function emitEvent<E extends EventName>(via: ServiceBroker | Context, event: E, payload: EventPayloads[E]): void {
  void via.broadcast(event, payload);
}

/**
 * Parses action params with the contract's schema.
 * @throws VezaError BAD_REQUEST listing the invalid fields.
 */
export function parseParams<A extends ActionName>(action: A, params: unknown): ActionParams<A> {
  const parsed = ACTION_PARAMS[action].safeParse(params);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "params"}: ${i.message}`).join("; ");
    throw new VezaError("BAD_REQUEST", `${action}: ${detail}`);
  }
  return parsed.data as ActionParams<A>;
}
