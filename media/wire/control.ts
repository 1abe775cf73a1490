/**
 * Text (JSON) messages of the WebSocket protocol, documented in docs/protocol.md. Client-to-server
 * messages are validated with zod schemas here; server-to-client messages are typed here so the
 * gateway, the CLI and the browser client share one definition.
 */
import { parseLadder, type Rendition } from "../ladder";
import { z } from "zod";

/**
 * Container or codec a broadcaster may send. `opus` means binary audio.data messages; `aac` is
 * ADTS (what Icecast sources send as audio/aac, audio/aacp), `flac` native FLAC (audio/flac),
 * `mpegts` an MPEG transport stream (ISO/IEC 13818-1) with AAC, MP3 or Opus audio, as SRT sources
 * send it (video ignored).
 */
export const INGEST_FORMATS = ["opus", "ogg", "webm", "mp3", "wav", "pcm_s16le", "aac", "flac", "mpegts"] as const;
export type IngestFormat = (typeof INGEST_FORMATS)[number];

/** Stream ids: 1-64 of A-Z a-z 0-9 _ - (safe as URL segment, NATS token and uWS topic). */
export const STREAM_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const metadata = z.record(z.string().max(64), z.string().max(1024)).refine((m) => Object.keys(m).length <= 32, "at most 32 metadata keys");

/** Whether `text` is a ladder parseLadder takes. */
function isLadder(text: string): boolean {
  try {
    parseLadder(text);
    return true;
  } catch {
    return false;
  }
}

/** Broadcaster → server: first message on /ws/publish/:streamId. */
export const StreamStartMessage = z
  .object({
    type: z.literal("stream.start"),
    format: z.enum(INGEST_FORMATS),
    title: z.string().max(256).optional(),
    /** Input sample rate in Hz, required for pcm_s16le. */
    sampleRate: z.number().int().min(8_000).max(192_000).optional(),
    /** Input channel count, required for pcm_s16le; for opus, the channels of the packets (default 2). */
    channels: z.number().int().min(1).max(2).optional(),
    metadata: metadata.optional(),
    /** Playout delay of synchronised listeners for this stream, ms (default: the server's PLAYOUT_DELAY_MS). */
    playoutDelayMs: z.number().int().min(20).max(10_000).optional(),
    /** After a reconnection: the sessionId of the broadcaster's previous connection, which it takes over. */
    resume: z.string().max(64).optional(),
    /** This stream's ladder rungs below rendition 0, as LADDER spells them (media/ladder.ts), e.g. `opus:48k:2,aac:96k:2`, or `none`. */
    ladder: z.string().max(256).refine(isLadder, "a ladder is comma-separated <opus|aac>:<bit rate>[k][:<1|2>] rungs, or none").optional(),
    /** Record this broadcast into the recordings' object store (README, Recording); default false. */
    record: z.boolean().optional(),
  })
  .refine((m) => m.format !== "pcm_s16le" || (m.sampleRate !== undefined && m.channels !== undefined), {
    message: "pcm_s16le needs sampleRate and channels",
  });

/** Broadcaster → server: now-playing metadata, at any time after stream.start. */
export const StreamMetadataMessage = z.object({
  type: z.literal("stream.metadata"),
  title: z.string().max(256).optional(),
  metadata: metadata.optional(),
});

/** Broadcaster → server: end the stream (state becomes `ended`). */
export const StreamStopMessage = z.object({ type: z.literal("stream.stop") });

/**
 * Broadcaster or listener → server: a new token for this session, before the current one expires
 * (the server sends auth.expiring ahead of it). Same `sub`, same scope on the stream.
 */
export const AuthRefreshMessage = z.object({ type: z.literal("auth.refresh"), token: z.string().min(1).max(8192) });

export const BroadcasterMessage = z.union([StreamStartMessage, StreamMetadataMessage, StreamStopMessage, AuthRefreshMessage]);
export type BroadcasterMessage = z.infer<typeof BroadcasterMessage>;
export type StreamStart = z.infer<typeof StreamStartMessage>;

/** Lifecycle state of a stream. */
export type StreamState = "offline" | "live" | "ended";

/** Public view of a stream: GET /api/streams/:id, stream.status messages and events. */
export interface StreamInfo {
  streamId: string;
  state: StreamState;
  title: string;
  metadata: Record<string, string>;
  /** Ingest format of the current or last broadcaster; null before the first one. */
  format: IngestFormat | null;
  /** Listeners on all gateways. */
  listeners: number;
  /** ISO 8601 time the current broadcast went live; null when not live. */
  startedAt: string | null;
  /** Frames stamped since the stream was created (all broadcasts). */
  frames: number;
  /** Media time of the next frame, samples at 48 kHz. */
  mediaTime: number;
  /** Average Opus bit rate of the current broadcast, bit/s (0 when not live). */
  bitrate: number;
  /** Node that owns the stream actor. */
  owner: string;
  /** The stream's renditions: 0 its own Opus, then the ladder's rungs (made while someone uses them). */
  renditions: Rendition[];
  /**
   * Only in HTTP answers, when the owner did not answer within {@link API_OWNER_TIMEOUT_MS}: the
   * answering gateway's last known view (from the owner's events), which may be out of date.
   */
  stale?: true;
}

/** How long the HTTP API waits for a stream's owner before answering from what it knows (stale), ms. */
export const API_OWNER_TIMEOUT_MS = 1000;

/** Server → listener, first message: what the binary frames will carry. */
export interface HelloMessage {
  type: "hello";
  protocolVersion: number;
  sessionId: string;
  streamId: string;
  codec: "opus";
  /** Hz; always 48000 (RFC 7587 §4.1). */
  sampleRate: number;
  channels: number;
  frameDurationMs: number;
  /** The rendition the frames will carry first (the frames' rendition byte says which each is). */
  rendition: number;
  /** `auto`: the gateway moves the listener between `renditions` as its link allows; `fixed`: it asked for one (`?rendition=`). */
  renditionMode: "auto" | "fixed";
  /** The stream's renditions a WebSocket listener can hear (Opus, on one 20 ms grid), best first. */
  renditions: Rendition[];
  /** True when `?session=` named a session that this connection resumed (stats carried over). */
  resumed: boolean;
  /** Times this session reconnected so far. */
  reconnects: number;
}

export interface StatusMessage extends StreamInfo {
  type: "stream.status";
}

export interface MetadataMessage {
  type: "stream.metadata";
  streamId: string;
  title: string;
  metadata: Record<string, string>;
}

export interface StartedMessage extends StreamInfo {
  type: "stream.started";
  sessionId: string;
}

export interface ErrorMessage {
  type: "error";
  code: string;
  message: string;
}

/** Server → listener: the stream's clock mapping (media/clock/playout.ts SyncTick). */
export interface SyncTickMessage {
  type: "sync.tick";
  streamId: string;
  anchorMediaTime: number;
  anchorClusterUs: number;
  rateHz: number;
  validFrom: number;
  playoutDelayMs: number;
}

/** Server → listener: answer to a listener's `{"type":"clock.ping","id":n,"t0":µs}`. */
export interface ClockPongMessage {
  type: "clock.pong";
  id: number;
  /** Listener's send time, echoed (its clock, µs). */
  t0: number;
  /** Gateway receive and send times, cluster µs. */
  t1: number;
  t2: number;
}

/** Server → broadcaster or listener: the session's token expires at `exp` (s since the epoch); send auth.refresh. */
export interface AuthExpiringMessage {
  type: "auth.expiring";
  exp: number;
}

/** Server → broadcaster or listener: auth.refresh accepted; the session now lasts until `exp`. */
export interface AuthRefreshedMessage {
  type: "auth.refreshed";
  exp: number;
}

/**
 * Server → listener: frames carry rendition `rendition` from the next audio.data on, contiguous in
 * media time with the last one of the old rendition (docs/protocol.md, "rendition.changed").
 */
export interface RenditionChangedMessage {
  type: "rendition.changed";
  rendition: number;
  /** congestion: the gateway moved an auto listener down; recovered: up after a stable period; select: the listener asked. */
  reason: "congestion" | "recovered" | "select";
}

export type ServerMessage = HelloMessage | StatusMessage | MetadataMessage | StartedMessage | ErrorMessage | SyncTickMessage | ClockPongMessage | AuthExpiringMessage | AuthRefreshedMessage | RenditionChangedMessage;
