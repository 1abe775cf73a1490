/**
 * The analytics service, on every node with the stream role: it consumes the gateways'
 * `session.start` and `session.end` events (one instance of the service gets each), records the
 * sessions (recorder.ts → store.ts: PostgreSQL with DATABASE_URL, else SQLite in DATA_DIR), and
 * answers `analytics.query` (admin on the stream) with a stream's figures over a range (report.ts).
 * A cluster shares one database through DATABASE_URL; without it each worker keeps its own file and
 * a query sees only that node's sessions.
 */
import type { Context, ServiceSchema } from "moleculer";
import { resolveDataDir } from "../auth/default-key";
import { requireAdmin } from "../auth/service";
import { parseParams, type SessionEventPayloads, type SessionInfo } from "../contract";
import type { NodeContext } from "../node-context";
import { AnalyticsRecorder } from "./recorder";
import { analyticsReport } from "./report";
import type { ListenSessionRow } from "./schema";
import { openAnalyticsStore } from "./store";

/** A session event as a row: a start leaves ended_at null. */
function row(s: SessionInfo, end?: { endedAt: number; code?: string | number }): ListenSessionRow {
  return {
    session_id: s.sessionId, stream_id: s.streamId, gateway: s.nodeID, kind: s.kind, sub: s.sub ?? null, connected_at: s.connectedAt,
    ended_at: end?.endedAt ?? null, frames_sent: s.framesSent ?? 0, bytes: s.bytes ?? 0, reconnects: s.reconnects ?? 0, end_code: end?.code === undefined ? null : String(end.code),
  };
}

const DAY_MS = 86_400_000;

export function analyticsService(node: NodeContext): ServiceSchema {
  const log = node.log.child({ mod: "analytics" });
  const recorder = new AnalyticsRecorder(
    async () => {
      const store = await openAnalyticsStore({
        databaseUrl: node.config.databaseUrl?.reveal()[0], dataDir: resolveDataDir(node.config),
        onIdleError: (err) => log.warn({ err: err.message }, "analytics database connection lost; reconnecting at the next write"),
      });
      log.info({ store: store.kind }, "analytics store open");
      return store;
    },
    { pending: node.metrics.analyticsPending, written: node.metrics.analyticsWritten, failures: node.metrics.analyticsFailures, lost: node.metrics.analyticsLost },
    log,
  );
  return {
    name: "analytics",
    events: {
      "session.start"(ctx: Context<SessionEventPayloads["session.start"]>) {
        recorder.add(row(ctx.params));
      },
      "session.end"(ctx: Context<SessionEventPayloads["session.end"]>) {
        recorder.add(row(ctx.params, ctx.params));
      },
    },
    actions: {
      /** A stream's figures over [from, to) (ms or ISO 8601; default the last 24 h). Errors: BAD_REQUEST; as requireAdmin. */
      async query(ctx: Context) {
        const p = parseParams("analytics.query", ctx.params);
        await requireAdmin(node, ctx, p.streamId);
        const now = Date.now();
        const to = p.to ?? now;
        const from = p.from ?? to - DAY_MS;
        await recorder.flush();
        const store = await recorder.storeReady();
        return analyticsReport(p.streamId, await store.sessions(p.streamId, from, to), from, to, now);
      },
    },
    started() {
      // open (and migrate) now, so that a bad DATABASE_URL shows at start, without holding the
      // node's start up for it (an unreachable PostgreSQL takes 5 s to time out); events are queued meanwhile
      void recorder.storeReady().catch((err: unknown) => log.error({ err: (err as Error).message }, "analytics store cannot be opened yet; sessions are queued and retried"));
    },
    async stopped() {
      await recorder.close();
    },
  };
}
