/**
 * Analytics write rate: N listen sessions (a start, then an end each) through the recorder
 * (actors/analytics/recorder.ts: coalescing, batches of 2000 rows in one transaction) into SQLite
 * (a file in a temporary folder) and PostgreSQL (the machine's, a database made for the run), side
 * by side in one run; plus the report of a stream with those N sessions (analytics.query's work).
 *
 *   npm run bench:analytics -- --sessions 10000
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import pino from "pino";
import { Counter, Gauge, Registry } from "prom-client";
import { AnalyticsRecorder } from "../../actors/analytics/recorder";
import { analyticsReport } from "../../actors/analytics/report";
import type { ListenSessionRow } from "../../actors/analytics/schema";
import { openAnalyticsStore, type AnalyticsStore } from "../../actors/analytics/store";

const { values } = parseArgs({ options: { sessions: { type: "string", default: "10000" }, json: { type: "string" } } });
const N = Number(values.sessions);

function sessions(start: number): { starts: ListenSessionRow[]; ends: ListenSessionRow[] } {
  const starts: ListenSessionRow[] = [];
  const ends: ListenSessionRow[] = [];
  for (let i = 0; i < N; i++) {
    const s: ListenSessionRow = { session_id: `bench-${start}-${i}`, stream_id: "bench", gateway: "gw-1", kind: i % 4 === 0 ? "http" : "websocket", sub: `user-${i % 1000}`, connected_at: start + i * 10, ended_at: null, frames_sent: 0, bytes: 0, reconnects: 0, end_code: null, renditions: i % 4 === 0 ? "mp3" : "0" };
    starts.push(s);
    ends.push({ ...s, ended_at: s.connected_at + 60_000 + (i % 600) * 1000, frames_sent: 3000, end_code: "1000" });
  }
  return { starts, ends };
}

async function run(name: string, open: () => Promise<AnalyticsStore>): Promise<Record<string, number | string>> {
  const registry = new Registry();
  const metrics = {
    pending: new Gauge({ name: "p", help: "p", registers: [registry] }), written: new Counter({ name: "w", help: "w", registers: [registry] }),
    failures: new Counter({ name: "f", help: "f", registers: [registry] }), lost: new Counter({ name: "l", help: "l", registers: [registry] }),
  };
  const recorder = new AnalyticsRecorder(open, metrics, pino({ level: "silent" }));
  const store = await recorder.storeReady();
  const t0 = Date.now();
  const { starts, ends } = sessions(t0);
  const a = performance.now();
  for (const s of starts) recorder.add(s);
  await recorder.flush();
  const b = performance.now();
  for (const e of ends) recorder.add(e);
  await recorder.flush();
  const c = performance.now();
  const rows = await store.sessions("bench", t0 - 1, t0 + N * 10 + 700_000);
  const d = performance.now();
  const report = analyticsReport("bench", rows, t0 - 1, t0 + N * 10 + 700_000, t0 + 10_000_000);
  const e = performance.now();
  await recorder.close();
  const out = { store: name, sessions: N, startRowsPerS: Math.round(N / ((b - a) / 1000)), endRowsPerS: Math.round(N / ((c - b) / 1000)), readMs: Math.round(d - c), reportMs: Math.round(e - d), listens: report.listens, peak: report.peakConcurrent };
  console.log(JSON.stringify(out));
  return out;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "veza-analytics-bench-"));
  const dbName = `veza_analytics_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/postgres" });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  try {
    const results = [
      await run("sqlite", () => openAnalyticsStore({ dataDir: dir })),
      await run("postgres", () => openAnalyticsStore({ databaseUrl: `postgres://postgres@127.0.0.1:5432/${dbName}`, dataDir: dir })),
    ];
    const file = values.json ?? path.join(__dirname, `results-${new Date().toISOString().slice(0, 10)}-${N}.json`);
    fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), results }, null, 2) + "\n");
    console.log(`results: ${path.relative(process.cwd(), file)}`);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
