/**
 * The relay actor's per-stream state: carries one rendition of a stream from its origin (the
 * owner node's `audio.<id>.<rendition>` subject on the media bus) to where it is needed (here, a
 * gateway's fan-out), counting frames in and out and sequence gaps. SRT, RIST and Icecast relays
 * will carry streams to and from other servers through the same shape.
 */
import { AudioFlag } from "../../media/wire/constants";
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
  /** ms since the Unix epoch of the last frame, or null. */
  lastFrameAt: number | null;
}

export class StreamRelay {
  private readonly stats: RelayStats;
  private readonly unsubscribe: () => void;

  /** Subscribes at once; `deliver` gets each frame (read-only: other subscribers may share it). */
  constructor(
    bus: MediaBus,
    readonly streamId: string,
    readonly rendition: number,
    private readonly metrics: NodeMetrics,
    private readonly deliver: (frame: Uint8Array) => void,
  ) {
    this.stats = { streamId, rendition, framesIn: 0, framesOut: 0, gapFrames: 0, lastSeq: null, lastFrameAt: null };
    this.unsubscribe = bus.subscribe(subjects.audio(streamId, rendition), (frame) => this.onFrame(frame));
  }

  private onFrame(frame: Uint8Array): void {
    const s = this.stats;
    s.framesIn++;
    this.metrics.relayFramesIn.inc();
    if (frame.length >= 8) {
      const seq = ((frame[4]! << 24) | (frame[5]! << 16) | (frame[6]! << 8) | frame[7]!) >>> 0;
      const discontinuity = (frame[3]! & AudioFlag.DISCONTINUITY) !== 0;
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
