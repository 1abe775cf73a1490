/**
 * Where analytics live: PostgreSQL when DATABASE_URL is set (node-postgres, a pool of 4), else a
 * SQLite file in the node's data directory (better-sqlite3, WAL, `analytics.sqlite`), so that the
 * default needs no server. Both through Kysely, migrated at open (schema.ts).
 */
import path from "node:path";
import fs from "node:fs";
import type SQLiteDatabase from "better-sqlite3";
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type MigrationProvider } from "kysely";
import pg from "pg";
import { MIGRATIONS, type AnalyticsTables, type ListenSessionRow } from "./schema";
import { slicedSummary, sqlSummary, type SessionSummary } from "./summary";

export type { SessionSummary } from "./summary";

/** What a gateway reports of a session: a start (ended_at null) or an end. */
export type SessionWrite = ListenSessionRow;

export interface AnalyticsStore {
  /** `postgres` or `sqlite:<file>`. */
  readonly kind: string;
  /** Writes sessions in one transaction: a start inserts (or re-opens a resumed session), an end sets its end and counters. @throws the driver's error (the caller keeps the batch and retries). */
  write(rows: SessionWrite[]): Promise<void>;
  /** Sessions of `streamId` that overlap [fromMs, toMs). */
  sessions(streamId: string, fromMs: number, toMs: number): Promise<ListenSessionRow[]>;
  /**
   * The figures of report.ts's analyticsReport but `byHour`, for `analytics.update`: computed by
   * PostgreSQL (summary.ts sqlSummary); with SQLite, which answers on the node's own thread, read
   * a slice of rows at a time between which the node goes on (slicedSummary). `nowMs` ends the
   * sessions still open. @throws the driver's error.
   */
  summary(streamId: string, fromMs: number, toMs: number, nowMs: number): Promise<SessionSummary>;
  close(): Promise<void>;
}

/** Rows per INSERT statement: 11 columns each, under SQLite's 32 766 and PostgreSQL's 65 535 bound parameters. */
const CHUNK = 500;

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/**
 * better-sqlite3, an optional dependency (a native addon: npm builds it with node-gyp when no
 * prebuilt binary downloads, and an install goes on without it when that fails), loaded at first use.
 * @throws Error saying how to do without it.
 */
function sqlite(): typeof SQLiteDatabase {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("better-sqlite3") as typeof SQLiteDatabase;
  } catch (err) {
    throw new Error(`analytics without DATABASE_URL need better-sqlite3, which did not install here (${(err as Error).message.split("\n")[0]}): set DATABASE_URL, or reinstall with a compiler and Node's headers (npm_config_nodedir)`);
  }
}

/** bigint columns come back from node-postgres as strings: read them as numbers (ms fit in 2^53). */
pg.types.setTypeParser(20, (v: string) => Number(v));

/**
 * Opens the store and migrates it.
 * @throws Error when the database cannot be reached or migrated.
 */
export async function openAnalyticsStore(o: { databaseUrl?: string; dataDir: string; onIdleError?: (err: Error) => void }): Promise<AnalyticsStore> {
  let kind: string;
  let dialect;
  /** SQLite: a second, read-only connection for summaries, read a slice at a time (slicedSummary). */
  let reader: SQLiteDatabase.Database | null = null;
  if (o.databaseUrl) {
    kind = "postgres";
    const pool = new pg.Pool({ connectionString: o.databaseUrl, max: 4, connectionTimeoutMillis: 5000 });
    // an idle connection that the server (or the network) drops is an 'error' on the pool, which
    // would end the process unhandled; the pool opens a new one at the next query
    pool.on("error", (err) => o.onIdleError?.(err));
    dialect = new PostgresDialect({ pool });
  } else {
    fs.mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(o.dataDir, "analytics.sqlite");
    kind = `sqlite:${file}`;
    const database = new (sqlite())(file);
    database.pragma("journal_mode = WAL");
    database.pragma("busy_timeout = 5000");
    dialect = new SqliteDialect({ database });
    reader = new (sqlite())(file, { readonly: true });
  }
  const db = new Kysely<AnalyticsTables>({ dialect });
  const { error } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) {
    await db.destroy();
    throw error instanceof Error ? error : new Error(String(error));
  }
  return {
    kind,
    async write(rows) {
      // two multi-row upserts in one transaction: starts (re)open a session, ends close it
      const starts = rows.filter((r) => r.ended_at === null);
      const ends = rows.filter((r) => r.ended_at !== null);
      await db.transaction().execute(async (tx) => {
        for (let i = 0; i < starts.length; i += CHUNK) {
          await tx
            .insertInto("listen_sessions")
            .values(starts.slice(i, i + CHUNK))
            .onConflict((oc) => oc.column("session_id").doUpdateSet((eb) => ({ gateway: eb.ref("excluded.gateway"), ended_at: null, reconnects: eb.ref("excluded.reconnects") })))
            .execute();
        }
        for (let i = 0; i < ends.length; i += CHUNK) {
          await tx
            .insertInto("listen_sessions")
            .values(ends.slice(i, i + CHUNK))
            .onConflict((oc) =>
              oc.column("session_id").doUpdateSet((eb) => ({
                gateway: eb.ref("excluded.gateway"), ended_at: eb.ref("excluded.ended_at"), frames_sent: eb.ref("excluded.frames_sent"),
                bytes: eb.ref("excluded.bytes"), reconnects: eb.ref("excluded.reconnects"), end_code: eb.ref("excluded.end_code"), renditions: eb.ref("excluded.renditions"),
              })),
            )
            .execute();
        }
      });
    },
    async sessions(streamId, fromMs, toMs) {
      return db
        .selectFrom("listen_sessions")
        .selectAll()
        .where("stream_id", "=", streamId)
        .where("connected_at", "<", toMs)
        .where((eb) => eb.or([eb("ended_at", "is", null), eb("ended_at", ">", fromMs)]))
        .execute();
    },
    async summary(streamId, fromMs, toMs, nowMs) {
      return reader ? slicedSummary(reader, streamId, fromMs, toMs, nowMs) : sqlSummary(db, streamId, fromMs, toMs, nowMs);
    },
    async close() {
      reader?.close();
      await db.destroy();
    },
  };
}
