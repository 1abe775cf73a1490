/**
 * HTTP routes, each for GET and HEAD: /health (liveness), /ready (503 until the node serves),
 * /api/streams, /api/streams/:id (404 JSON for unknown), /metrics (Prometheus text); admin:
 * DELETE /api/streams/:id (end the broadcast), POST /api/revocations (revoke a token); 426 for a
 * plain request to a WebSocket endpoint; 404 JSON for anything else. /api/* counts against the
 * `httpApi` limit per IP (429 with Retry-After); its reads need a listen token with
 * LISTEN_AUTH=token, its writes an admin token; /metrics needs METRICS_TOKEN when set. uWS rules:
 * copy what is needed from `req` before any await, register onAborted, cork the write after the await.
 */
import { timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { limitError, retryAfterOf } from "../actors/auth/access";
import { allows } from "../actors/auth/scopes";
import type { VerifiedToken } from "../actors/auth/tokens";
import { liveNodes } from "../actors/cluster/members";
import { ERROR_CATALOGUE, VezaError, errorCodeOf } from "../actors/errors";
import { ACTION_PARAMS, call } from "../actors/contract";
import { STREAM_ID_PATTERN } from "../media/wire/control";
import { bearerToken } from "./auth";
import type { Gateway } from "./gateway";
import { registerRecordingRoutes } from "./recording-routes";
import { remoteIp, type HttpRequest, type HttpResponse, type TemplatedApp } from "./uws";

/** A whole HTTP answer, ready to write. */
export interface HttpAnswer {
  status: number;
  body: string | Uint8Array;
  type: string;
  headers?: Record<string, string>;
}

/**
 * The answer to an error: the catalogue's status and `{"error": code, "message"}`, with
 * WWW-Authenticate on a 401 (RFC 6750 §3) and Retry-After on RATE_LIMITED (RFC 6585 §4).
 */
export function errorAnswer(err: unknown): HttpAnswer {
  const code = errorCodeOf(err);
  const message = err instanceof Error ? err.message : ERROR_CATALOGUE[code].text;
  const headers: Record<string, string> = {};
  if (ERROR_CATALOGUE[code].status === 401) headers["www-authenticate"] = `Bearer realm="veza-stream", error="invalid_token"`;
  if (code === "RATE_LIMITED") headers["retry-after"] = String(retryAfterOf(err));
  return { status: ERROR_CATALOGUE[code].status, body: JSON.stringify({ error: code, message }), type: "application/json", headers };
}

/** Writes `a` (corked, `cache-control: no-store`); for a HEAD request its headers and no body (RFC 9110 §9.3.2). */
export function writeAnswer(res: HttpResponse, a: HttpAnswer, head: boolean): void {
  res.cork(() => {
    res.writeStatus(String(a.status)).writeHeader("content-type", a.type).writeHeader("cache-control", "no-store");
    for (const [k, v] of Object.entries(a.headers ?? {})) res.writeHeader(k, v);
    // endWithoutBody(length) leaves uWS expecting the body: the next request on the connection
    // is dropped; the header written by hand and endWithoutBody() keep keep-alive working
    if (head) res.writeHeader("content-length", String(Buffer.byteLength(a.body))).endWithoutBody();
    else res.end(a.body);
  });
}

/**
 * Runs `produce` and answers with its JSON (its text when it names a `type`, its bytes when they are
 * a Uint8Array), or with {@link errorAnswer} of its error.
 */
export function respond(res: HttpResponse, produce: () => Promise<{ status?: number; body: unknown; type?: string }>, head = false): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  produce()
    .then(
      (r): HttpAnswer => ({ status: r.status ?? 200, body: r.body instanceof Uint8Array ? r.body : r.type ? String(r.body) : JSON.stringify(r.body), type: r.type ?? "application/json" }),
      errorAnswer,
    )
    .then((a) => {
      if (!aborted) writeAnswer(res, a, head);
    });
}

type Route = (res: HttpResponse, req: HttpRequest, head: boolean) => void;

/** Registers `route` for GET and HEAD of `pattern`. */
export function getAndHead(app: TemplatedApp, pattern: string, route: Route): void {
  app.get(pattern, (res, req) => route(res, req, false));
  app.head(pattern, (res, req) => route(res, req, true));
}

export function registerHttpRoutes(gw: Gateway): void {
  const { app } = gw;
  getAndHead(app, "/health", (res, _req, head) =>
    respond(res, async () => {
      const nodes = liveNodes(gw.broker).map((n) => n.id).sort();
      return { body: { status: "ok", nodeID: gw.broker.nodeID, uptimeS: Math.round(process.uptime()), nodes, workers: gw.placement.workers() } };
    }, head),
  );
  getAndHead(app, "/ready", (res, _req, head) =>
    respond(res, async () => {
      const ready = gw.ready && gw.broker.started;
      // the clocks of the stream owners this gateway maps sync ticks from (PEER_CLOCK): one not ready holds its streams' ticks back
      const clocks = gw.node.peerClocks.states();
      return { status: ready ? 200 : 503, body: { ready, nodeID: gw.broker.nodeID, ...(gw.draining ? { draining: true } : {}), ...(clocks.length ? { clocks } : {}) } };
    }, head),
  );
  getAndHead(app, "/api/streams", (res, req, head) => {
    const a = apiRequest(res, req);
    respond(res, async () => {
      const grant = await apiAccess(gw, a, "listen");
      const streams = await gw.listStreams();
      // with LISTEN_AUTH=token the list holds only the streams the token may listen to
      return { body: grant ? streams.filter((s) => allows(grant.scopes, "listen", s.streamId)) : streams };
    }, head);
  });
  getAndHead(app, "/api/streams/:id", (res, req, head) => {
    const a = apiRequest(res, req);
    respond(res, async () => {
      if (!STREAM_ID_PATTERN.test(a.param)) throw new VezaError("BAD_STREAM_ID");
      await apiAccess(gw, a, "listen", a.param);
      return { body: await gw.getStream(a.param) };
    }, head);
  });
  getAndHead(app, "/api/streams/:id/analytics", (res, req, head) => {
    const a = apiRequest(res, req);
    const query = new URLSearchParams(req.getQuery() ?? "");
    respond(res, async () => {
      if (!STREAM_ID_PATTERN.test(a.param)) throw new VezaError("BAD_STREAM_ID");
      await apiAccess(gw, a, "admin", a.param);
      const from = timeParam(query.get("from"), "from");
      const to = timeParam(query.get("to"), "to");
      // any node's analytics service (a cluster shares DATABASE_URL); the token goes with the call
      return { body: await call(gw.broker, "analytics.query", { streamId: a.param, ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) }, { meta: { token: a.token } }) };
    }, head);
  });
  app.del("/api/streams/:id", (res, req) => {
    const a = apiRequest(res, req);
    respond(res, async () => {
      if (!STREAM_ID_PATTERN.test(a.param)) throw new VezaError("BAD_STREAM_ID");
      const grant = await apiAccess(gw, a, "admin", a.param);
      const live = (await gw.listStreams()).find((s) => s.streamId === a.param && s.state === "live");
      if (!live) throw new VezaError("STREAM_NOT_FOUND", `stream ${a.param} is not live`);
      // the owner checks the token again (requireAdmin): the one admin check of stream.end
      const info = await call(gw.broker, "stream.end", { streamId: a.param }, { nodeID: live.owner, meta: { token: a.token } });
      gw.access.auditEvent("stream.end.request", { streamId: a.param, sub: grant?.sub, ip: a.ip, via: "http" });
      return { body: info };
    });
  });
  app.post("/api/revocations", (res, req) => {
    const a = apiRequest(res, req);
    const body = readJson(res, MAX_API_BODY_BYTES); // uWS: onData in the handler's own tick
    body.catch(() => undefined); // awaited below, after the access check
    respond(res, async () => {
      const grant = await apiAccess(gw, a, "admin");
      const parsed = Revocation.safeParse(await body);
      if (!parsed.success) throw new VezaError("BAD_REQUEST", `expected {"jti": "<token id>", "exp": <s since the epoch>}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}`);
      await gw.access.verifier.revoke(parsed.data.jti, parsed.data.exp);
      gw.access.auditEvent("token.revoke", { jti: parsed.data.jti, exp: parsed.data.exp, sub: grant?.sub, ip: a.ip, via: "http" });
      return { status: 201, body: { revoked: parsed.data.jti, until: parsed.data.exp } };
    });
  });
  // operators' relays from and to remote SRT and RIST endpoints on this gateway (gateway/remote-relays.ts)
  getAndHead(app, "/api/relays", (res, req, head) => {
    const a = apiRequest(res, req);
    respond(res, async () => {
      await apiAccess(gw, a, "admin");
      return { body: gw.remoteRelays.list() };
    }, head);
  });
  app.post("/api/relays", (res, req) => {
    const a = apiRequest(res, req);
    const body = readJson(res, MAX_API_BODY_BYTES);
    body.catch(() => undefined);
    respond(res, async () => {
      const raw = await body;
      const parsed = ACTION_PARAMS["relay.start"].safeParse(raw);
      if (!parsed.success) throw new VezaError("BAD_REQUEST", `expected {"streamId": "<id>", "uri": "srt://…|rist://…", "direction": "pull"|"push"}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}`);
      const grant = await apiAccess(gw, a, "admin", parsed.data.streamId);
      return { status: 201, body: await gw.remoteRelays.start(parsed.data, grant?.sub ?? "") };
    });
  });
  app.del("/api/relays/:id", (res, req) => {
    const a = apiRequest(res, req);
    respond(res, async () => {
      const relay = gw.remoteRelays.list().find((r) => r.id === a.param);
      await apiAccess(gw, a, "admin", relay?.streamId);
      return { body: gw.remoteRelays.stop(a.param) };
    });
  });
  getAndHead(app, "/metrics", (res, req, head) => {
    const given = bearerToken(req.getHeader("authorization")) ?? "";
    respond(res, async () => {
      const want = gw.config.metricsToken?.reveal()[0];
      if (want !== undefined && !sameSecret(given, want)) throw new VezaError("UNAUTHORIZED", "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>", { reason: given ? "signature" : "missing" });
      return { body: await gw.metrics.registry.metrics(), type: gw.metrics.registry.contentType };
    }, head);
  });
  registerRecordingRoutes(gw);
  // a request to a WebSocket endpoint that uWS did not upgrade (no Sec-WebSocket-Key, or no Upgrade header)
  app.any("/ws/*", (res) => gw.rejectUpgrade(res, "UPGRADE_REQUIRED"));
  app.any("/*", (res, req) => {
    const url = req.getUrl();
    const head = req.getMethod() === "head";
    respond(res, async () => {
      throw new VezaError("NOT_FOUND", `no route ${url}`);
    }, head);
  });
}

/** What an API handler needs from the request, copied out before any await. */
export interface ApiRequest {
  ip: string;
  token: string | undefined;
  /** The first route parameter ("" when none). */
  param: string;
}

export function apiRequest(res: HttpResponse, req: HttpRequest): ApiRequest {
  return { ip: remoteIp(res), token: bearerToken(req.getHeader("authorization")), param: req.getParameter(0) ?? "" };
}

/**
 * The `httpApi` limit of the request's IP, then its token when `action` needs one (listen with
 * LISTEN_AUTH=token, admin always). Returns the grant, or null when none was needed.
 * @throws VezaError RATE_LIMITED, UNAUTHORIZED, TOKEN_EXPIRED, FORBIDDEN, AUTH_UNAVAILABLE.
 */
export async function apiAccess(gw: Gateway, a: ApiRequest, action: "listen" | "admin", streamId?: string): Promise<VerifiedToken | null> {
  const limit = await gw.access.limits.httpRequest(a.ip);
  if (!limit.ok) throw limitError(limit);
  // the list (no stream id) needs a token with some listen scope: it is filtered by the scopes
  if (action === "listen" && streamId === undefined) {
    if (!gw.access.needsToken("listen")) return null;
    const grant = await gw.access.authenticate({ token: a.token, ip: a.ip, action, via: "http" });
    if (!grant.scopes.some((s) => s.action === "listen" || s.action === "admin")) throw new VezaError("FORBIDDEN", `the token of ${grant.sub} has no listen scope`);
    return grant;
  }
  return gw.access.authorize({ token: a.token, ip: a.ip, action, streamId, via: "http" });
}

/** Largest JSON body the API reads, bytes. */
/** `from`/`to` of the analytics API: ms since the epoch, or an ISO 8601 time. @throws VezaError BAD_REQUEST. */
function timeParam(v: string | null, name: string): number | undefined {
  if (v === null || v === "") return undefined;
  const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(ms) || ms < 0) throw new VezaError("BAD_REQUEST", `${name}: ms since the epoch or an ISO 8601 time, e.g. 2026-12-02T10:00:00Z`);
  return ms;
}

const MAX_API_BODY_BYTES = 4096;
const Revocation = z.object({ jti: z.string().min(1).max(128), exp: z.number().int().positive() });

/**
 * Reads a request body of at most `max` bytes as JSON (uWS delivers it in chunks through onData,
 * after which the buffer is reused: each chunk is copied).
 * @throws VezaError MESSAGE_TOO_BIG past `max`; BAD_REQUEST when it is not JSON.
 */
export function readJson(res: HttpResponse, max: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, last) => {
      size += chunk.byteLength;
      if (size > max) return reject(new VezaError("MESSAGE_TOO_BIG", `request bodies are at most ${max} bytes`));
      chunks.push(Buffer.from(chunk.slice(0)));
      if (!last) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        reject(new VezaError("BAD_REQUEST", "the body is not JSON"));
      }
    });
  });
}

/** Compares secrets in time independent of where they differ (a length difference shows, the secret's content does not). */
function sameSecret(given: string, want: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}
