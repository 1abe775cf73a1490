/**
 * Which ladder rungs run for a stream: those someone uses (a WebSocket listener on the rung, an
 * HLS or DASH packager of it on some gateway, as the gateways report with their listener counts),
 * started at once, and stopped {@link RUNG_HOLD_MS} after their last user left, so that a listener
 * that an adaptive switch moves back and forth does not start and stop an ffmpeg each time. A rung
 * nobody uses runs no encoder (no CPU). While the stream is not live, none runs.
 */
import type { Rendition } from "../../media/ladder";
import type { LiveStream } from "./live-stream";

/** A rung keeps running this long after its last user left, ms. */
export const RUNG_HOLD_MS = 10_000;

export interface LadderDemandOptions {
  /** Sets the rungs running for a stream (encoder.ladder on this node); resolves with those running. */
  apply(streamId: string, rungs: Rendition[]): Promise<number[]>;
  onError(err: unknown, streamId: string): void;
}

interface StreamRungs {
  /** Rung id → ms since epoch it was last used. */
  lastUsed: Map<number, number>;
  /** The set last applied (sorted ids, joined), to call only on a change. */
  applied: string;
  busy: boolean;
  /** Another update came while a call was under way. */
  again: boolean;
}

export class LadderDemand {
  private readonly streams = new Map<string, StreamRungs>();

  constructor(private readonly o: LadderDemandOptions) {}

  /** Looks at `stream` now (after a listener report, and every second) and starts or stops rungs. */
  update(stream: LiveStream, now = Date.now()): void {
    const id = stream.streamId;
    let s = this.streams.get(id);
    if (!s) this.streams.set(id, (s = { lastUsed: new Map(), applied: "", busy: false, again: false }));
    const live = stream.lifecycle.state === "live";
    if (live) for (const rung of stream.usedRungs()) s.lastUsed.set(rung, now);
    for (const [rung, at] of s.lastUsed) if (!live || now - at > RUNG_HOLD_MS) s.lastUsed.delete(rung);
    const wanted = stream.renditions.filter((r) => r.id > 0 && s.lastUsed.has(r.id));
    const key = wanted.map((r) => r.id).join(",");
    if (key === s.applied) return;
    if (s.busy) {
      s.again = true;
      return;
    }
    s.busy = true;
    this.o
      .apply(id, wanted)
      .then(
        (running) => void (s.applied = running.sort((a, b) => a - b).join(",")),
        (err: unknown) => this.o.onError(err, id),
      )
      .finally(() => {
        s.busy = false;
        if (s.again) {
          s.again = false;
          this.update(stream);
        }
      });
  }

  /** The stream is forgotten by its actor. */
  forget(streamId: string): void {
    this.streams.delete(streamId);
  }
}
