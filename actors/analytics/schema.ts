/**
 * The analytics database, in one place: its tables as Kysely types and the migrations that make
 * them, the same on PostgreSQL and SQLite (Kysely's Migrator runs them in name order and records
 * them in `kysely_migration`). Times are ms since the Unix epoch (bigint), durations ms.
 */
import type { Kysely, Migration } from "kysely";


/** One listen session: a listener from its first connection to its last (a resumed WebSocket session is one). */
export interface ListenSessionRow {
  session_id: string;
  stream_id: string;
  /** The gateway that held it last. */
  gateway: string;
  /** websocket, http, srt, relay. */
  kind: string;
  /** `sub` of the listener's token, when it gave one. */
  sub: string | null;
  connected_at: number;
  /** null while it listens. */
  ended_at: number | null;
  /** WebSocket: frames sent over the session; 0 for the others. */
  frames_sent: number;
  /** HTTP, SRT: bytes written; 0 for WebSocket. */
  bytes: number;
  reconnects: number;
  /** Why it ended (a close code or a catalogue code), when known. */
  end_code: string | null;
  /** What it heard, comma-separated (SessionInfo.renditions: Opus rendition ids, or an HTTP format); null before 0002. */
  renditions: string | null;
}

export interface AnalyticsTables {
  listen_sessions: ListenSessionRow;
}

/** The migrations, by name; never edit one that shipped, add the next. */
export const MIGRATIONS: Record<string, Migration> = {
  "0001-listen-sessions": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("listen_sessions")
        .addColumn("session_id", "varchar(64)", (c) => c.primaryKey())
        .addColumn("stream_id", "varchar(64)", (c) => c.notNull())
        .addColumn("gateway", "varchar(128)", (c) => c.notNull())
        .addColumn("kind", "varchar(16)", (c) => c.notNull())
        .addColumn("sub", "varchar(256)")
        .addColumn("connected_at", "bigint", (c) => c.notNull())
        .addColumn("ended_at", "bigint")
        .addColumn("frames_sent", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("bytes", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("reconnects", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("end_code", "varchar(64)")
        .execute();
      await db.schema.createIndex("listen_sessions_stream_time").on("listen_sessions").columns(["stream_id", "connected_at"]).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("listen_sessions").execute();
    },
  },
  "0002-session-renditions": {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("listen_sessions").addColumn("renditions", "varchar(256)").execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable("listen_sessions").dropColumn("renditions").execute();
    },
  },
};
