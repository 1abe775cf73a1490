/**
 * ADTS AAC frames in a byte stream, pure: frame headers (ISO/IEC 13818-7 §6.2, ISO/IEC 14496-3
 * §1.A.2.2: a 12-bit sync word, layer 00, a 13-bit frame length that counts the 7-byte header, or 9
 * with a CRC), and a {@link Framer} that cuts the stream into whole frames (media/frames/framer.ts),
 * so that an `/live/<id>.aac` listener starts on a frame boundary.
 */
import { Framer, type FrameFormat } from "../frames/framer";

/** Sampling frequencies by index (ISO/IEC 14496-3 §1.6.3.4); 13-15 are reserved. */
const SAMPLE_RATES = [96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000, 7_350];

/** Length in bytes of the ADTS frame whose header starts at `b[i]` (header included), or 0 when there is no valid header there. */
export function adtsFrameLength(b: Uint8Array, i: number): number {
  if (i + 7 > b.length) return 0;
  if (b[i] !== 0xff || (b[i + 1]! & 0xf6) !== 0xf0) return 0; // sync word, layer 00
  if (((b[i + 2]! >> 2) & 0x0f) >= SAMPLE_RATES.length) return 0;
  const length = ((b[i + 3]! & 0x03) << 11) | (b[i + 4]! << 3) | (b[i + 5]! >> 5);
  const headerLength = b[i + 1]! & 1 ? 7 : 9; // protection_absent
  return length > headerLength ? length : 0;
}

/** Duration of the ADTS frame whose header starts at `b[i]`, ms: 1024 samples per raw data block. */
export function adtsFrameMs(b: Uint8Array, i: number): number {
  if (adtsFrameLength(b, i) === 0) return 0;
  const rate = SAMPLE_RATES[(b[i + 2]! >> 2) & 0x0f]!;
  const blocks = (b[i + 6]! & 0x03) + 1;
  return (blocks * 1024 * 1000) / rate;
}

/** ADTS frames for {@link Framer}. */
export const ADTS: FrameFormat = { headerBytes: 7, length: adtsFrameLength, durationMs: adtsFrameMs };

/** Cuts a byte stream into whole ADTS frames. */
export class AdtsFramer extends Framer {
  constructor() {
    super(ADTS);
  }
}
