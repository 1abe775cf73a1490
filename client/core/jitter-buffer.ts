/**
 * A jitter buffer of decoded PCM for live playout. Frames arrive in bursts and gaps; the buffer
 * fills to its margin before it plays (at start, after a reconnect, after an underrun) and never
 * lets delay pile up: a burst past `maxMs` is cut back to the margin at once, and a standing excess
 * (the depth never fell below the margin during a whole window, e.g. the sender's clock is faster
 * than ours) is cut back at the end of that window. Cuts drop the oldest audio.
 *
 * The margin adapts: it starts at `targetMs`, grows by `stepMs` after each underrun that was
 * jitter (audio came back within `gapMs`: the network showed more jitter than the margin covers),
 * up to `maxMs` - `stepMs`, and shrinks by half a step after each `relaxMs` without an underrun,
 * back down to `targetMs`. A longer gap (the broadcaster paused or left) or a {@link reset} (a new
 * socket) does not widen it.
 *
 * Pure (no Web Audio): the player's AudioWorklet runs it, and tests run it in Node. Audio is planar
 * Float32; counts are in samples per channel at `sampleRate` (48 kHz); clocks are the caller's
 * sample counter (the worklet's `currentFrame`).
 *
 * The delay it measures for each chunk is the time from the chunk's arrival in the page to the
 * moment its first sample leaves the buffer: `ageMs` (arrival → push, i.e. decoding and the
 * message to the worklet) plus the time it waited here. The player adds the AudioContext's output
 * latency to get the live delay it shows.
 */

export interface JitterBufferOptions {
  /** Samples per second. Default 48000. */
  sampleRate?: number;
  /** Margin to start with and the least it adapts down to, ms. Default 60 (three 20 ms frames). */
  targetMs?: number;
  /** Depth above which the oldest audio is dropped down to the margin, ms. Default target + 120. */
  maxMs?: number;
  /** Growth of the margin at each underrun, ms. Default 20. */
  stepMs?: number;
  /** Time without underrun after which the margin shrinks by half a step, ms. Default 10000. */
  relaxMs?: number;
  /** Longest silence after an underrun still counted as jitter, ms. Default 1000. */
  gapMs?: number;
  /** Output time over which a standing excess is measured, ms. Default 1000. */
  windowMs?: number;
}

interface Chunk {
  planes: Float32Array[];
  /** Samples of this chunk already played or dropped. */
  offset: number;
  /** Caller's clock (samples) when pushed. */
  pushedAt: number;
  /** ms from arrival in the page to push. */
  ageMs: number;
}

/** What the buffer did since the last {@link JitterBuffer.takeStats}. */
export interface JitterStats {
  /** "playing", or "buffering" (filling to the target; outputs silence). */
  state: "buffering" | "playing";
  /** Audio held now, ms. */
  depthMs: number;
  /** The current margin (depth to fill before playing), ms. */
  marginMs: number;
  /** Mean arrival-to-playout time of the chunks that started playing in the window, ms; null if none. */
  delayMs: number | null;
  /** Chunks that started playing in the window. */
  chunksPlayed: number;
  /** Totals since creation: */
  samplesPlayed: number;
  underruns: number;
  /** Audio dropped to stay at the live edge, ms. */
  droppedMs: number;
  resets: number;
}

export class JitterBuffer {
  readonly sampleRate: number;
  /** Least margin, samples. */
  readonly targetSamples: number;
  /** Depth that triggers a cut back to the margin, samples. */
  readonly maxSamples: number;
  /** Depth to reach before playing, and the standing depth aimed at, samples (adapts). */
  private margin: number;
  private readonly stepSamples: number;
  private readonly relaxSamples: number;
  private readonly windowSamples: number;
  /** Samples played since the last underrun or margin change. */
  private calm = 0;
  private readonly gapSamples: number;
  /** Caller's clock at the last underrun, while the buffer refills after it; null otherwise. */
  private starvedAt: number | null = null;
  private chunks: Chunk[] = [];
  private depth = 0;
  private playing = false;
  private windowPulled = 0;
  private windowMin = Infinity;
  private delaySum = 0;
  private delayCount = 0;
  private samplesPlayed = 0;
  private underruns = 0;
  private dropped = 0;
  private resets = 0;

  constructor(o: JitterBufferOptions = {}) {
    this.sampleRate = o.sampleRate ?? 48_000;
    const targetMs = o.targetMs ?? 60;
    this.targetSamples = Math.round((targetMs * this.sampleRate) / 1000);
    this.maxSamples = Math.round(((o.maxMs ?? targetMs + 120) * this.sampleRate) / 1000);
    this.stepSamples = Math.round(((o.stepMs ?? 20) * this.sampleRate) / 1000);
    this.relaxSamples = Math.round(((o.relaxMs ?? 10_000) * this.sampleRate) / 1000);
    this.gapSamples = Math.round(((o.gapMs ?? 1000) * this.sampleRate) / 1000);
    this.margin = this.targetSamples;
    this.windowSamples = Math.round(((o.windowMs ?? 1000) * this.sampleRate) / 1000);
  }

  /** Audio held now, in samples. */
  get depthSamples(): number {
    return this.depth;
  }

  /** Adds one decoded chunk (planar; all planes the same length). `now` is the caller's clock in samples. */
  push(planes: Float32Array[], ageMs: number, now: number): void {
    const length = planes[0]?.length ?? 0;
    if (length === 0) return;
    this.chunks.push({ planes, offset: 0, pushedAt: now, ageMs });
    this.depth += length;
    if (!this.playing && this.starvedAt !== null && now - this.starvedAt <= this.gapSamples) {
      // audio came back soon after an underrun: that was jitter the margin did not cover
      this.margin = Math.min(this.margin + this.stepSamples, Math.max(this.targetSamples, this.maxSamples - this.stepSamples));
      this.starvedAt = null;
    }
    if (!this.playing && this.depth >= this.margin) {
      this.starvedAt = null;
      this.drop(this.depth - this.margin);
      this.playing = true;
      this.windowPulled = 0;
      this.windowMin = Infinity;
    } else if (this.playing && this.depth > this.maxSamples) {
      this.drop(this.depth - this.margin);
    }
  }

  /**
   * Fills `out` (one array per output channel) with the next `frames` samples; silence where there
   * is no audio. `now` is the caller's clock at out[0]. Returns the samples of audio written.
   */
  pull(out: Float32Array[], frames: number, now: number): number {
    let written = 0;
    if (this.playing) {
      while (written < frames) {
        const chunk = this.chunks[0];
        if (!chunk) {
          this.underruns++;
          this.playing = false;
          this.starvedAt = now + written;
          this.calm = 0;
          break;
        }
        const length = chunk.planes[0]?.length ?? 0;
        if (chunk.offset === 0) {
          this.delaySum += chunk.ageMs + ((now + written - chunk.pushedAt) * 1000) / this.sampleRate;
          this.delayCount++;
        }
        const n = Math.min(frames - written, length - chunk.offset);
        for (let ch = 0; ch < out.length; ch++) {
          const src = chunk.planes[Math.min(ch, chunk.planes.length - 1)];
          if (src) out[ch]?.set(src.subarray(chunk.offset, chunk.offset + n), written);
        }
        chunk.offset += n;
        written += n;
        this.depth -= n;
        if (chunk.offset >= length) this.chunks.shift();
      }
      this.samplesPlayed += written;
      this.calm += written;
      if (this.calm >= this.relaxSamples && this.margin > this.targetSamples) {
        this.margin = Math.max(this.targetSamples, this.margin - Math.round(this.stepSamples / 2));
        this.calm = 0;
      }
      this.trackWindow(frames);
    }
    for (const channel of out) channel.fill(0, written, frames);
    return written;
  }

  /** Drops everything and fills to the margin again (a new socket: start from the live edge). */
  reset(): void {
    this.chunks = [];
    this.depth = 0;
    this.playing = false;
    this.starvedAt = null;
    this.resets++;
  }

  /** The current margin, in samples. */
  get marginSamples(): number {
    return this.margin;
  }

  /** Counters and the mean delay since the last call (which starts a new measuring window). */
  takeStats(): JitterStats {
    const stats: JitterStats = {
      state: this.playing ? "playing" : "buffering",
      depthMs: this.ms(this.depth),
      marginMs: this.ms(this.margin),
      delayMs: this.delayCount ? this.delaySum / this.delayCount : null,
      chunksPlayed: this.delayCount,
      samplesPlayed: this.samplesPlayed,
      underruns: this.underruns,
      droppedMs: this.ms(this.dropped),
      resets: this.resets,
    };
    this.delaySum = 0;
    this.delayCount = 0;
    return stats;
  }

  private trackWindow(frames: number): void {
    this.windowMin = Math.min(this.windowMin, this.depth);
    this.windowPulled += frames;
    if (this.windowPulled < this.windowSamples) return;
    if (this.playing && this.windowMin > this.margin) this.drop(this.windowMin - this.margin);
    this.windowPulled = 0;
    this.windowMin = Infinity;
  }

  /** Drops the oldest `samples` of audio. */
  private drop(samples: number): void {
    let left = samples;
    while (left > 0) {
      const chunk = this.chunks[0];
      if (!chunk) break;
      const n = Math.min(left, (chunk.planes[0]?.length ?? 0) - chunk.offset);
      chunk.offset += n;
      left -= n;
      this.depth -= n;
      this.dropped += n;
      if (chunk.offset >= (chunk.planes[0]?.length ?? 0)) this.chunks.shift();
    }
  }

  private ms(samples: number): number {
    return (samples * 1000) / this.sampleRate;
  }
}
