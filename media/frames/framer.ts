/**
 * Cutting a byte stream of self-delimiting audio frames (MPEG audio, ADTS AAC) into whole frames,
 * pure: so that a listener of a source's own bytes starts on a frame boundary. Anything between
 * frames (ID3 tags, garbage) is skipped; sync is taken only where the next header follows at the
 * computed length (as ffmpeg's mp3 and adts parsers resync).
 */

/** A frame format: where its frames start and how long they are. */
export interface FrameFormat {
  /** Bytes needed to read a header. */
  headerBytes: number;
  /** Length in bytes of the frame whose header starts at `b[i]` (header included), or 0 when there is no valid header there. */
  length(b: Uint8Array, i: number): number;
  /** Duration of the frame whose header starts at `b[i]`, ms (0 when there is no valid header there). */
  durationMs(b: Uint8Array, i: number): number;
}

/** Most bytes held while looking for sync or waiting for the rest of a frame. */
const MAX_CARRY = 16 * 1024;

/** Cuts a byte stream into whole frames of `format`. */
export class Framer {
  private carry: Uint8Array = new Uint8Array(0);
  private locked = false;

  constructor(readonly format: FrameFormat) {}

  /** Takes the next bytes; returns the whole frames now complete, concatenated (possibly empty). */
  push(chunk: Uint8Array): Uint8Array {
    const { length, headerBytes } = this.format;
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let i = 0;
    let start = -1;
    let end = 0;
    while (i + headerBytes <= buf.length) {
      const len = length(buf, i);
      if (len === 0) {
        // not a frame: skip a byte and look for sync again (what was emitted so far stays)
        if (start >= 0) break;
        this.locked = false;
        i++;
        continue;
      }
      if (i + len > buf.length) break; // the rest of this frame is still to come
      if (!this.locked) {
        // sync only where the next header follows (or, at the end of the buffer, wait for it)
        if (i + len + headerBytes > buf.length) break;
        if (length(buf, i + len) === 0) {
          i++;
          continue;
        }
        this.locked = true;
      }
      if (start < 0) start = i;
      i += len;
      end = i;
    }
    const out = start >= 0 ? buf.slice(start, end) : new Uint8Array(0);
    const restFrom = start >= 0 ? end : i;
    this.carry = buf.slice(Math.max(restFrom, buf.length - MAX_CARRY));
    return out;
  }
}

/** Audio in a run of whole frames of `format`, ms. */
export function framesMs(format: FrameFormat, b: Uint8Array): number {
  let ms = 0;
  for (let i = 0; i + format.headerBytes <= b.length; ) {
    const len = format.length(b, i);
    if (len === 0) break;
    ms += format.durationMs(b, i);
    i += len;
  }
  return ms;
}
