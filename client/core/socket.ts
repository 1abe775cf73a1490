/**
 * The part of a WebSocket the client uses. The browser's `WebSocket` fits it as it is; in Node,
 * pass the `ws` package's class (`(url, init) => new WebSocket(url, { headers: init?.headers })`),
 * which has the same `on*` handlers and can send headers with the upgrade.
 */

/** A message event: `data` is a string for text frames, an ArrayBuffer for binary ones. */
export interface SocketMessageEvent {
  data: unknown;
}

export interface SocketCloseEvent {
  code: number;
  reason: string;
}

export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: SocketMessageEvent) => void) | null;
  onclose: ((ev: SocketCloseEvent) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** What a connection asks of the socket it opens besides its URL. */
export interface SocketInit {
  /**
   * Headers for the upgrade request: `Authorization: Bearer <token>` when the connection has a
   * token and `tokenIn: "header"`. A browser cannot send them (use `tokenIn: "query"`, the default
   * there); a factory that cannot should not be used with `tokenIn: "header"`.
   */
  headers: Record<string, string>;
}

/** Opens a socket to a URL (which carries `?token=` when the token goes in the query). */
export type SocketFactory = (url: string, init: SocketInit) => WebSocketLike;

/** WebSocket readyState OPEN (RFC 6455 / WHATWG). */
export const SOCKET_OPEN = 1;

/** The global WebSocket (browsers, Node 22+), or an error telling the caller to pass a factory. */
export function defaultSocketFactory(): SocketFactory {
  const Ctor = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  if (!Ctor) throw new Error("no global WebSocket: pass createSocket (e.g. (url, init) => new (require('ws'))(url, { headers: init.headers }))");
  return (url) => new Ctor(url);
}

/** `ws://host:port/ws/<kind>/<streamId>` from a base URL (http(s):// or ws(s)://). */
export function streamSocketUrl(baseUrl: string, kind: "listen" | "publish", streamId: string): string {
  const base = baseUrl.replace(/\/+$/, "").replace(/^http(s?):/, "ws$1:");
  return `${base}/ws/${kind}/${encodeURIComponent(streamId)}`;
}

/** Least wait before retrying after RATE_LIMITED (close 4429), ms: the server's Retry-After at upgrade is 5 s. */
export const RATE_LIMITED_DELAY_MS = 5000;

/** Error codes whose close code (4429) is otherwise final, but which are worth retrying after a wait. */
const RETRYABLE_4XXX_CODES = new Set(["RATE_LIMITED"]);

/**
 * Whether a close means "do not come back": the server refused this client for a reason a retry
 * cannot fix. 1008 (policy: kicked) and 4400-4499 are final: bad request, bad id, conflicts, and
 * the token refused (4401 UNAUTHORIZED or TOKEN_EXPIRED, 4403 FORBIDDEN: the user must bring
 * another token). One exception needs the server's error code, since two codes share 4429:
 * `RATE_LIMITED` is worth retrying after a backoff, `BROADCASTER_TOO_FAST` is not; without a code a
 * 4429 is taken as final. 1001, 1006, 1011, 1012, 1013 (NO_WORKER, AUTH_UNAVAILABLE) and 45xx
 * (server trouble, slow listener) are worth retrying.
 * @param errorCode the code of the server's `error` message before the close, or the close reason
 *   (the server puts the code there too), if any.
 */
export function isFinalCloseCode(code: number, errorCode?: string | null): boolean {
  if (errorCode && RETRYABLE_4XXX_CODES.has(errorCode)) return false;
  return code === 1008 || (code >= 4400 && code < 4500);
}

/** The catalogue code a close reason names (the server puts it there: `UNAUTHORIZED`), or null. */
export function codeOfReason(reason: string): string | null {
  return /^[A-Z][A-Z0-9_]{1,63}$/.test(reason) ? reason : null;
}
