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
  /** Sessions that started in the range by what they heard (an Opus rendition id, an HTTP format): one session may count under several. */
  byRendition: Record<string, number>;
  byHour: HourFigures[];
}

const HOUR_MS = 3_600_000;

/**
 * Listens (sessions that started in [fromMs, toMs)), listening time inside the range and the peak
 * of sessions open at once in it, taken a session at a time (so that summary.ts can read rows in
 * slices). The peak: every session's clipped start and end as one number each (2t + 1 a start,
 * 2t an end: an end sorts before a start at the same instant, back-to-back sessions are not
 * concurrent), sorted, then swept.
 */
export class RangeFigures {
  listens = 0;
  /** ms */
  listeningMs = 0;
  private edges = new Float64Array(1024);
  private n = 0;

  constructor(
    private readonly fromMs: number,
    private readonly toMs: number,
    /** Ends the sessions still open (ms since the epoch). */
    private readonly nowMs: number,
  ) {}

  /** A session (ms since the epoch; `endedAt` null while it goes on). */
  add(connectedAt: number, endedAt: number | null): void {
    if (connectedAt >= this.fromMs && connectedAt < this.toMs) this.listens++;
    const start = Math.max(connectedAt, this.fromMs);
    const end = Math.min(endedAt ?? this.nowMs, this.toMs);
    if (end <= start) return;
    this.listeningMs += end - start;
    if (this.n + 2 > this.edges.length) {
      const grown = new Float64Array(this.edges.length * 2);
      grown.set(this.edges);
      this.edges = grown;
    }
    this.edges[this.n++] = 2 * start + 1;
    this.edges[this.n++] = 2 * end;
  }

  /** The most sessions open at once. */
  peak(): number {
    let open = 0;
    let peak = 0;
    for (const e of this.edges.subarray(0, this.n).sort()) peak = Math.max(peak, (open += e % 2 === 1 ? 1 : -1));
    return peak;
  }
}

/** Adds one to `out` for each distinct rendition in a session's `renditions` (comma-separated). */
export function countRenditions(out: Record<string, number>, renditions: string): void {
  for (const id of new Set(renditions.split(","))) out[id] = (out[id] ?? 0) + 1;
}

/** The figures of `rows` (sessions overlapping the range) within [fromMs, toMs). */
function figures(rows: ListenSessionRow[], fromMs: number, toMs: number, nowMs: number): RangeFigures {
  const f = new RangeFigures(fromMs, toMs, nowMs);
  for (const r of rows) f.add(r.connected_at, r.ended_at);
  return f;
}

export function analyticsReport(streamId: string, rows: ListenSessionRow[], fromMs: number, toMs: number, nowMs: number): AnalyticsReport {
  const all = figures(rows, fromMs, toMs, nowMs);
  const users = new Set(rows.filter((r) => r.connected_at >= fromMs && r.connected_at < toMs && r.sub).map((r) => r.sub));
  const byHour: HourFigures[] = [];
  for (let h = Math.floor(fromMs / HOUR_MS) * HOUR_MS; h < toMs; h += HOUR_MS) {
    const f = figures(rows, Math.max(h, fromMs), Math.min(h + HOUR_MS, toMs), nowMs);
    if (f.listens > 0 || f.listeningMs > 0) byHour.push({ hour: new Date(h).toISOString(), listens: f.listens, listeningHours: f.listeningMs / HOUR_MS, peakConcurrent: f.peak() });
  }
  return {
    streamId, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(),
    listens: all.listens, uniqueUsers: users.size, listeningHours: all.listeningMs / HOUR_MS, peakConcurrent: all.peak(),
    listening: rows.filter((r) => r.ended_at === null).length, byRendition: byRendition(rows, fromMs, toMs), byHour,
  };
}

/** Sessions that started in [fromMs, toMs) by each rendition they heard. */
function byRendition(rows: ListenSessionRow[], fromMs: number, toMs: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) {
    if (r.connected_at >= fromMs && r.connected_at < toMs && r.renditions) countRenditions(out, r.renditions);
  }
  return out;
}
