/**
 * HTTP routes: GET /health (liveness), GET /ready (503 until the node serves), GET /api/streams,
 * GET /api/streams/:id (404 JSON for unknown), GET /metrics (Prometheus text). uWS rules: copy what
 * is needed from `req` before any await, register onAborted, cork the write after the await.
 */
import { liveNodes } from "../actors/cluster/members";
import { ERROR_CATALOGUE, VezaError, errorCodeOf } from "../actors/errors";
import { STREAM_ID_PATTERN } from "../media/wire/control";
import type { Gateway } from "./gateway";
import type { HttpResponse } from "./uws";

/** Runs `produce` and answers with its JSON, or with the catalogue status of its error. */
function respond(res: HttpResponse, produce: () => Promise<{ status?: number; body: unknown; type?: string }>): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  produce()
    .then(
      (r) => ({ status: r.status ?? 200, body: r.type ? String(r.body) : JSON.stringify(r.body), type: r.type ?? "application/json" }),
      (err: unknown) => {
        const code = errorCodeOf(err);
        const message = err instanceof Error ? err.message : ERROR_CATALOGUE[code].text;
        return { status: ERROR_CATALOGUE[code].status, body: JSON.stringify({ error: code, message }), type: "application/json" };
      },
    )
    .then(({ status, body, type }) => {
      if (aborted) return;
      res.cork(() => {
        res.writeStatus(String(status)).writeHeader("content-type", type).writeHeader("cache-control", "no-store").end(body);
      });
    });
}

export function registerHttpRoutes(gw: Gateway): void {
  const { app } = gw;
  app.get("/health", (res) =>
    respond(res, async () => {
      const nodes = liveNodes(gw.broker).map((n) => n.id).sort();
      return { body: { status: "ok", nodeID: gw.broker.nodeID, uptimeS: Math.round(process.uptime()), nodes, workers: gw.placement.workers() } };
    }),
  );
  app.get("/ready", (res) =>
    respond(res, async () => {
      const ready = gw.ready && gw.broker.started;
      return { status: ready ? 200 : 503, body: { ready, nodeID: gw.broker.nodeID } };
    }),
  );
  app.get("/api/streams", (res) => respond(res, async () => ({ body: await gw.listStreams() })));
  app.get("/api/streams/:id", (res, req) => {
    const streamId = req.getParameter(0) ?? "";
    respond(res, async () => {
      if (!STREAM_ID_PATTERN.test(streamId)) throw new VezaError("BAD_STREAM_ID");
      return { body: await gw.getStream(streamId) };
    });
  });
  app.get("/metrics", (res) => respond(res, async () => ({ body: await gw.metrics.registry.metrics(), type: gw.metrics.registry.contentType })));
  app.any("/*", (res, req) => {
    const url = req.getUrl();
    respond(res, async () => {
      throw new VezaError("NOT_FOUND", `no route ${url}`);
    });
  });
}
