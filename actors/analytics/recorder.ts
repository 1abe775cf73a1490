/**
 * Writes listen sessions to the analytics store off the fan-out path: events are queued here
 * (coalesced by session: a start and its end become one row), written in batches once a second,
 * and kept when the database is out (retried with backoff from 1 s doubling to 30 s, counted), so
 * an outage loses no session unless it outlasts {@link MAX_PENDING} of them (the oldest go then,
 * counted too).
 */
import type { Logger } from "pino";
import type { Counter, Gauge } from "prom-client";
import type { ListenSessionRow } from "./schema";
import type { AnalyticsStore } from "./store";

/** Sessions held at most while the database is out. */
export const MAX_PENDING = 200_000;
/** Rows per write (one transaction). */
const BATCH = 2000;
const FLUSH_MS = 1000;
const RETRY_MAX_MS = 30_000;

export interface RecorderMetrics {
  pending: Gauge;
  written: Counter;
  failures: Counter;
  lost: Counter;
}

export class AnalyticsRecorder {
  private readonly pending = new Map<string, ListenSessionRow>();
  /** The store being opened or open; null again after an open that failed (the next use tries again). */
  private store: Promise<AnalyticsStore> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private retryMs = FLUSH_MS;
  private closed = false;

  constructor(
    private readonly open: () => Promise<AnalyticsStore>,
    private readonly metrics: RecorderMetrics,
    private readonly log: Logger,
  ) {}

  /** Queues a session's start (ended_at null) or end; the latest event of a session wins. */
  add(row: ListenSessionRow): void {
    this.pending.delete(row.session_id); // re-inserted last: its place in the write order is its latest event's
    this.pending.set(row.session_id, row);
    if (this.pending.size > MAX_PENDING) {
      const oldest = this.pending.keys().next().value!;
      this.pending.delete(oldest);
      this.metrics.lost.inc();
    }
    this.metrics.pending.set(this.pending.size);
    this.schedule(FLUSH_MS);
  }

  private schedule(ms: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
    this.timer.unref();
  }

  /** The store, opened (and migrated) once, at first use: callers at the same time share the one open. */
  storeReady(): Promise<AnalyticsStore> {
    this.store ??= this.open().catch((err: unknown) => {
      this.store = null;
      throw err;
    });
    return this.store;
  }

  /** Writes what is queued now (one flush at a time). Never throws: a failure keeps the rows and retries. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async write(): Promise<void> {
    while (this.pending.size > 0) {
      const batch = [...this.pending.values()].slice(0, BATCH);
      try {
        await (await this.storeReady()).write(batch);
      } catch (err) {
        this.metrics.failures.inc();
        this.log.warn({ err: (err as Error).message, pending: this.pending.size, retryInMs: this.retryMs }, "analytics write failed; kept for a retry");
        this.schedule(this.retryMs);
        this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
        return;
      }
      this.retryMs = FLUSH_MS;
      // a session with a newer event queued meanwhile stays for the next batch
      for (const row of batch) if (this.pending.get(row.session_id) === row) this.pending.delete(row.session_id);
      this.metrics.written.inc(batch.length);
      this.metrics.pending.set(this.pending.size);
    }
  }

  /** Writes what is left (once more) and closes the store. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.flush();
    await (await this.store?.catch(() => null))?.close();
  }
}
