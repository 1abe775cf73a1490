/**
 * The analytics store's summary (the figures of an `analytics.update`, computed by the database)
 * against the report computed from the rows read back (report.ts), on the same random sessions:
 * sessions open, ended, clipped by the range on either side, back to back, zero-length, with and
 * without a user, several renditions; in SQLite (a file) and in the machine's PostgreSQL.
 */
import { strict as assert } from "node:assert";
import fs from "node:fs";
import os from "node:os";
import pg from "pg";
import { analyticsReport } from "../../actors/analytics/report";
import type { ListenSessionRow } from "../../actors/analytics/schema";
import { openAnalyticsStore, type AnalyticsStore } from "../../actors/analytics/store";

const NOW = Date.UTC(2026, 11, 3, 12);
const HOUR = 3_600_000;

/** A seeded generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sessions(n: number, seed: number): ListenSessionRow[] {
  const r = random(seed);
  const rows: ListenSessionRow[] = [];
  for (let i = 0; i < n; i++) {
    const stream = i % 7 === 0 ? "other" : "radio";
    const start = NOW - Math.floor(r() * 30 * HOUR);
    const kind = r();
    // open, zero-length, back to back with the one before, or a random length
    const end = kind < 0.1 ? null : kind < 0.15 ? start : Math.min(NOW, start + Math.floor(r() * 2 * HOUR));
    const backToBack = i > 0 && r() < 0.05 && rows[i - 1]!.ended_at !== null;
    const connectedAt = backToBack ? rows[i - 1]!.ended_at! : start;
    const renditions = [null, "0", "0,1", "1,2,1", "mp3"][Math.floor(r() * 5)]!;
    rows.push({
      session_id: `s${seed}-${i}`, stream_id: stream, gateway: "gw", kind: "websocket", sub: r() < 0.6 ? `u${Math.floor(r() * 40)}` : null,
      connected_at: connectedAt, ended_at: end === null ? null : Math.max(end, connectedAt), frames_sent: 0, bytes: 0, reconnects: 0, end_code: null, renditions,
    });
  }
  return rows;
}

async function compare(store: AnalyticsStore, seed: number): Promise<void> {
  await store.write(sessions(2000, seed));
  for (const [from, to] of [[NOW - 24 * HOUR, NOW], [NOW - 3 * HOUR, NOW - HOUR], [NOW - 40 * HOUR, NOW + HOUR]] as const) {
    const rows = await store.sessions("radio", from, to);
    const { byHour: _byHour, from: _f, to: _t, streamId: _s, listeningHours, ...expected } = analyticsReport("radio", rows, from, to, NOW);
    const { listeningMs, ...got } = await store.summary("radio", from, to, NOW);
    assert.deepEqual(got, expected, `seed ${seed}, [${from}, ${to})`);
    assert.equal(listeningMs, Math.round(listeningHours * HOUR), `seed ${seed}, [${from}, ${to}): listening ms`);
    assert.ok(expected.listens > 30 && expected.peakConcurrent > 5, "a range with something in it");
  }
}

describe("analytics summary: the database's figures equal the report's from the rows", () => {
  it("SQLite", async () => {
    const dir = fs.mkdtempSync(`${os.tmpdir()}/veza-summary-`);
    const store = await openAnalyticsStore({ dataDir: dir });
    try {
      await compare(store, 1);
      await compare(store, 2);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("PostgreSQL", async () => {
    const admin = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/postgres" });
    await admin.connect();
    const name = `veza_summary_${process.pid}`;
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name}`);
    const store = await openAnalyticsStore({ databaseUrl: `postgres://postgres@127.0.0.1:5432/${name}`, dataDir: os.tmpdir() });
    try {
      await compare(store, 3);
      await compare(store, 4);
    } finally {
      await store.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
