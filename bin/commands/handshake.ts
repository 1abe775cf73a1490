/**
 * The opening of a command-line WebSocket, with every way it can fail turned into a
 * {@link ConnectionFailure}: a refused upgrade (HTTP status and the gateway's JSON error body), a
 * socket error (ECONNREFUSED, …) or a close before the handshake finished. A token goes in the
 * upgrade's `Authorization: Bearer` header (never on the URL, which proxies and logs keep).
 */
import WebSocket from "ws";
import { bearerHeaders } from "../../client/core/auth";
import { ConnectionFailure, responseFailure, socketFailure } from "./failure";

/** Milliseconds a handshake may take before it counts as a retryable failure. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** What {@link openSocket} sends besides the URL. */
export interface OpenOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
}

/**
 * Opens `url` (a full ws:// or wss:// URL). Attach message handlers to the returned socket right
 * away; `opened` resolves on `open` and rejects with a {@link ConnectionFailure} otherwise. The
 * socket always has an `error` listener, so a late error never crashes the process.
 */
export function openSocket(url: string, o: OpenOptions = {}): { ws: WebSocket; opened: Promise<void> } {
  const ws = new WebSocket(url, { handshakeTimeout: HANDSHAKE_TIMEOUT_MS, headers: bearerHeaders(o.token) });
  const opened = new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (failure: ConnectionFailure) => {
      if (settled) return;
      settled = true;
      reject(failure);
    };
    ws.once("open", () => {
      settled = true;
      resolve();
    });
    ws.on("unexpected-response", (req, res) => {
      void responseFailure(res).then((failure) => {
        fail(failure);
        req.destroy();
        ws.terminate();
      });
    });
    ws.on("error", (err: Error & { code?: string }) => fail(socketFailure(err, url)));
    ws.once("close", (code, reason) => fail(new ConnectionFailure("CLOSED", reason.toString() || `closed with ${code} during the handshake`, true, code)));
  });
  opened.catch(() => undefined);
  return { ws, opened };
}
