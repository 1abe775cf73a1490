/**
 * The one catalogue of veza-stream errors. Every error a client or another node can see has a
 * stable `code` (the Moleculer `type`) listed here, an HTTP status, a WebSocket close code, and
 * whether retrying may help. {@link VezaError} extends MoleculerError so code, data and retryable
 * survive crossing the network (Moleculer serialises `type`, `code`, `data`, `retryable`).
 * The same table is in docs/protocol.md; test/unit/errors.test.ts checks they agree.
 */
import { Errors } from "moleculer";

/** Entry of the catalogue. `close` is the WebSocket close code (RFC 6455 §7.4.2: 4000-4999 are ours). */
interface ErrorSpec {
  status: number;
  close: number;
  retryable: boolean;
  text: string;
}

export const ERROR_CATALOGUE = {
  BAD_REQUEST: { status: 400, close: 4400, retryable: false, text: "the message is not valid JSON or does not match its schema" },
  BAD_FRAME: { status: 400, close: 4400, retryable: false, text: "a binary frame does not follow the wire format" },
  NOT_STARTED: { status: 409, close: 4409, retryable: false, text: "audio or metadata sent before stream.start" },
  NOT_FOUND: { status: 404, close: 1008, retryable: false, text: "no such HTTP route" },
  STREAM_NOT_FOUND: { status: 404, close: 4404, retryable: false, text: "no such stream" },
  SESSION_NOT_FOUND: { status: 404, close: 4404, retryable: false, text: "no such listener session on this gateway" },
  RECORDING_NOT_FOUND: { status: 404, close: 4404, retryable: false, text: "no such recording, or no such segment of it" },
  RECORDING_UNAVAILABLE: { status: 503, close: 1011, retryable: true, text: "the recordings' object store (S3) could not be reached" },
  RANGE_NOT_SATISFIABLE: { status: 416, close: 4400, retryable: false, text: "the Range asked for lies outside the recording (RFC 9110 §15.5.17)" },
  BAD_STREAM_ID: { status: 400, close: 4400, retryable: false, text: "stream ids are 1-64 characters of A-Z a-z 0-9 _ -" },
  BROADCASTER_EXISTS: { status: 409, close: 4409, retryable: true, text: "the stream already has a broadcaster" },
  UNSUPPORTED_FORMAT: { status: 415, close: 4415, retryable: false, text: "the audio format is not supported" },
  STREAM_ENDED: { status: 410, close: 4410, retryable: false, text: "an operator ended the stream" },
  ENCODER_FAILED: { status: 502, close: 4502, retryable: true, text: "the encoder (ffmpeg) failed and could not be restarted" },
  START_TIMEOUT: { status: 408, close: 4408, retryable: true, text: "no stream.start within the allowed time" },
  SLOW_LISTENER: { status: 503, close: 1006, retryable: true, text: "the listener did not keep up and passed the backpressure limit; its connection is cut (no close frame can pass the backlog)" },
  STREAM_MOVED: { status: 409, close: 4409, retryable: true, text: "another live node owns the stream; retry there (data.owner)" },
  OWNER_LOST: { status: 503, close: 1012, retryable: true, text: "the node that owned the stream was lost and the gateway could not re-home the stream itself; reconnect to re-home it" },
  NO_WORKER: { status: 503, close: 1013, retryable: true, text: "no live node runs the stream service" },
  NODE_SHUTTING_DOWN: { status: 503, close: 1001, retryable: true, text: "the node is shutting down" },
  NODE_DRAINING: { status: 503, close: 1012, retryable: true, text: "this gateway is draining (it is being stopped): reconnect now to another gateway; listeners resume their session (?session=), broadcasters their stream (resume)" },
  BROADCASTER_REPLACED: { status: 409, close: 4409, retryable: false, text: "the broadcaster resumed on another connection, which took the stream over; this one is closed" },
  BROADCASTER_TOO_FAST: { status: 429, close: 4429, retryable: false, text: "the broadcaster kept sending audio faster than real time (see docs/protocol.md, Pacing)" },
  MESSAGE_TOO_BIG: { status: 413, close: 1009, retryable: false, text: "the message is larger than this endpoint accepts" },
  RATE_LIMITED: { status: 429, close: 4429, retryable: true, text: "too many requests or connections from this address; retry later" },
  UPGRADE_REQUIRED: { status: 426, close: 1002, retryable: false, text: "this endpoint takes WebSocket upgrades only, RFC 6455 version 13 (Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key)" },
  UNAUTHORIZED: { status: 401, close: 4401, retryable: false, text: "no valid token: missing, malformed, badly signed, signed by an unknown key, not yet valid or revoked (data.reason says which)" },
  TOKEN_EXPIRED: { status: 401, close: 4401, retryable: false, text: "the token has expired; get a new one" },
  FORBIDDEN: { status: 403, close: 4403, retryable: false, text: "the token is valid but its scopes do not allow this action on this stream" },
  AUTH_UNAVAILABLE: { status: 503, close: 1013, retryable: true, text: "the token could not be checked: the key set (JWKS_URL) or the revocation list (Redis) cannot be reached" },
  INTERNAL: { status: 500, close: 1011, retryable: true, text: "unexpected server error" },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/**
 * A catalogued error. Moleculer's fields: `type` is the stable catalogue string (also `errorCode`),
 * `code` the HTTP status, `data` details, `retryable` from the catalogue. After crossing the network
 * it arrives as a plain Error named "VezaError" with the same fields: use {@link errorCodeOf}.
 */
export class VezaError extends Errors.MoleculerError {
  constructor(code: ErrorCode, message?: string, data?: Record<string, unknown>) {
    const spec: ErrorSpec = ERROR_CATALOGUE[code];
    super(message ?? spec.text, spec.status, code, data);
    this.retryable = spec.retryable;
  }

  /** The stable catalogue code, e.g. `BROADCASTER_EXISTS`. */
  get errorCode(): ErrorCode {
    return this.type as ErrorCode;
  }
}

/** Whether `code` is a catalogue code. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.prototype.hasOwnProperty.call(ERROR_CATALOGUE, code);
}

/**
 * The catalogue code of any thrown value: a VezaError's own, one that came back over the network
 * (a MoleculerError whose `type` is in the catalogue), `BAD_FRAME` for a WireError, else INTERNAL.
 */
export function errorCodeOf(err: unknown): ErrorCode {
  if (err && typeof err === "object") {
    const type = (err as { type?: unknown }).type;
    if (isErrorCode(type)) return type;
    if ((err as { name?: unknown }).name === "WireError") return "BAD_FRAME";
    if ((err as { name?: unknown }).name === "ValidationError") return "BAD_REQUEST";
  }
  return "INTERNAL";
}

/** WebSocket close code for a catalogue code. */
export function closeCodeOf(code: ErrorCode): number {
  return ERROR_CATALOGUE[code].close;
}
