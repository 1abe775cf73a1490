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
import { emitEvent, parseParams, type SessionEventPayloads, type SessionInfo } from "../contract";
import type { NodeContext } from "../node-context";
import { AnalyticsRecorder } from "./recorder";
import { analyticsReport } from "./report";
import type { ListenSessionRow } from "./schema";
import { openAnalyticsStore, type AnalyticsStore } from "./store";

/** A session event as a row: a start leaves ended_at null. */
function row(s: SessionInfo, end?: { endedAt: number; code?: string | number }): ListenSessionRow {
  return {
    session_id: s.sessionId, stream_id: s.streamId, gateway: s.nodeID, kind: s.kind, sub: s.sub ?? null, connected_at: s.connectedAt,
    ended_at: end?.endedAt ?? null, frames_sent: s.framesSent ?? 0, bytes: s.bytes ?? 0, reconnects: s.reconnects ?? 0, end_code: end?.code === undefined ? null : String(end.code),
    renditions: s.renditions?.length ? s.renditions.join(",").slice(0, 256) : null,
  };
}

const DAY_MS = 86_400_000;
/** How often, at most, a stream's `analytics.update` goes out (ms). */
const UPDATE_EVERY_MS = 2000;
/**
 * The share of the node's time a stream's updates may take: after one that took t ms the next
 * waits t / UPDATE_SHARE ms if that is longer (SQLite answers on the node's own thread, beside
 * the stream actors; bench/analytics measures what an update costs).
 */
const UPDATE_SHARE = 0.02;

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
  /** Streams whose sessions changed since their last analytics.update. */
  const dirty = new Set<string>();
  /** By stream, when (ms since the epoch) its next update may be computed. */
  const notBefore = new Map<string, number>();
  let updateTimer: NodeJS.Timeout | null = null;
  /** An update round is under way (a slow one must not overlap the next tick's: SQLite reads on one connection). */
  let updating = false;
  /** Broadcasts each changed stream's figures over the last 24 h (the admin sockets' analytics.update). */
  const sendUpdates = async (broker: Context["broker"]): Promise<void> => {
    if (updating) return;
    updating = true;
    try {
      await updateRound(broker);
    } finally {
      updating = false;
    }
  };
  const updateRound = async (broker: Context["broker"]): Promise<void> => {
    const now = Date.now();
    for (const [id, at] of notBefore) if (at <= now && !dirty.has(id)) notBefore.delete(id);
    const streams = [...dirty].filter((id) => (notBefore.get(id) ?? 0) <= now);
    if (streams.length === 0) return;
    for (const id of streams) dirty.delete(id);
    let done = 0;
    try {
      await recorder.flush();
      const store = await recorder.storeReady();
      for (const streamId of streams) {
        await updateOne(broker, store, streamId);
        done++;
      }
    } catch (err) {
      // the database is out: those not sent go at a later tick
      for (const id of streams.slice(done)) dirty.add(id);
      throw err;
    }
  };
  /** One stream's update, and when its next may be computed. */
  const updateOne = async (broker: Context["broker"], store: AnalyticsStore, streamId: string): Promise<void> => {
    const began = performance.now();
    const at = Date.now();
    const { listeningMs, ...figures } = await store.summary(streamId, at - DAY_MS, at, at);
    const tookMs = performance.now() - began;
    // half a tick early: the timer's ticks fall a little before or after a multiple of 2 s from here
    notBefore.set(streamId, at + Math.max(UPDATE_EVERY_MS, tookMs / UPDATE_SHARE) - UPDATE_EVERY_MS / 2);
    emitEvent(broker, "analytics.update", {
      streamId, from: new Date(at - DAY_MS).toISOString(), to: new Date(at).toISOString(), ...figures, listeningHours: listeningMs / 3_600_000, at: new Date(at).toISOString(),
    });
  };
  return {
    name: "analytics",
    events: {
      "session.start"(ctx: Context<SessionEventPayloads["session.start"]>) {
        recorder.add(row(ctx.params));
        dirty.add(ctx.params.streamId);
      },
      "session.end"(ctx: Context<SessionEventPayloads["session.end"]>) {
        recorder.add(row(ctx.params, ctx.params));
        dirty.add(ctx.params.streamId);
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
      const broker = this.broker;
      updateTimer = setInterval(() => void sendUpdates(broker).catch((err: unknown) => log.warn({ err: (err as Error).message }, "analytics.update not computed")), UPDATE_EVERY_MS);
      updateTimer.unref();
      // open (and migrate) now, so that a bad DATABASE_URL shows at start, without holding the
      // node's start up for it (an unreachable PostgreSQL takes 5 s to time out); events are queued meanwhile
      void recorder.storeReady().catch((err: unknown) => log.error({ err: (err as Error).message }, "analytics store cannot be opened yet; sessions are queued and retried"));
    },
    async stopped() {
      if (updateTimer) clearInterval(updateTimer);
      await recorder.close();
    },
  };
}
