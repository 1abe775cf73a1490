/**
 * When a stream's Opus encoder runs: only while some listener needs Opus (WebSocket listeners, Ogg
 * HTTP listeners, MP3 or AAC transcoded from Opus), as Icecast encodes nothing for a mount whose
 * listeners all take the source's own bytes. A stream with none for {@link EncoderDemandOptions.idleMs}
 * (ENCODER_IDLE_MS) has its encoder paused (its ffmpeg stopped: no encoder CPU); the first
 * listener that needs Opus resumes it (a new ffmpeg from the input's next clean boundary, a
 * discontinuity in the stream's media clock). Streams whose broadcaster sends Opus frames have no
 * encoder; raw PCM's does not pause (StreamEncoder.pause).
 */
import type { LiveStream } from "./live-stream";

/** What the encoder answers to a pause or a resume: its state after the call, and whether the call changed it. */
export interface EncoderState {
  paused: boolean;
  changed: boolean;
}

export interface EncoderDemandOptions {
  /** ms with no listener needing Opus before the encoder pauses; 0: never. */
  idleMs: number;
  pause(streamId: string): Promise<EncoderState>;
  resume(streamId: string): Promise<EncoderState>;
  onError(err: unknown, streamId: string): void;
}

export class EncoderDemand {
  /** Streams whose encoder is paused, as it last answered. */
  private readonly paused = new Set<string>();
  /** Streams whose encoder cannot pause (raw PCM): not asked again until {@link reset}. */
  private readonly unpausable = new Set<string>();
  /** Since when (ms since epoch) each stream has had no listener needing Opus. */
  private readonly idleSince = new Map<string, number>();
  /** Streams with a pause or resume call under way. */
  private readonly busy = new Set<string>();
  /** Bumped by {@link reset}: the answer of a call made for an earlier broadcaster's encoder is ignored. */
  private readonly epochs = new Map<string, number>();

  constructor(private readonly o: EncoderDemandOptions) {}

  /** Whether the stream's encoder is paused. */
  isPaused(streamId: string): boolean {
    return this.paused.has(streamId);
  }

  /**
   * Looks at `stream` now (after a listener report, and every second): resumes its paused encoder
   * when a listener needs Opus, pauses it after `idleMs` without one.
   */
  update(stream: LiveStream, now = Date.now()): void {
    const id = stream.streamId;
    const encoded = stream.lifecycle.state === "live" && stream.format !== null && stream.format !== "opus";
    if (!encoded || this.o.idleMs === 0 || this.busy.has(id)) return;
    // ladder rungs are made from the stream's Opus: their users need it too
    if (stream.opusListeners > 0 || stream.usedRungs().size > 0) {
      this.idleSince.delete(id);
      if (this.paused.has(id)) this.run(id, () => this.o.resume(id), (r) => r.changed && stream.markDiscontinuity());
      return;
    }
    const since = this.idleSince.get(id) ?? now;
    this.idleSince.set(id, since);
    if (!this.paused.has(id) && !this.unpausable.has(id) && now - since >= this.o.idleMs) {
      this.run(id, () => this.o.pause(id), (r) => !r.paused && !r.changed && this.unpausable.add(id));
    }
  }

  /** A broadcaster went on or off air: its encoder is a new one, running. */
  reset(streamId: string): void {
    this.paused.delete(streamId);
    this.unpausable.delete(streamId);
    this.idleSince.delete(streamId);
    this.epochs.set(streamId, (this.epochs.get(streamId) ?? 0) + 1);
  }

  /** The stream is forgotten by its actor: nothing kept of it. */
  forget(streamId: string): void {
    this.reset(streamId);
    this.epochs.delete(streamId);
  }

  /** Calls the encoder and records the state it answers (unless a new broadcaster came meanwhile). */
  private run(id: string, call: () => Promise<EncoderState>, then: (r: EncoderState) => unknown): void {
    const epoch = this.epochs.get(id) ?? 0;
    this.busy.add(id);
    call()
      .then(
        (r) => {
          if ((this.epochs.get(id) ?? 0) !== epoch) return;
          if (r.paused) this.paused.add(id);
          else this.paused.delete(id);
          then(r);
        },
        (err: unknown) => this.o.onError(err, id),
      )
      .finally(() => this.busy.delete(id));
  }
}
