/**
 * Decoded PCM placed by media time (samples at 48 kHz), read back at fractional positions with
 * cubic Hermite (Catmull–Rom) interpolation: the resampler of synchronised playout.
 *
 * Why cubic Hermite: the read position is addressed absolutely (`start + i·ratio`), so the kernel
 * must have no group delay of its own, or every listener would have to subtract it; Catmull–Rom is
 * symmetric (zero phase) and needs only the 4 samples around the position, so a hard resync or a
 * gap costs nothing. Its worst case, at a fractional offset of ½, is −0.5 dB at 10 kHz and −3.3 dB
 * at 16 kHz; linear interpolation is −2 dB and −6 dB there, and as the offset wanders (with the
 * rate a few hundred ppm off 1 it goes round once every few thousand samples) that treble loss
 * would come and go audibly. A windowed-sinc resampler (libsamplerate) is flatter but is a streaming filter with
 * its own delay and state, which a position jump has to flush. Keys, Catmull & Rom, "A class of
 * local interpolating splines", 1974; the Hermite form is Niemitalo's ("Polynomial Interpolators
 * for High-Quality Resampling of Oversampled Audio", 2001, §6.2).
 *
 * Pure: runs in the player's AudioWorklet and in Node tests.
 */

interface Piece {
  /** Media time of the first sample. */
  start: number;
  /** Planar samples, one array per channel, all the same length. */
  planes: Float32Array[];
}

export interface ReadResult {
  /** Output samples (per channel) for which no PCM was held: written as silence. */
  missing: number;
}

export class PcmTimeline {
  /** Pieces in order of media time, not overlapping. */
  private pieces: Piece[] = [];
  private held = 0;
  /** Reused by {@link read}: the samples around the read positions, and whether each is held. */
  private scratch: Float32Array[] = [];
  private scratchHeld = new Uint8Array(0);

  /** @param maxSamples samples held at most; beyond it the oldest pieces go. Default 5 s at 48 kHz. */
  constructor(private readonly maxSamples = 240_000) {}

  /** Samples held, per channel. */
  get heldSamples(): number {
    return this.held;
  }

  /** Media time just after the newest sample held, or null when empty. */
  get end(): number | null {
    const last = this.pieces[this.pieces.length - 1];
    return last ? last.start + (last.planes[0]?.length ?? 0) : null;
  }

  /** Places `planes` (planar, equal lengths) at media time `start`; a piece already at `start` is replaced. */
  put(start: number, planes: Float32Array[]): void {
    const length = planes[0]?.length ?? 0;
    if (length === 0) return;
    let i = this.pieces.length;
    while (i > 0 && (this.pieces[i - 1]?.start ?? 0) >= start) i--;
    const same = this.pieces[i];
    if (same && same.start === start) {
      this.held -= same.planes[0]?.length ?? 0;
      this.pieces.splice(i, 1);
    }
    this.pieces.splice(i, 0, { start, planes });
    this.held += length;
    while (this.held > this.maxSamples && this.pieces.length > 1) this.dropFirst();
  }

  /** Drops pieces that end at or before media time `m`. */
  dropBefore(m: number): void {
    while (this.pieces.length > 0) {
      const p = this.pieces[0]!;
      if (p.start + (p.planes[0]?.length ?? 0) > m) break;
      this.dropFirst();
    }
  }

  clear(): void {
    this.pieces = [];
    this.held = 0;
  }

  /** Samples held from media time `m` onwards without a gap (the playout's lead), samples. */
  contiguousFrom(m: number): number {
    let at = m;
    for (const p of this.pieces) {
      const end = p.start + (p.planes[0]?.length ?? 0);
      if (end <= at) continue;
      if (p.start > at) break;
      at = end;
    }
    return Math.max(0, at - m);
  }

  /**
   * Writes `frames` samples per output channel, read at media positions `start + i·ratio`
   * (i = 0 … frames−1), into `out` from `offset`. A position whose 4 neighbours are not all held
   * counts as missing; missing neighbours read as 0 (so a gap fades in and out over 2 samples).
   */
  read(out: Float32Array[], start: number, ratio: number, frames: number, offset = 0): ReadResult {
    const first = Math.floor(start) - 1;
    const span = Math.ceil(start + ratio * (frames - 1)) + 3 - first;
    const channels = out.length;
    const window = this.window(first, span, channels);
    let missing = 0;
    for (let i = 0; i < frames; i++) {
      const pos = start + i * ratio;
      const base = Math.floor(pos);
      const k = base - 1 - first;
      if (!window.held[k] || !window.held[k + 1] || !window.held[k + 2] || !window.held[k + 3]) missing++;
      const t = pos - base;
      for (let ch = 0; ch < channels; ch++) {
        const w = window.planes[ch]!;
        const o = out[ch];
        if (o) o[offset + i] = hermite(w[k] ?? 0, w[k + 1] ?? 0, w[k + 2] ?? 0, w[k + 3] ?? 0, t);
      }
    }
    return { missing };
  }

  /** Copies samples [first, first + span) into scratch planes, with a held flag per sample. */
  private window(first: number, span: number, channels: number): { planes: Float32Array[]; held: Uint8Array } {
    if (this.scratchHeld.length < span || this.scratch.length < channels) {
      const size = Math.max(span, this.scratchHeld.length);
      this.scratch = Array.from({ length: Math.max(channels, this.scratch.length) }, () => new Float32Array(size));
      this.scratchHeld = new Uint8Array(size);
    }
    const held = this.scratchHeld;
    held.fill(0, 0, span);
    for (let ch = 0; ch < channels; ch++) this.scratch[ch]!.fill(0, 0, span);
    const last = first + span;
    for (const p of this.pieces) {
      const length = p.planes[0]?.length ?? 0;
      const from = Math.max(first, p.start);
      const to = Math.min(last, p.start + length);
      if (to <= from) {
        if (p.start >= last) break;
        continue;
      }
      held.fill(1, from - first, to - first);
      for (let ch = 0; ch < channels; ch++) {
        const src = p.planes[Math.min(ch, p.planes.length - 1)]!;
        this.scratch[ch]!.set(src.subarray(from - p.start, to - p.start), from - first);
      }
    }
    return { planes: this.scratch, held };
  }

  private dropFirst(): void {
    const p = this.pieces.shift();
    if (p) this.held -= p.planes[0]?.length ?? 0;
  }
}

/** Catmull–Rom cubic through y0…y3 (at −1, 0, 1, 2), evaluated at t ∈ [0, 1) (Niemitalo 2001, 4-point 3rd-order Hermite). */
export function hermite(y0: number, y1: number, y2: number, y3: number, t: number): number {
  const c1 = 0.5 * (y2 - y0);
  const c2 = y0 - 2.5 * y1 + 2 * y2 - 0.5 * y3;
  const c3 = 0.5 * (y3 - y0) + 1.5 * (y1 - y2);
  return ((c3 * t + c2) * t + c1) * t + y1;
}
