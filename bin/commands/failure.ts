/**
 * Why a connection of the command line failed, in the user's words, and whether retrying may help.
 * One place for the retry policy of `broadcast` and `listen`: close codes, the HTTP status and JSON
 * body of a refused WebSocket upgrade, and socket errors (ECONNREFUSED, …) all become a
 * {@link ConnectionFailure} with the server's error code and text when it sent them.
 *
 * Tokens: UNAUTHORIZED and TOKEN_EXPIRED (close 4401) and FORBIDDEN (4403) are final, and
 * {@link authHint} tells the user how to get a token; RATE_LIMITED is retried, after the upgrade's
 * `Retry-After` (HTTP 429) or {@link RATE_LIMITED_DELAY_MS} (close 4429); AUTH_UNAVAILABLE (1013)
 * is retried like NO_WORKER. BROADCASTER_TOO_FAST shares 4429 and stays final.
 */
import type { IncomingMessage } from "node:http";
import { ERROR_CATALOGUE, isErrorCode } from "../../actors/errors";
import { RATE_LIMITED_DELAY_MS } from "../../client/core/socket";

/** Close codes after which retrying may help: the node or the cluster was in a passing state. */
const RETRYABLE_CLOSE = new Set([
  1001, // going away (NODE_SHUTTING_DOWN)
  1005, // closed without a status
  1006, // connection cut (network, crashed node, SLOW_LISTENER)
  1011, // INTERNAL
  1012, // OWNER_LOST: reconnect to re-home the stream
  1013, // NO_WORKER: try again later
  1014, // bad gateway
  4502, // ENCODER_FAILED
]);

/** Catalogue codes the command line never retries, whatever the catalogue says: the user must act. */
const FINAL_CODES = new Set<string>(["START_TIMEOUT", "STREAM_ENDED", "BAD_REQUEST", "BAD_FRAME", "BAD_STREAM_ID", "UNSUPPORTED_FORMAT", "UNAUTHORIZED", "TOKEN_EXPIRED", "FORBIDDEN"]);

/** Socket errors after which retrying may help (a node restarting, a network blip). */
const RETRYABLE_ERRNO = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "EAI_AGAIN", "ECONNABORTED"]);

/** A failed or lost connection: `code` is the server's catalogue code when it sent one. */
export class ConnectionFailure extends Error {
  override readonly name = "ConnectionFailure";
  constructor(
    /** Catalogue code (`BAD_STREAM_ID`, `NO_WORKER`, …), errno (`ECONNREFUSED`) or `CLOSED`. */
    readonly code: string,
    message: string,
    /** Whether another attempt (after a backoff) may succeed. */
    readonly retryable: boolean,
    /** WebSocket close code, when the connection was closed. */
    readonly closeCode: number | null = null,
    /** HTTP status of a refused upgrade. */
    readonly status: number | null = null,
    /** Least wait before another attempt, ms (the server's Retry-After, or a rate limit's floor). */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }

  /** One line for the user: `BAD_STREAM_ID: stream ids are … (HTTP 400)`. */
  describe(): string {
    const where = this.closeCode !== null ? ` (close ${this.closeCode})` : this.status !== null ? ` (HTTP ${this.status})` : "";
    return `${this.code}: ${this.message}${where}`;
  }
}

/** Options that change the verdict for one close code. */
export interface CloseContext {
  /** The broadcaster was never on air: BROADCASTER_EXISTS (4409) means someone else is, final. */
  fresh?: boolean;
  /** The server's last `error` message on this socket, if any (its code and text name the cause). */
  lastError?: { code: string; message: string } | null;
}

/** Verdict for a WebSocket close with `closeCode` and `reason` (the server puts its code there). */
export function closeFailure(closeCode: number, reason: string, ctx: CloseContext = {}): ConnectionFailure {
  // the server sends {"type":"error"} before it closes with that code's close code; an earlier,
  // non-fatal error (e.g. BAD_FRAME while live) does not explain a later close with another code
  const last = ctx.lastError && isErrorCode(ctx.lastError.code) && ERROR_CATALOGUE[ctx.lastError.code].close === closeCode ? ctx.lastError : null;
  const named = last?.code ?? (isErrorCode(reason) ? reason : null);
  const text = last?.message ?? (named && isErrorCode(named) ? ERROR_CATALOGUE[named].text : closeText(closeCode, reason));
  let retryable: boolean;
  if (closeCode === 4409 && (named === null || named === "BROADCASTER_EXISTS")) retryable = !ctx.fresh; // after a lost connection it is our own stream: resume
  else if (named && isErrorCode(named) && !FINAL_CODES.has(named)) retryable = ERROR_CATALOGUE[named].retryable;
  else retryable = RETRYABLE_CLOSE.has(closeCode);
  return new ConnectionFailure(named ?? "CLOSED", text, retryable, closeCode, null, named === "RATE_LIMITED" ? RATE_LIMITED_DELAY_MS : null);
}

/** What the token is for: broadcasting (`publish`) or listening (`listen`). */
export type TokenAction = "publish" | "listen";

/**
 * What the user can do about a refused token, or null for other failures: e.g. for UNAUTHORIZED
 * on a broadcast, "pass a token with --token or VEZA_TOKEN; mint one with `veza-stream token
 * --scope publish:radio`".
 */
export function authHint(code: string, action: TokenAction, streamId: string): string | null {
  const mint = `\`veza-stream token --scope ${action}:${streamId}\``;
  switch (code) {
    case "UNAUTHORIZED":
      return `pass a token with --token or VEZA_TOKEN; mint one with ${mint}`;
    case "TOKEN_EXPIRED":
      return `the token has expired: pass a fresh one with --token or VEZA_TOKEN; mint one with ${mint}`;
    case "FORBIDDEN":
      return `the token does not allow ${action} on stream ${streamId}: mint one with ${mint}`;
    default:
      return null;
  }
}

/** {@link ConnectionFailure.describe}, followed by the {@link authHint} when there is one. */
export function describeWithHint(failure: Pick<ConnectionFailure, "code" | "describe">, action: TokenAction, streamId: string): string {
  const hint = authHint(failure.code, action, streamId);
  return hint ? `${failure.describe()} — ${hint}` : failure.describe();
}

/** Verdict for the server's `{"type":"error","code","message"}` during the handshake. */
export function errorMessageFailure(code: string, message: string, ctx: CloseContext = {}): ConnectionFailure {
  if (!isErrorCode(code)) return new ConnectionFailure(code, message, false);
  return closeFailure(ERROR_CATALOGUE[code].close, code, { ...ctx, lastError: { code, message } });
}

function closeText(code: number, reason: string): string {
  if (reason) return reason;
  if (code === 1000) return "the server closed the connection normally";
  if (code === 1006) return "the connection was cut without a close frame (network or node failure)";
  return `the connection was closed with code ${code}`;
}

/**
 * Verdict for a refused upgrade (ws's `unexpected-response`): the gateway answers with the
 * catalogue's HTTP status and a JSON body `{"error": CODE, "message": TEXT}`. Reads the body.
 */
export async function responseFailure(res: IncomingMessage): Promise<ConnectionFailure> {
  const status = res.statusCode ?? 0;
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of res) {
      chunks.push(chunk as Buffer);
      if (chunks.reduce((n, c) => n + c.length, 0) > 64 * 1024) break;
    }
  } catch {
    // a body cut short: the status alone still says something
  }
  const body = Buffer.concat(chunks).toString("utf8");
  let code: string | null = null;
  let message = body.trim().slice(0, 200) || `${status} ${res.statusMessage ?? ""}`.trim();
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
    if (typeof parsed.error === "string") code = parsed.error;
    if (typeof parsed.message === "string") message = parsed.message;
  } catch {
    // not the gateway's JSON (a proxy's page?): keep the text
  }
  const retryable = code && isErrorCode(code) ? ERROR_CATALOGUE[code].retryable : status >= 500 || status === 429;
  return new ConnectionFailure(code ?? `HTTP_${status}`, message, retryable, null, status, retryAfterMs(res.headers["retry-after"]));
}

/** A `Retry-After` header (RFC 9110 §10.2.3: seconds, or an HTTP date) in ms from now; null if absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return null;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

/** Verdict for a socket error before or instead of a close (connection refused, DNS, TLS, …). */
export function socketFailure(err: Error & { code?: string }, url: string): ConnectionFailure {
  const code = err.code ?? "SOCKET_ERROR";
  const reason = code === "ECONNREFUSED" ? `nothing listens at ${url} (connection refused)` : code === "ENOTFOUND" ? `host of ${url} not found` : `${err.message} (${url})`;
  return new ConnectionFailure(code, reason, RETRYABLE_ERRNO.has(code), null, null);
}
