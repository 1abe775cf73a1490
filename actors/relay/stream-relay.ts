/**
 * The relay actor's per-stream state: carries one rendition of a stream from its origin (the
 * owner node's `audio.<id>.<rendition>` subject on the media bus) to where it is needed (here, a
 * gateway's fan-out), counting frames in and out and sequence gaps. A frame that goes back in media
 * time without the discontinuity flag is dropped: it comes from a former owner of the stream (one
 * that was cut off or frozen and replaced, its frames late in the bus) and would be heard twice. SRT, RIST and Icecast relays
 * will carry streams to and from other servers through the same shape.
 */
import { AUDIO_HEADER_BYTES, AudioFlag } from "../../media/wire/constants";
import { subjects, type MediaBus } from "../../transports";
import type { NodeMetrics } from "../metrics";

export interface RelayStats {
  streamId: string;
  rendition: number;
  framesIn: number;
  framesOut: number;
  /** Frames missing between consecutive sequence numbers (not counting flagged discontinuities). */
  gapFrames: number;
  lastSeq: number | null;
  /** Frames dropped for going back in media time without the discontinuity flag. */
  staleFrames: number;
  /** ms since the Unix epoch of the last frame, or null. */
  lastFrameAt: number | null;
}

export class StreamRelay {
  private readonly stats: RelayStats;
  private readonly unsubscribe: () => void;
  /** Media time at the end of the last frame delivered (samples at 48 kHz), or null. */
  private lastEnd: number | null = null;

  /** Subscribes at once; `deliver` gets each frame (read-only: other subscribers may share it). */
  constructor(
    bus: MediaBus,
    readonly streamId: string,
    readonly rendition: number,
    private readonly metrics: NodeMetrics,
    private readonly deliver: (frame: Uint8Array) => void,
  ) {
    this.stats = { streamId, rendition, framesIn: 0, framesOut: 0, gapFrames: 0, lastSeq: null, staleFrames: 0, lastFrameAt: null };
    this.unsubscribe = bus.subscribe(subjects.audio(streamId, rendition), (frame) => this.onFrame(frame));
  }

  private onFrame(frame: Uint8Array): void {
    const s = this.stats;
    s.framesIn++;
    this.metrics.relayFramesIn.inc();
    if (frame.length >= AUDIO_HEADER_BYTES) {
      const view = new DataView(frame.buffer, frame.byteOffset, AUDIO_HEADER_BYTES);
      const seq = view.getUint32(4);
      const discontinuity = (frame[3]! & AudioFlag.DISCONTINUITY) !== 0;
      const mediaTime = view.getUint16(8) * 2 ** 32 + view.getUint32(10);
      if (!discontinuity && this.lastEnd !== null && mediaTime < this.lastEnd) {
        s.staleFrames++;
        this.metrics.framesDropped.inc({ reason: "stale" });
        return;
      }
      this.lastEnd = mediaTime + view.getUint16(14);
      if (s.lastSeq !== null && !discontinuity) {
        const missing = (seq - s.lastSeq - 1) >>> 0;
        if (missing > 0 && missing < 0x8000_0000) {
          s.gapFrames += missing;
          this.metrics.relayGapFrames.inc(missing);
        }
      }
      s.lastSeq = seq;
    }
    s.lastFrameAt = Date.now();
    this.deliver(frame);
    s.framesOut++;
  }

  snapshot(): RelayStats {
    return { ...this.stats };
  }

  close(): void {
    this.unsubscribe();
  }
}
