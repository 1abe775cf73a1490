/**
 * The part of a WebSocket the client uses. The browser's `WebSocket` fits it as it is; in Node,
 * pass the `ws` package's class (`(url) => new WebSocket(url)`), which has the same `on*` handlers.
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

/** Opens a socket to a URL. */
export type SocketFactory = (url: string) => WebSocketLike;

/** WebSocket readyState OPEN (RFC 6455 / WHATWG). */
export const SOCKET_OPEN = 1;

/** The global WebSocket (browsers, Node 22+), or an error telling the caller to pass a factory. */
export function defaultSocketFactory(): SocketFactory {
  const Ctor = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  if (!Ctor) throw new Error("no global WebSocket: pass createSocket (e.g. url => new (require('ws'))(url))");
  return (url) => new Ctor(url);
}

/** `ws://host:port/ws/<kind>/<streamId>` from a base URL (http(s):// or ws(s)://). */
export function streamSocketUrl(baseUrl: string, kind: "listen" | "publish", streamId: string): string {
  const base = baseUrl.replace(/\/+$/, "").replace(/^http(s?):/, "ws$1:");
  return `${base}/ws/${kind}/${encodeURIComponent(streamId)}`;
}

/**
 * Whether a close code means "do not come back": the server refused this client for a reason a
 * retry cannot fix (1008 policy: kicked; 4400-4499: bad request, bad id, conflicts). 1001, 1006,
 * 1011, 1012 and 45xx (server trouble, slow listener) are worth retrying.
 */
export function isFinalCloseCode(code: number): boolean {
  return code === 1008 || (code >= 4400 && code < 4500);
}
