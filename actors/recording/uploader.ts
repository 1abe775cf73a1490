/**
 * Uploads the spool to the object store, one object at a time, oldest part first: each closed
 * segment, then, once none of the part's ready segments is left, the part's manifest listing the
 * segments uploaded so far (so the store never names a segment it does not hold), the recording's info when it changed, and, once a part has ended and
 * all of it is up, its final manifest; then its spool directory goes. A failed put is retried after
 * 0.5 s, doubling to {@link MAX_BACKOFF_MS} with ±20 % jitter, for as long as it takes: nothing is
 * given up, the spool holds it (RECORD_SPOOL_MAX_MB bounds what new audio is let in).
 */
import fs from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import type { PartManifest } from "../../media/recording/manifest";
import { partKey, recordingInfoKey } from "../../media/recording/manifest";
import type { ObjectStore } from "../../transports/objects/object-store";
import type { NodeMetrics } from "../metrics";
import { saveState, type PartState } from "./spool";

const FIRST_BACKOFF_MS = 500;
/** Longest wait between two tries (ms): a store back after an outage is used within this. */
const MAX_BACKOFF_MS = 8000;


export class Uploader {
  private readonly parts = new Map<string, PartState>();
  private running = false;
  private again = false;
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly store: ObjectStore,
    private readonly metrics: NodeMetrics,
    private readonly log: Logger,
    /** Called with the bytes of each segment uploaded (and so gone from the spool). */
    private readonly freed: (bytes: number) => void,
  ) {}

  /** Parts waiting, or being recorded, whose segments are not all uploaded. */
  get pending(): number {
    return this.parts.size;
  }

  /** Something of `state` is ready to go up. */
  add(state: PartState): void {
    this.parts.set(state.dir, state);
    this.kick();
  }

  /** Resolves once nothing is left to upload, or after `timeoutMs`; true when drained. */
  async drained(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (this.parts.size > 0 || this.running) {
      if (Date.now() > until) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  private kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.run().finally(() => {
      this.running = false;
      if (this.again && !this.stopped) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async run(): Promise<void> {
    let backoff = FIRST_BACKOFF_MS;
    while (!this.stopped) {
      const state = [...this.parts.values()].sort((a, b) => a.manifest.startedAt.localeCompare(b.manifest.startedAt)).find((s) => this.hasWork(s));
      if (!state) return;
      try {
        await this.step(state);
        backoff = FIRST_BACKOFF_MS;
      } catch (err) {
        this.metrics.recordingUploads.inc({ result: "failed" });
        this.log.warn({ err: (err as Error).message, part: state.manifest.part, retryMs: backoff }, "recording upload failed; retrying");
        await new Promise<void>((r) => {
          const t = setTimeout(r, backoff * (0.8 + 0.4 * Math.random()));
          this.wake = () => (clearTimeout(t), r());
        });
        this.wake = null;
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      }
    }
  }

  private hasWork(s: PartState): boolean {
    return s.infoPending || s.manifest.segments.some((g) => !s.uploaded.includes(g.n)) || (s.manifest.endedAt !== null && s.open === null);
  }

  /** Uploads the next thing of `state`. */
  private async step(state: PartState): Promise<void> {
    const segment = state.manifest.segments.find((g) => !state.uploaded.includes(g.n));
    if (segment) {
      const file = `${state.dir}/${segment.n}.opus`;
      const body = await fs.readFile(file);
      const started = performance.now();
      await this.store.put(segment.key, body, "audio/ogg");
      this.metrics.recordingUploadSeconds.observe((performance.now() - started) / 1000);
      this.metrics.recordingUploads.inc({ result: "ok" });
      this.metrics.recordingUploadBytes.inc(body.length);
      state.uploaded.push(segment.n);
      await saveState(state);
      await fs.rm(file, { force: true });
      this.freed(body.length);
      // the manifest once the part's ready segments are up (one put per segment in steady state,
      // one per backlog when a spool drains after an outage)
      if (!state.manifest.segments.some((g) => !state.uploaded.includes(g.n))) await this.putManifest(state);
      return;
    }
    if (state.infoPending) {
      const info = state.recording;
      await this.store.put(recordingInfoKey(info.streamId, info.id), Buffer.from(JSON.stringify(info)), "application/json");
      state.infoPending = false;
      await saveState(state);
      return;
    }
    // ended and all up: the final manifest, then the spool directory goes
    await this.putManifest(state);
    await fs.rm(state.dir, { recursive: true, force: true });
    // the recording's and the stream's spool directories go when they are empty
    for (const dir of [path.dirname(state.dir), path.dirname(path.dirname(state.dir))]) await fs.rmdir(dir).catch(() => undefined);
    this.parts.delete(state.dir);
    this.log.info({ streamId: state.manifest.streamId, recording: state.manifest.recordingId, part: state.manifest.part, segments: state.manifest.segments.length, interrupted: state.manifest.interrupted ?? false }, "recording part uploaded");
  }

  private async putManifest(state: PartState): Promise<void> {
    const manifest: PartManifest = { ...state.manifest, segments: state.manifest.segments.filter((g) => state.uploaded.includes(g.n)) };
    await this.store.put(partKey(manifest), Buffer.from(JSON.stringify(manifest, null, 1)), "application/json");
  }
}
