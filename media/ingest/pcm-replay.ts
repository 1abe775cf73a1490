/**
 * Exact restarts for raw PCM input (`pcm_s16le`, and WAV once its header is read): the bytes that
 * went into ffmpeg are held until the Opus frames made from them are out, so after an ffmpeg crash
 * the next ffmpeg is fed again from the first sample frame whose audio was not published yet.
 * Nothing the broadcaster sent is lost, and at most a fraction of one sample is duplicated.
 *
 * Mapping output to input: ffmpeg's libopus writes `preSkip` samples (48 kHz, its OpusHead's
 * pre-skip, RFC 7845 §4.2: 312 for libopus) of encoder delay ahead of the audio, so after
 * publishing `s` samples (48 kHz) of a run fed from input byte `b0`, the input is covered up to
 * sample frame `floor((s - preSkip) · rate / 48000)` of the run, i.e. byte
 * `b0 + that · blockAlign`. The resampler's own delay (well under 1 ms) is left in the replay, not
 * skipped: it can only duplicate, never lose. Pure: no I/O.
 */

/** Samples per second of every Opus stream, Hz (RFC 7587). */
const OPUS_RATE = 48_000;

/**
 * Input byte (from the start of the PCM data) up to which a run's input is covered by its output.
 * @param runStart byte offset the run was fed from
 * @param published samples (48 kHz) of Opus published from the run
 * @param preSkip the run's encoder delay, samples (48 kHz)
 * @param sampleRate input sample frames per second, Hz
 * @param blockAlign bytes per input sample frame
 * @returns a byte offset ≥ runStart on a sample-frame boundary
 */
export function coveredOffset(runStart: number, published: number, preSkip: number, sampleRate: number, blockAlign: number): number {
  const frames = Math.floor((Math.max(0, published - preSkip) * sampleRate) / OPUS_RATE);
  return runStart + frames * blockAlign;
}

/** The PCM bytes not yet covered by published output, with their offsets from the start of the data. */
export class PcmReplay {
  private held: Uint8Array[] = [];
  /** Offset of the first held byte. */
  private heldFrom = 0;
  private heldBytes = 0;
  /** Bytes received so far: the offset of the next byte. */
  received = 0;
  /** Bytes released unreplayable because more than the capacity was held. */
  overflowBytes = 0;
  /** Bytes before this offset are not for the running ffmpeg (a restart resumed past them). */
  private writeFrom = 0;

  /**
   * @param blockAlign bytes per sample frame (all channels), ≥ 1
   * @param capacityBytes most bytes held; past it the oldest are let go (and can no longer be replayed)
   */
  constructor(
    readonly blockAlign: number,
    private readonly capacityBytes: number,
  ) {
    if (!(blockAlign >= 1)) throw new Error(`blockAlign must be at least 1, not ${blockAlign}`);
  }

  /** Bytes held for a replay. */
  get heldLength(): number {
    return this.heldBytes;
  }

  /**
   * Holds received bytes.
   * @returns the part of them to write to the running ffmpeg: all of them, except while a restart
   *   resumes on the sample-frame boundary past them
   */
  append(bytes: Uint8Array): Uint8Array {
    const at = this.received;
    const skip = Math.max(0, Math.min(bytes.length, this.writeFrom - at));
    const fresh = bytes.subarray(skip);
    if (this.held.length === 0) this.heldFrom = at + skip;
    this.received += bytes.length;
    if (fresh.length === 0) return fresh;
    this.held.push(fresh);
    this.heldBytes += fresh.length;
    if (this.heldBytes > this.capacityBytes) {
      const over = this.heldBytes - this.capacityBytes;
      this.overflowBytes += over;
      this.release(this.heldFrom + over);
    }
    return fresh;
  }

  /** Lets go of the bytes before `offset` (they are covered by published output). */
  release(offset: number): void {
    let drop = Math.min(offset, this.received) - this.heldFrom;
    while (drop > 0 && this.held.length > 0) {
      const first = this.held[0]!;
      if (first.length <= drop) {
        this.held.shift();
        drop -= first.length;
        this.heldFrom += first.length;
        this.heldBytes -= first.length;
      } else {
        this.held[0] = first.subarray(drop);
        this.heldFrom += drop;
        this.heldBytes -= drop;
        drop = 0;
      }
    }
  }

  /**
   * The held bytes from `offset` on, to feed a new ffmpeg; `offset` is moved up to the oldest held
   * byte when older ones were let go, and onto the next sample-frame boundary.
   * @returns the offset the bytes start at (a sample-frame boundary) and the bytes
   */
  from(offset: number): { offset: number; pieces: Uint8Array[] } {
    let start = Math.max(offset, this.heldFrom);
    start += (this.blockAlign - (start % this.blockAlign)) % this.blockAlign;
    this.writeFrom = start;
    if (start >= this.received) {
      this.held = [];
      this.heldBytes = 0;
      this.heldFrom = this.received;
      return { offset: start, pieces: [] };
    }
    this.release(start);
    return { offset: start, pieces: [...this.held] };
  }
}
