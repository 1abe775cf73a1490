/**
 * Records one part of a recording (one owner's live period of a stream) into the spool: Opus frames
 * in, Ogg/Opus segment files of about RECORD_SEGMENT_S out. The frame path is synchronous and only
 * muxes in memory; file writes go through a promise chain, so a slow disk never holds the fan-out.
 * A segment ends when it is long enough, and at every gap in media time (the gap is named in the
 * part's manifest); a segment's pages reach the disk every {@link PAGE_PACKETS} packets and are
 * fsynced every {@link SYNC_EVERY_MS}, so a node killed mid-segment loses at most that second.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { OggOpusWriter } from "../../media/ogg/ogg-opus-writer";
import { MEDIA_HZ, segmentKey, type GapReason } from "../../media/recording/manifest";
import { saveState, type OpenSegment, type PartState } from "./spool";

/** Packets per Ogg page: 0.5 s of 20 ms frames. */
const PAGE_PACKETS = 25;
/** How often the open segment's file is fsynced (ms). */
const SYNC_EVERY_MS = 1000;

/** What the recorder needs from its node: the spool's budget and the uploader. */
export interface PartHooks {
  /** Whether `bytes` more fit in the spool (RECORD_SPOOL_MAX_MB). */
  room(bytes: number): boolean;
  /** `bytes` were added to the spool. */
  wrote(bytes: number): void;
  /** A segment was closed (or the part ended): time to upload. */
  ready(state: PartState): void;
  /** Audio not recorded because the spool was full, seconds. */
  dropped(seconds: number): void;
  onError(err: Error): void;
}

export class PartRecorder {
  private writer: OggOpusWriter | null = null;
  private file: fs.FileHandle | null = null;
  private io: Promise<void> = Promise.resolve();
  private queued = 0;
  private samples = 0;
  private packets = 0;
  private bytes = 0;
  /** Media time the next frame should have; null before the first. */
  private expected: number | null = null;
  /** Media time where frames began to be refused (spool full), or null. */
  private droppingSince: number | null = null;
  /** Wall-clock time (ms since the epoch) of the last frame taken: a segment's start and end. */
  private lastArrivalMs = 0;
  private readonly syncTimer: NodeJS.Timeout;
  private closed = false;
  /** Segments begun in this part. */
  private opened = 0;

  constructor(readonly state: PartState, private readonly segmentSamples: number, private readonly hooks: PartHooks) {
    this.syncTimer = setInterval(() => this.chain(async () => void (await this.file?.datasync())), SYNC_EVERY_MS);
    this.syncTimer.unref();
  }

  /**
   * Takes one stamped frame: `mediaTime` and `duration` in samples at 48 kHz, `discontinuity` its
   * DISCONTINUITY flag (encoder restart, new broadcaster), `arrivalMs` its wall-clock time.
   */
  frame(mediaTime: number, duration: number, packet: Uint8Array, discontinuity: boolean, arrivalMs: number): void {
    if (this.closed) return;
    const gap = this.expected !== null && mediaTime !== this.expected;
    if (this.state.open && (gap || discontinuity || this.samples >= this.segmentSamples)) this.closeSegment();
    if (gap && this.expected !== null && mediaTime > this.expected && this.droppingSince === null) {
      this.state.manifest.gaps.push({ mediaFrom: this.expected, mediaTo: mediaTime, reason: (discontinuity ? "encoder_restart" : "unrecorded") satisfies GapReason });
    }
    this.expected = mediaTime + duration;
    this.lastArrivalMs = arrivalMs;
    if (!this.state.open) {
      // about a segment's worth of room is asked for before it begins; refused, the audio is dropped and the gap named
      const room = this.hooks.room(Math.ceil((this.segmentSamples / MEDIA_HZ) * 64_000) + 4096);
      if (!room) {
        if (this.droppingSince === null) this.droppingSince = mediaTime;
        this.hooks.dropped(duration / MEDIA_HZ);
        return;
      }
      if (this.droppingSince !== null) {
        this.state.manifest.gaps.push({ mediaFrom: this.droppingSince, mediaTo: mediaTime, reason: "spool_full" });
        this.droppingSince = null;
      }
      // the part's first frame always follows a gap (a new broadcaster, another owner): named by the part itself
      this.openSegment(mediaTime, gap || (discontinuity && this.opened > 0));
    }
    this.writer!.write(new Uint8Array(packet), duration); // a copy: the message is not ours to keep
    this.samples += duration;
    this.packets++;
    if (++this.queued >= PAGE_PACKETS) this.append(this.writer!.flush());
  }

  /**
   * Ends the part: its open segment is closed, then the manifest gets its end (in the write chain,
   * after the last segment is in it: an ended part whose segments are all up is removed from the
   * spool by the uploader). Resolves when it is on disk.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.state.open) this.closeSegment();
    this.closed = true;
    clearInterval(this.syncTimer);
    const dropped = this.droppingSince !== null && this.expected !== null ? { mediaFrom: this.droppingSince, mediaTo: this.expected } : null;
    this.chain(async () => {
      if (dropped) this.state.manifest.gaps.push({ ...dropped, reason: "spool_full" });
      this.state.manifest.endedAt = new Date().toISOString();
      await saveState(this.state);
    });
    await this.io;
    this.hooks.ready(this.state);
  }

  private openSegment(mediaTime: number, discontinuity: boolean): void {
    const n = Math.floor(mediaTime / 960);
    const name = `${n}.opus`;
    const info = this.state.recording;
    this.writer = new OggOpusWriter({ channels: info.channels, preSkip: 0, tags: { TITLE: info.title || info.streamId, RECORDING: info.id } });
    const header = this.writer.header();
    const open: OpenSegment = {
      n, file: path.join(this.state.dir, name), key: segmentKey(info.streamId, info.id, n), mediaStart: mediaTime,
      startedAt: new Date(this.lastArrivalMs).toISOString(), headerBytes: header.length, discontinuity,
    };
    this.state.open = open;
    this.opened++;
    this.samples = 0;
    this.packets = 0;
    this.bytes = 0;
    this.queued = 0;
    this.chain(async () => {
      await saveState(this.state);
      this.file = await fs.open(open.file, "w");
    });
    this.append(header);
  }

  private closeSegment(): void {
    const open = this.state.open!;
    const writer = this.writer!;
    this.append(writer.end());
    const entry = {
      n: open.n, key: open.key, mediaStart: open.mediaStart, mediaEnd: open.mediaStart + this.samples, startedAt: open.startedAt, endedAt: new Date(this.lastArrivalMs).toISOString(),
      bytes: this.bytes, headerBytes: open.headerBytes, pages: writer.pageCount - 2, packets: this.packets, discontinuity: open.discontinuity,
    };
    this.state.open = null;
    this.writer = null;
    this.chain(async () => {
      const file = this.file;
      this.file = null;
      await file?.datasync();
      await file?.close();
      this.state.manifest.segments.push(entry);
      await saveState(this.state);
      this.hooks.ready(this.state);
    });
  }

  private append(bytes: Uint8Array): void {
    this.queued = 0;
    if (bytes.length === 0) return;
    this.bytes += bytes.length;
    this.hooks.wrote(bytes.length);
    this.chain(async () => void (await this.file?.write(bytes)));
  }

  /** Runs `step` after the writes before it; a failure is reported and the chain goes on. */
  private chain(step: () => Promise<void>): void {
    this.io = this.io.then(step).catch((err: unknown) => this.hooks.onError(err as Error));
  }
}
