/**
 * A stream's listening figures over a time range, from its sessions (pure): listens (sessions that
 * started in the range), unique users (distinct `sub` of those that gave a token), listening hours
 * (each session's time inside the range; one still listening counts up to `nowMs`), the peak of
 * concurrent sessions (a sweep over their starts and ends), and the same by hour.
 */
import type { ListenSessionRow } from "./schema";

export interface HourFigures {
  /** Start of the hour, ISO 8601. */
  hour: string;
  listens: number;
  listeningHours: number;
  peakConcurrent: number;
}

export interface AnalyticsReport {
  streamId: string;
  from: string;
  to: string;
  listens: number;
  uniqueUsers: number;
  listeningHours: number;
  peakConcurrent: number;
  /** Sessions still listening now. */
  listening: number;
  byHour: HourFigures[];
}

const HOUR_MS = 3_600_000;

/** The peak of sessions open at once within [from, to), and the listening ms inside it. */
function figures(rows: ListenSessionRow[], fromMs: number, toMs: number, nowMs: number): { hoursMs: number; peak: number; listens: number } {
  const edges: Array<[number, number]> = [];
  let hoursMs = 0;
  let listens = 0;
  for (const r of rows) {
    const start = Math.max(r.connected_at, fromMs);
    const end = Math.min(r.ended_at ?? nowMs, toMs);
    if (r.connected_at >= fromMs && r.connected_at < toMs) listens++;
    if (end <= start) continue;
    hoursMs += end - start;
    edges.push([start, 1], [end, -1]);
  }
  // an end before a start at the same instant: back-to-back sessions are not concurrent
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, (open += d));
  return { hoursMs, peak, listens };
}

export function analyticsReport(streamId: string, rows: ListenSessionRow[], fromMs: number, toMs: number, nowMs: number): AnalyticsReport {
  const all = figures(rows, fromMs, toMs, nowMs);
  const users = new Set(rows.filter((r) => r.connected_at >= fromMs && r.connected_at < toMs && r.sub).map((r) => r.sub));
  const byHour: HourFigures[] = [];
  for (let h = Math.floor(fromMs / HOUR_MS) * HOUR_MS; h < toMs; h += HOUR_MS) {
    const f = figures(rows, Math.max(h, fromMs), Math.min(h + HOUR_MS, toMs), nowMs);
    if (f.listens > 0 || f.hoursMs > 0) byHour.push({ hour: new Date(h).toISOString(), listens: f.listens, listeningHours: f.hoursMs / HOUR_MS, peakConcurrent: f.peak });
  }
  return {
    streamId, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(),
    listens: all.listens, uniqueUsers: users.size, listeningHours: all.hoursMs / HOUR_MS, peakConcurrent: all.peak,
    listening: rows.filter((r) => r.ended_at === null).length, byHour,
  };
}
