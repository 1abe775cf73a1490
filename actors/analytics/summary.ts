/**
 * A stream's listening figures over a range without reading its sessions back into the node all
 * at once (the `analytics.update` of a busy stream, every few seconds): the same figures as
 * report.ts's analyticsReport but `byHour`, checked against it by test/unit/analytics-summary.test.ts.
 * - {@link sqlSummary}: computed by the database server (PostgreSQL): aggregates, and a
 *   window-function sweep for the peak; the node gets a handful of numbers.
 * - {@link slicedSummary}: SQLite, whose queries run on the node's own thread beside the stream
 *   actors: the rows are read {@link SLICE_ROWS} at a time from a read-only connection, the node's
 *   event loop going on between slices, and the figures computed as they come.
 * docs/benchmarks.md, "What an analytics.update costs the node", measures both.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import type SQLiteDatabase from "better-sqlite3";
import { sql, type Kysely } from "kysely";
import { countRenditions, RangeFigures } from "./report";
import type { AnalyticsTables } from "./schema";

/** A stream's listening over a range, as {@link AnalyticsStore.summary} returns it. */
export interface SessionSummary {
  /** Sessions that started in the range. */
  listens: number;
  /** Distinct `sub` of those that gave a token. */
  uniqueUsers: number;
  /** The sessions' time inside the range (ms). */
  listeningMs: number;
  /** The most sessions open at once in the range. */
  peakConcurrent: number;
  /** Sessions overlapping the range that are still open. */
  listening: number;
  /** Sessions that started in the range, by each rendition they heard. */
  byRendition: Record<string, number>;
}

/** Rows read between two turns of the event loop (about 2-3 ms of SQLite and figures on this machine). */
const SLICE_ROWS = 2000;

/** The figures computed by the database. @throws the driver's error. */
export async function sqlSummary(db: Kysely<AnalyticsTables>, streamId: string, fromMs: number, toMs: number, nowMs: number): Promise<SessionSummary> {
  // each overlapping session clipped to the range, read once (a CTE) for the totals and the peak
  const started = sql`connected_at >= ${fromMs} AND connected_at < ${toMs}`;
  const totals = await sql<{ listens: number | string; users: number | string; ms: number | string | null; listening: number | string; peak: number | string | null }>`
    WITH c AS (
      SELECT connected_at, sub, ended_at,
        CASE WHEN connected_at > ${fromMs} THEN connected_at ELSE ${fromMs} END AS s,
        CASE WHEN COALESCE(ended_at, ${nowMs}) < ${toMs} THEN COALESCE(ended_at, ${nowMs}) ELSE ${toMs} END AS e
      FROM listen_sessions
      WHERE stream_id = ${streamId} AND connected_at < ${toMs} AND (ended_at IS NULL OR ended_at > ${fromMs})
    ),
    -- the peak: a sweep over the clipped starts (+1) and ends (-1), an end before a start at the
    -- same instant (back-to-back sessions are not concurrent)
    sweep AS (
      SELECT SUM(d) OVER (ORDER BY t, d ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS open FROM (
        SELECT s AS t, 1 AS d FROM c WHERE e > s
        UNION ALL
        SELECT e AS t, -1 AS d FROM c WHERE e > s
      ) edges
    )
    SELECT COUNT(CASE WHEN ${started} THEN 1 END) AS listens,
      COUNT(DISTINCT CASE WHEN ${started} AND sub <> '' THEN sub END) AS users,
      SUM(CASE WHEN e > s THEN e - s ELSE 0 END) AS ms,
      COUNT(CASE WHEN ended_at IS NULL THEN 1 END) AS listening,
      (SELECT MAX(open) FROM sweep) AS peak
    FROM c`.execute(db);
  const renditions = await sql<{ renditions: string; n: number | string }>`
    SELECT renditions, COUNT(*) AS n FROM listen_sessions
    WHERE stream_id = ${streamId} AND ${started} AND renditions IS NOT NULL
    GROUP BY renditions`.execute(db);
  const byRendition: Record<string, number> = {};
  for (const r of renditions.rows) for (const id of new Set(r.renditions.split(","))) byRendition[id] = (byRendition[id] ?? 0) + Number(r.n);
  const t = totals.rows[0]!;
  return {
    listens: Number(t.listens), uniqueUsers: Number(t.users), listeningMs: Number(t.ms ?? 0), listening: Number(t.listening),
    peakConcurrent: Number(t.peak ?? 0), byRendition,
  };
}

/**
 * The figures from SQLite's rows, a slice at a time, with report.ts's RangeFigures.
 * @throws better-sqlite3's error.
 */
export async function slicedSummary(database: SQLiteDatabase.Database, streamId: string, fromMs: number, toMs: number, nowMs: number): Promise<SessionSummary> {
  const rows = database
    .prepare("SELECT connected_at, sub, ended_at, renditions FROM listen_sessions WHERE stream_id = ? AND connected_at < ? AND (ended_at IS NULL OR ended_at > ?)")
    .raw()
    .iterate(streamId, toMs, fromMs) as IterableIterator<[number, string | null, number | null, string | null]>;
  const figures = new RangeFigures(fromMs, toMs, nowMs);
  let listening = 0;
  const users = new Set<string>();
  const byRendition: Record<string, number> = {};
  let inSlice = 0;
  for (const [connectedAt, sub, endedAt, renditions] of rows) {
    figures.add(connectedAt, endedAt);
    if (endedAt === null) listening++;
    if (connectedAt >= fromMs) {
      if (sub) users.add(sub);
      if (renditions) countRenditions(byRendition, renditions);
    }
    if (++inSlice === SLICE_ROWS) {
      inSlice = 0;
      await nextTurn();
    }
  }
  return { listens: figures.listens, uniqueUsers: users.size, listeningMs: figures.listeningMs, peakConcurrent: figures.peak(), listening, byRendition };
}
