/**
 * The only import of uWebSockets.js. The package falls back silently to a `ws`-based shim when its
 * native build does not load, which would be slow and subtly different; refuse to start instead.
 */
import type * as UWS from "@trufflesuite/uws-js-unofficial";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const uWS = require("@trufflesuite/uws-js-unofficial") as typeof UWS;

/** @throws Error when uWS.App is not native code (the shim was loaded). */
export function loadUws(): typeof UWS {
  if (!/\[native code\]/.test(Function.prototype.toString.call(uWS.App))) {
    throw new Error(
      "uWebSockets.js did not load its native build (uWS.App is the JavaScript shim). " +
        "This node needs Linux x64/arm64 with glibc and Node 16, 18 or 20; reinstall @trufflesuite/uws-js-unofficial.",
    );
  }
  return uWS;
}

/**
 * Listens on `host:port` with uWS listen options (missing from the package's typings): with
 * `exclusive` the port is not shared (LIBUS_LISTEN_EXCLUSIVE_PORT: without it uWS sets
 * SO_REUSEPORT and a second process on the same port starts silently).
 */
export function listenOn(app: UWS.TemplatedApp, host: string, port: number, exclusive: boolean, cb: (token: UWS.us_listen_socket | false) => void): void {
  const flags = exclusive ? (uWS as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number }).LIBUS_LISTEN_EXCLUSIVE_PORT : 0;
  (app.listen as unknown as (h: string, p: number, o: number, c: typeof cb) => void).call(app, host, port, flags, cb);
}

/**
 * Upgrades `res` to a WebSocket once an asynchronous admission has let it in. Deliberately not
 * inside `res.cork`: in the uWS build this project runs (uWebSockets.js 20.30), cork() detects an
 * upgrade made in its handler by the socket's address only. When the upgrade left the socket at the
 * same address, cork() ran its HTTP "connection: close" check on memory that is now the WebSocket's
 * and, depending on those bytes, shut the new socket down right after its open handler (the client
 * saw 1006 after hello; 2 listeners in 1 800 behind Redis admission, measured with
 * test/e2e/upgrade-async.test.ts). Fixed upstream in uNetworking/uWebSockets#1929 (commit fe7c01a,
 * 2026-07), after the last build that loads here. Uncorked, the 101 response goes out in a few
 * writes; the open handlers cork their own first messages.
 */
export function upgradeAfterAdmission<T>(res: UWS.HttpResponse, data: T, u: Pick<UpgradeRequest, "key" | "protocol" | "extensions">, context: UWS.us_socket_context_t): void {
  res.upgrade(data, u.key, u.protocol, u.extensions, context);
}

/** What an upgrade handler needs from the request, copied out before any await (uWS invalidates `req`). */
export interface UpgradeRequest {
  /** The `:streamId` route parameter. */
  streamId: string;
  key: string;
  protocol: string;
  extensions: string;
  /** The Authorization header ("" when absent): `Bearer <token>`. */
  authorization: string;
  /** `Sec-WebSocket-Version`; RFC 6455 §4.1 requires "13". */
  version: string;
  query: URLSearchParams;
  /** The client's address as text (IPv4, or IPv6 in full form). */
  ip: string;
}

export function readUpgrade(res: UWS.HttpResponse, req: UWS.HttpRequest): UpgradeRequest {
  return {
    streamId: req.getParameter(0) ?? "",
    key: req.getHeader("sec-websocket-key"),
    protocol: req.getHeader("sec-websocket-protocol"),
    extensions: req.getHeader("sec-websocket-extensions"),
    version: req.getHeader("sec-websocket-version"),
    authorization: req.getHeader("authorization"),
    query: new URLSearchParams(req.getQuery() ?? ""),
    ip: remoteIp(res),
  };
}

/** The client's address of a request or socket, as text. */
export function remoteIp(res: { getRemoteAddressAsText(): ArrayBuffer }): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString();
}

/**
 * Whether an upgrade follows RFC 6455 §4.2.1: version 13 and a Sec-WebSocket-Key that is the
 * base64 of 16 bytes. uWS checks neither (it answers 101 to version 8).
 */
export function isValidHandshake(u: UpgradeRequest): boolean {
  return u.version === "13" && /^[A-Za-z0-9+/]{22}==$/.test(u.key);
}

export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from "@trufflesuite/uws-js-unofficial";
