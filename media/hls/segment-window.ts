/**
 * The live window of one rendition: CMAF parts (media/cmaf/live-cmaf.ts) grouped into segments,
 * the last few kept for HLS and DASH players, with the media playlist of them and a way to wait for
 * a part that is not written yet (LL-HLS blocking playlist reload and preload hints). Pure state,
 * no I/O; the only asynchrony is waiting ({@link SegmentWindow.waitFor}, {@link SegmentWindow.waitForSegment}).
 *
 * Numbering: a segment ends with the part that reaches or crosses a multiple of the segment length
 * in media time (so a window that starts mid-way has a short first segment, and gateways cut
 * alike), at a discontinuity, or at the stream's end; never on a count of parts. So, between
 * discontinuities and while media time has no gap (LiveCmaf folds a short gap into the part before
 * it, making a longer segment), segment `msn` starts at a media time in [msn, msn + 1) × the
 * segment length, as the MPD's number template
 * says (media/dash/mpd.ts), also when parts do not divide the segment: AAC's 1024-sample frames
 * make 192 ms parts, and segments of 5 or 6 of them (counting parts made numbers run ahead of the
 * media clock by one every 25 s). A segment's bytes are its parts' bytes, in order (a CMAF segment
 * is a run of CMAF chunks).
 * URIs, relative to the media playlist: `init.mp4`, `s<msn>.m4s`, `p<msn>.<part>.m4s`.
 *
 * Defaults are MediaMTX's for audio LL-HLS (gohlslib): 200 ms parts, 1 s segments, 7 segments in
 * the playlist; segments stay fetchable for as long again after they leave it (RFC 8216 §6.2.2:
 * a server keeps a removed segment available for at least the playlist's duration).
 */
import type { CmafPart } from "../cmaf/live-cmaf";
import { concatBytes } from "../bytes";
import { mediaPlaylist, type PlaylistSegment } from "./playlist";

/** Samples per second of media time. */
const MEDIA_CLOCK_HZ = 48_000;

export interface SegmentWindowOptions {
  /** Parts of partMs per segment: 5 parts of 200 ms make 1 s segments (the segment length; parts of other lengths make as many as reach it). */
  partsPerSegment: number;
  /** Part target, ms (EXT-X-PART-INF PART-TARGET). */
  partMs: number;
  /** Complete segments listed in the media playlist (7, as MediaMTX). */
  playlistSegments: number;
}

export const DEFAULT_WINDOW: SegmentWindowOptions = { partsPerSegment: 5, partMs: 200, playlistSegments: 7 };

/** One part as the window keeps it. */
export interface WindowPart {
  bytes: Uint8Array;
  /** Media time of its first sample, samples at 48 kHz. */
  mediaTime: number;
  /** Samples at 48 kHz. */
  duration: number;
}

/** One segment of the window. */
export interface WindowSegment {
  msn: number;
  parts: WindowPart[];
  complete: boolean;
  /** Wall-clock (cluster) time of its first sample, ms since the epoch. */
  programDateMs: number;
  /** Follows a gap that the media time does not show (media time went back: a new broadcaster). */
  discontinuity: boolean;
  /** Media time of its first sample, samples at 48 kHz. */
  mediaTime: number;
  /** Samples at 48 kHz (the sum of its parts'). */
  duration: number;
}

interface Waiter {
  ready(): boolean;
  resolve(ready: boolean): void;
  timer: NodeJS.Timeout;
}

export class SegmentWindow {
  /** ftyp + moov of the current muxer; null before the first part. */
  init: Uint8Array | null = null;
  /** Kept segments, oldest first: the playlist's, and as many before them still fetchable. */
  readonly segments: WindowSegment[] = [];
  /** EXT-X-DISCONTINUITY-SEQUENCE: discontinuities among segments dropped from the front. */
  private discontinuitySequence = 0;
  private nextMsn = 0;
  /** Whether a part was ever added ({@link startAt} only before). */
  private started = false;
  private pendingDiscontinuity = false;
  ended = false;
  private waiters: Waiter[] = [];

  constructor(readonly o: SegmentWindowOptions = DEFAULT_WINDOW) {}

  /** The segment being written, if any. */
  private get open(): WindowSegment | undefined {
    const last = this.segments[this.segments.length - 1];
    return last && !last.complete ? last : undefined;
  }

  /**
   * Adds the next part of the rendition. `programDateMs`: cluster time of its first sample (ms
   * since the epoch), used when it starts a segment.
   */
  addPart(part: CmafPart, init: Uint8Array, programDateMs: number): void {
    this.init = init;
    this.started = true;
    let segment = this.open;
    if (!segment) {
      segment = { msn: this.nextMsn++, parts: [], complete: false, programDateMs, discontinuity: this.pendingDiscontinuity, mediaTime: part.mediaTime, duration: 0 };
      this.pendingDiscontinuity = false;
      this.segments.push(segment);
    }
    segment.parts.push({ bytes: part.bytes, mediaTime: part.mediaTime, duration: part.duration });
    segment.duration += part.duration;
    // a segment ends on the media clock's segment grid (the first one may be short)
    const segmentSamples = (this.o.partsPerSegment * this.o.partMs * MEDIA_CLOCK_HZ) / 1000;
    if (Math.floor((part.mediaTime + part.duration) / segmentSamples) > Math.floor(segment.mediaTime / segmentSamples)) this.complete(segment);
    this.trim();
    this.wake();
  }

  /** Numbers the first segment `msn` (gateways number segments from the media clock); only before the first part. */
  startAt(msn: number): void {
    if (!this.started) this.nextMsn = msn;
  }

  /** Media time is about to go back (a new muxer): the open segment ends and the next one is a discontinuity. */
  discontinuity(): void {
    const segment = this.open;
    if (segment) this.complete(segment);
    if (this.segments.length > 0) this.pendingDiscontinuity = true;
    this.wake();
  }

  /** The stream ended: the open segment completes, the playlist gets EXT-X-ENDLIST, waiters are answered. */
  end(): void {
    const segment = this.open;
    if (segment) this.complete(segment);
    this.ended = true;
    this.wake();
  }

  private complete(segment: WindowSegment): void {
    segment.complete = true;
  }

  /** Drops segments older than twice the playlist's length. */
  private trim(): void {
    const complete = this.segments.filter((s) => s.complete).length;
    let extra = complete - 2 * this.o.playlistSegments;
    while (extra-- > 0 && this.segments[0]?.complete) {
      const dropped = this.segments.shift()!;
      if (dropped.discontinuity) this.discontinuitySequence++;
    }
  }

  /** The segments the playlist lists: the last {@link SegmentWindowOptions.playlistSegments} complete ones and the open one. */
  listed(): WindowSegment[] {
    const open = this.open ? 1 : 0;
    return this.segments.slice(Math.max(0, this.segments.length - open - this.o.playlistSegments));
  }

  /** Whether segment `msn` is complete (`part` null) or has part `part`. */
  has(msn: number, part: number | null): boolean {
    const s = this.segments.find((x) => x.msn === msn);
    if (!s) return msn < (this.segments[0]?.msn ?? 0);
    return part === null ? s.complete : part < s.parts.length || s.complete;
  }

  /** The msn and part index the next part will have. */
  next(): { msn: number; part: number } {
    const open = this.open;
    return open ? { msn: open.msn, part: open.parts.length } : { msn: this.nextMsn, part: 0 };
  }

  /** Bytes of part `part` of segment `msn`; undefined when not kept or not written. */
  part(msn: number, part: number): Uint8Array | undefined {
    return this.segments.find((s) => s.msn === msn)?.parts[part]?.bytes;
  }

  /** Bytes of complete segment `msn`; undefined when not kept or not complete. */
  segment(msn: number): Uint8Array | undefined {
    const s = this.segments.find((x) => x.msn === msn);
    return s?.complete ? concatBytes(s.parts.map((p) => p.bytes)) : undefined;
  }

  /**
   * Resolves true once {@link has}(msn, part) (or the stream ended, or the window got past it),
   * false after `timeoutMs`.
   */
  waitFor(msn: number, part: number | null, timeoutMs: number): Promise<boolean> {
    return this.waitUntil(() => this.has(msn, part), timeoutMs);
  }

  /** Whether the window holds a complete segment. */
  hasComplete(): boolean {
    return this.segments.some((s) => s.complete);
  }

  /** Resolves true once the window holds a complete segment (or the stream ended), false after `timeoutMs`. */
  waitForSegment(timeoutMs: number): Promise<boolean> {
    return this.waitUntil(() => this.hasComplete(), timeoutMs);
  }

  private waitUntil(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    if (ready() || this.ended) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        ready, resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Answers every waiter (false): the window is going away. */
  close(): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.waiters = [];
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (!w.ready() && !this.ended) return true;
      clearTimeout(w.timer);
      w.resolve(true);
      return false;
    });
  }

  /**
   * The LL-HLS media playlist of the window; `query` (e.g. `?token=…`) is appended to every URI.
   * @throws Error when nothing is written yet.
   */
  playlist(query = ""): string {
    const segments: PlaylistSegment[] = this.listed().map((s) => ({
      msn: s.msn,
      programDateMs: s.programDateMs,
      discontinuity: s.discontinuity,
      parts: s.parts.map((p, i) => ({ duration: p.duration / MEDIA_CLOCK_HZ, uri: `p${s.msn}.${i}.m4s${query}`, independent: true })),
      complete: s.complete ? { uri: `s${s.msn}.m4s${query}`, duration: s.duration / MEDIA_CLOCK_HZ } : null,
    }));
    const next = this.next();
    return mediaPlaylist({
      segments,
      partTarget: this.o.partMs / 1000,
      initUri: `init.mp4${query}`,
      preloadHint: this.ended ? null : `p${next.msn}.${next.part}.m4s${query}`,
      ended: this.ended,
      // the tag of the first listed segment is not written: it counts as passed (RFC 8216 §6.2.2)
      discontinuitySequence: this.discontinuitySequence + this.segments.slice(0, this.segments.length - segments.length + 1).filter((s) => s.discontinuity).length,
    });
  }
}
