/**
 * An incremental MPEG audio (Layer III) frame scanner for the bench's source and listeners: it
 * finds frames in a byte stream cut anywhere (an Icecast listener starts wherever its burst
 * starts), and names each frame by a 32-bit key of its first bytes after the header, so a frame
 * is recognised at a listener whatever server passed it on. No allocation per frame: the key
 * bytes are gathered in a 40-byte scratch buffer. Header layout: ISO/IEC 11172-3 §2.4.1.3 and
 * 13818-3 (MPEG-2/2.5 half-rate frames).
 */

/** Bytes from the frame's start used for its key: the 4-byte header, then 36 bytes of side info and data. */
const KEY_BYTES = 40;

const BITRATES_V1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const BITRATES_V2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const RATES: Record<number, number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

/** Length in bytes of the Layer III frame whose header starts at b[i], or 0 when it is not a valid header. */
export function frameLength(b0: number, b1: number, b2: number): number {
  if (b0 !== 0xff || (b1 & 0xe0) !== 0xe0) return 0;
  const version = (b1 >> 3) & 3;
  if (version === 1 || ((b1 >> 1) & 3) !== 1) return 0; // reserved version, not Layer III
  const brIndex = b2 >> 4;
  const srIndex = (b2 >> 2) & 3;
  if (brIndex === 0 || brIndex === 15 || srIndex === 3) return 0;
  const kbps = (version === 3 ? BITRATES_V1 : BITRATES_V2)[brIndex] as number;
  const rate = (RATES[version] as number[])[srIndex] as number;
  return Math.floor(((version === 3 ? 144_000 : 72_000) * kbps) / rate) + ((b2 >> 1) & 1);
}

/** FNV-1a over the key bytes after the header. */
function keyOf(s: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 4; i < KEY_BYTES; i++) h = Math.imul(h ^ (s[i] as number), 0x01000193);
  return h >>> 0;
}

/**
 * Feeds bytes in; calls `onFrame(key, bytes)` when a frame's last byte has been fed. Frames are
 * trusted after one valid header; a position that is not a header drops back to searching for the
 * next 0xFF (a false sync inside audio data yields at most one frame whose key matches nothing).
 */
export class Mp3Scanner {
  /** Frames completed. */
  frames = 0;
  /** Bytes skipped while searching for a frame header. */
  skipped = 0;
  private readonly scratch = new Uint8Array(KEY_BYTES);
  private have = 0;
  private length = 0;
  private remaining = 0;

  constructor(private readonly onFrame: (key: number, length: number) => void) {}

  push(buf: Uint8Array, start = 0, end = buf.length): void {
    let i = start;
    while (i < end) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, end - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.done();
        continue;
      }
      if (this.have === 0) {
        const at = buf.indexOf(0xff, i);
        if (at < 0 || at >= end) {
          this.skipped += end - i;
          return;
        }
        this.skipped += at - i;
        i = at;
      }
      const take = Math.min(KEY_BYTES - this.have, end - i);
      this.scratch.set(buf.subarray(i, i + take), this.have);
      const before = this.have;
      this.have += take;
      i += take;
      if (before < 4 && this.have >= 4) {
        this.length = frameLength(this.scratch[0] as number, this.scratch[1] as number, this.scratch[2] as number);
        if (this.length < KEY_BYTES) {
          // not a header: search again from the byte after this 0xFF
          this.skipped += 1;
          i = Math.max(start, i - this.have + 1);
          this.have = 0;
          continue;
        }
      }
      if (this.have === KEY_BYTES) {
        this.remaining = this.length - KEY_BYTES;
        if (this.remaining === 0) this.done();
      }
    }
  }

  private done(): void {
    const key = keyOf(this.scratch);
    const length = this.length;
    this.have = 0;
    this.frames++;
    this.onFrame(key, length);
  }
}
