/**
 * What one `analytics.update` costs the node that computes it, side by side in one run, for a
 * stream with N sessions in the last 24 hours: AnalyticsStore.summary (PostgreSQL: computed by
 * the database; SQLite: the rows read a slice at a time, the event loop going on between slices;
 * actors/analytics/summary.ts) against the reference, the same figures computed here from every
 * row read back at once (store.sessions + report.ts, as the service did before). In SQLite
 * (better-sqlite3: synchronous, on the node's own thread) and in the machine's PostgreSQL. Per
 * way, medians of R: the wall time of one update, the node's busy time in it (event-loop
 * utilisation × wall: what the node spends, not waiting on a server), and the longest the event
 * loop was held at once (the longest gap between the ticks of a 1 ms interval): how long a stream actor beside it
 * could not stamp a frame.
 *
 *   npx tsx bench/analytics/update.ts --sessions 10000,100000 --repeats 5 [--json out.json]
 */
import fs from "node:fs";
import os from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import pg from "pg";
import { analyticsReport } from "../../actors/analytics/report";
import type { ListenSessionRow } from "../../actors/analytics/schema";
import { openAnalyticsStore, type AnalyticsStore } from "../../actors/analytics/store";
import { quantile } from "../stats";

const { values } = parseArgs({ options: { sessions: { type: "string", default: "10000,100000" }, repeats: { type: "string", default: "5" }, json: { type: "string" } } });
const SIZES = values.sessions.split(",").map(Number);
const R = Number(values.repeats);
const DAY = 86_400_000;

/** N sessions of one stream spread over the last 24 h, up to an hour long, 2 % still open, 5 000 users. */
function sessions(n: number, now: number): ListenSessionRow[] {
  const rows: ListenSessionRow[] = [];
  for (let i = 0; i < n; i++) {
    const start = now - Math.floor(Math.random() * DAY);
    rows.push({
      session_id: `s${i}`, stream_id: "radio", gateway: "gw", kind: "websocket", sub: `u${i % 5000}`, connected_at: start,
      ended_at: i % 50 === 0 ? null : Math.min(now, start + Math.floor(Math.random() * 3_600_000)), frames_sent: 0, bytes: 0, reconnects: 0, end_code: null, renditions: i % 3 ? "0" : "0,1",
    });
  }
  return rows;
}

/** Wall, busy and longest-held ms of `fn`, medians over R runs. */
async function measure(fn: () => Promise<unknown>): Promise<{ wallMs: number; busyMs: number; heldMs: number }> {
  const walls: number[] = [];
  const busys: number[] = [];
  const helds: number[] = [];
  for (let i = 0; i < R; i++) {
    // the longest gap between the ticks of a 1 ms interval: how long the loop was held at once
    let last = performance.now();
    let held = 0;
    const ticker = setInterval(() => {
      const t = performance.now();
      held = Math.max(held, t - last);
      last = t;
    }, 1);
    await new Promise((r) => setTimeout(r, 5));
    held = 0;
    last = performance.now();
    const elu = performance.eventLoopUtilization();
    const t0 = performance.now();
    await fn();
    const wall = performance.now() - t0;
    // one more tick, so that a loop held to the end is counted
    await new Promise((r) => setTimeout(r, 2));
    clearInterval(ticker);
    walls.push(wall);
    busys.push(performance.eventLoopUtilization(elu).utilization * wall);
    helds.push(held);
  }
  const median = (a: number[]) => quantile(a.sort((x, y) => x - y), 0.5);
  return { wallMs: median(walls), busyMs: median(busys), heldMs: median(helds) };
}

async function run(db: string, store: AnalyticsStore, n: number) {
  const now = Date.now();
  const rows = sessions(n, now);
  for (let i = 0; i < rows.length; i += 5000) await store.write(rows.slice(i, i + 5000));
  const summary = await measure(() => store.summary("radio", now - DAY, now, now));
  const fromRows = await measure(async () => analyticsReport("radio", await store.sessions("radio", now - DAY, now), now - DAY, now, now));
  const out = { db, sessions: n, summary, fromRows, ratio: fromRows.busyMs / summary.busyMs };
  const f = (m: { wallMs: number; busyMs: number; heldMs: number }) => `${m.wallMs.toFixed(1)} ms (busy ${m.busyMs.toFixed(1)}, held ${m.heldMs.toFixed(1)})`;
  console.log(`${db.padEnd(10)} ${String(n).padStart(7)} sessions: summary ${f(summary)}, from the rows ${f(fromRows)}: ${out.ratio.toFixed(1)}× the node's time, ${(fromRows.heldMs / summary.heldMs).toFixed(1)}× the longest hold`);
  return out;
}

async function main() {
  const results = [];
  for (const n of SIZES) {
    const dir = fs.mkdtempSync(`${os.tmpdir()}/veza-bench-analytics-`);
    const sqlite = await openAnalyticsStore({ dataDir: dir });
    try {
      results.push(await run("sqlite", sqlite, n));
    } finally {
      await sqlite.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const admin = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/postgres" });
    await admin.connect();
    const name = `veza_bench_analytics_${process.pid}`;
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name}`);
    const postgres = await openAnalyticsStore({ databaseUrl: `postgres://postgres@127.0.0.1:5432/${name}`, dataDir: os.tmpdir() });
    try {
      results.push(await run("postgres", postgres, n));
    } finally {
      await postgres.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  }
  if (values.json) fs.writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), repeats: R, results }, null, 2));
}

void main();
