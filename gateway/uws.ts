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

/** What an upgrade handler needs from the request, copied out before any await (uWS invalidates `req`). */
export interface UpgradeRequest {
  /** The `:streamId` route parameter. */
  streamId: string;
  key: string;
  protocol: string;
  extensions: string;
  query: URLSearchParams;
}

export function readUpgrade(req: UWS.HttpRequest): UpgradeRequest {
  return {
    streamId: req.getParameter(0) ?? "",
    key: req.getHeader("sec-websocket-key"),
    protocol: req.getHeader("sec-websocket-protocol"),
    extensions: req.getHeader("sec-websocket-extensions"),
    query: new URLSearchParams(req.getQuery() ?? ""),
  };
}

export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from "@trufflesuite/uws-js-unofficial";
