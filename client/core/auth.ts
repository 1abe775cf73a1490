/**
 * Tokens on the client side (docs/security.md): where a connection gets its JWT, how it puts it on
 * the socket URL, and the `auth.expiring` / `auth.refresh` / `auth.refreshed` exchange that renews
 * it during a session. No DOM, no `node:` imports: the browser pages and the command line share it.
 */
import { SOCKET_OPEN, type SocketInit, type WebSocketLike } from "./socket";
import type { AuthExpiringMessage, AuthRefreshedMessage } from "../../media/wire/control";

/**
 * A token, or a function that returns one (called before each connection and when the server says
 * the token is expiring, so it can fetch or mint a fresh one).
 */
export type TokenSource = string | (() => string | Promise<string>);

/**
 * Where a connection puts its token: `query` appends `?token=` to the socket URL (browsers cannot
 * set headers on a WebSocket upgrade); `header` hands the socket factory an `Authorization: Bearer`
 * header (Node, with a factory that sends headers: see {@link SocketFactory}).
 */
export type TokenPlacement = "query" | "header";

export type { AuthExpiringMessage, AuthRefreshedMessage };

export type AuthMessage = AuthExpiringMessage | AuthRefreshedMessage;

/** Client → server: a new token for the session (same `sub`, with the scope the session needs). */
export interface AuthRefreshMessage {
  type: "auth.refresh";
  token: string;
}

/** What a connection reports about its token. */
export type AuthEvent =
  /** The server said the token expires at `exp` (s); `refreshing`: a token function is being asked for a new one. */
  | { type: "expiring"; exp: number; refreshing: boolean }
  /** A new token was sent (`auth.refresh`). */
  | { type: "refresh-sent" }
  /** The server accepted the new token, valid until `exp` (s). */
  | { type: "refreshed"; exp: number }
  /** The token function failed (the session goes on until the old token expires). */
  | { type: "refresh-failed"; message: string };

/** Error codes with which the server refuses a token (close 4401 or 4403): final, the user must act. */
export const AUTH_ERROR_CODES: readonly string[] = ["UNAUTHORIZED", "TOKEN_EXPIRED", "FORBIDDEN"];

/** Whether `code` is a refusal of the token (UNAUTHORIZED, TOKEN_EXPIRED, FORBIDDEN). */
export function isAuthErrorCode(code: string | null | undefined): boolean {
  return code != null && AUTH_ERROR_CODES.includes(code);
}

/** The auth message in a parsed server message, or null when it is something else. */
export function asAuthMessage(msg: { type?: unknown; exp?: unknown }): AuthMessage | null {
  if ((msg.type === "auth.expiring" || msg.type === "auth.refreshed") && typeof msg.exp === "number" && Number.isFinite(msg.exp)) {
    return { type: msg.type, exp: msg.exp };
  }
  return null;
}

/** The current token of a source: the string, or what the function returns (trimmed; "" means none). */
export async function resolveToken(source: TokenSource | undefined): Promise<string | undefined> {
  if (source === undefined) return undefined;
  const token = (typeof source === "function" ? await source() : source).trim();
  return token === "" ? undefined : token;
}

/**
 * `url` with `params` added to its query (after any it has), for the socket URL's `token` and
 * `session`. Undefined values are left out. The URL may be relative or absolute, with or without a
 * fragment.
 */
export function withQuery(url: string, params: Record<string, string | undefined>): string {
  const hashAt = url.indexOf("#");
  const hash = hashAt >= 0 ? url.slice(hashAt) : "";
  const base = hashAt >= 0 ? url.slice(0, hashAt) : url;
  const qAt = base.indexOf("?");
  const path = qAt >= 0 ? base.slice(0, qAt) : base;
  const query = new URLSearchParams(qAt >= 0 ? base.slice(qAt + 1) : "");
  for (const [key, value] of Object.entries(params)) if (value !== undefined) query.set(key, value);
  const q = query.toString();
  return `${path}${q ? `?${q}` : ""}${hash}`;
}

/** `Authorization: Bearer <token>`, as a header object (empty without a token). */
export function bearerHeaders(token: string | undefined): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/**
 * The token of one connection, across its sockets: resolves it before each socket, puts it on the
 * URL or in the headers, and can be replaced during the session ({@link SessionToken.replace}).
 */
export class SessionToken {
  constructor(
    private source: TokenSource | undefined,
    /** Where the token goes on the socket. */
    readonly placement: TokenPlacement = "query",
  ) {}

  /** Whether a function gives the token, so a fresh one can be asked for when it expires. */
  get renewable(): boolean {
    return typeof this.source === "function";
  }

  /** Replaces the source (a new token typed in, or a new function) for this and later sockets. */
  replace(source: TokenSource): void {
    this.source = source;
  }

  /**
   * The token now: at once for a string (or none), a promise for a function. "" and whitespace
   * mean none. @throws (or rejects with) what the token function threw.
   */
  current(): string | undefined | Promise<string | undefined> {
    const source = this.source;
    if (typeof source === "function") return resolveToken(source);
    const token = source?.trim();
    return token ? token : undefined;
  }

  /**
   * Gets the token for a socket: calls `open` with it at once for a string (or none), else once the
   * token function settles, and only if `wanted()` still holds then (a stop, or a newer opening,
   * supersedes it); `failed` with what the function threw or rejected with.
   */
  resolveFor(open: (token: string | undefined) => void, failed: (err: unknown) => void, wanted: () => boolean): void {
    let token: ReturnType<SessionToken["current"]>;
    try {
      token = this.current();
    } catch (err) {
      return failed(err);
    }
    if (typeof token === "string" || token === undefined) return open(token);
    token.then(
      (t) => wanted() && open(t),
      (err: unknown) => wanted() && failed(err),
    );
  }

  /**
   * Sends a token for the session now (`auth.refresh`) on the socket `socket()` gives once the
   * token is known: `token` replaces the source (for later sockets too); without it, the token
   * function is asked. Resolves to whether a token went out on an open socket; `emit` says
   * `refresh-sent`, or `refresh-failed` when the function failed.
   */
  async refresh(socket: () => WebSocketLike | null, emit: (event: AuthEvent) => void, token?: string): Promise<boolean> {
    if (token !== undefined) this.replace(token);
    let next: string | undefined;
    try {
      next = await this.current();
    } catch (err) {
      emit({ type: "refresh-failed", message: err instanceof Error ? err.message : String(err) });
      return false;
    }
    const ws = socket();
    if (!next || !ws || ws.readyState !== SOCKET_OPEN) return false;
    ws.send(JSON.stringify({ type: "auth.refresh", token: next }));
    emit({ type: "refresh-sent" });
    return true;
  }

  /** The server's `auth.refreshed` or `auth.expiring`: said on `emit`; on expiring, a token function is asked and its token sent. */
  onMessage(msg: AuthMessage, socket: () => WebSocketLike | null, emit: (event: AuthEvent) => void): void {
    if (msg.type === "auth.refreshed") return emit({ type: "refreshed", exp: msg.exp });
    emit({ type: "expiring", exp: msg.exp, refreshing: this.renewable });
    if (this.renewable) void this.refresh(socket, emit);
  }

  /** The socket URL (with `query`, and `token` when it goes there) and the factory's init. */
  target(url: string, token: string | undefined, query: Record<string, string | undefined> = {}): { url: string; init: SocketInit } {
    const inQuery = this.placement === "query" ? token : undefined;
    return { url: withQuery(url, { ...query, token: inQuery }), init: { headers: this.placement === "header" ? bearerHeaders(token) : {} } };
  }
}
