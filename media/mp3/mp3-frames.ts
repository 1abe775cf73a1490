/**
 * MPEG audio frames (MP3 and its Layer I/II siblings) in a byte stream, pure: frame headers
 * (ISO/IEC 11172-3 §2.4.2.3, ISO/IEC 13818-3 for MPEG-2 and the MPEG-2.5 extension), and a
 * {@link Framer} that cuts the stream into whole frames (media/frames/framer.ts).
 */
import { Framer, type FrameFormat } from "../frames/framer";

/** Bit rates, kbit/s, by [MPEG-1 ? 0 : 1][layer 1..3 → 0..2][index]. */
const BITRATES: readonly (readonly (readonly number[])[])[] = [
  [
    [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  ],
  [
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  ],
];
const SAMPLE_RATES = [44_100, 48_000, 32_000];

/** Length in bytes of the frame whose header starts at `b[i]`, or 0 when there is no valid header there (free format counts as invalid). */
export function mpegFrameLength(b: Uint8Array, i: number): number {
  if (i + 4 > b.length) return 0;
  const b1 = b[i + 1]!;
  const b2 = b[i + 2]!;
  if (b[i] !== 0xff || (b1 & 0xe0) !== 0xe0) return 0;
  const version = (b1 >> 3) & 3; // 0 MPEG-2.5, 1 reserved, 2 MPEG-2, 3 MPEG-1
  const layerBits = (b1 >> 1) & 3; // 1 Layer III, 2 Layer II, 3 Layer I
  const rateIndex = b2 >> 4;
  const srIndex = (b2 >> 2) & 3;
  if (version === 1 || layerBits === 0 || rateIndex === 0 || rateIndex === 15 || srIndex === 3) return 0;
  const layer = 4 - layerBits;
  const mpeg1 = version === 3;
  const kbps = BITRATES[mpeg1 ? 0 : 1]![layer - 1]![rateIndex]!;
  const sampleRate = SAMPLE_RATES[srIndex]! / (mpeg1 ? 1 : version === 2 ? 2 : 4);
  const padding = (b2 >> 1) & 1;
  if (layer === 1) return (Math.floor((12 * kbps * 1000) / sampleRate) + padding) * 4;
  const coefficient = layer === 3 && !mpeg1 ? 72 : 144;
  return Math.floor((coefficient * kbps * 1000) / sampleRate) + padding;
}

/** Duration of the MPEG audio frame whose header is at b[i], ms (0 when there is none): 384 samples (Layer I), 1152 (Layer II, MPEG-1 Layer III) or 576 (MPEG-2/2.5 Layer III). */
export function mpegFrameMs(b: Uint8Array, i: number): number {
  if (mpegFrameLength(b, i) === 0) return 0;
  const b1 = b[i + 1]!;
  const version = (b1 >> 3) & 3; // 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5
  const layer = 4 - ((b1 >> 1) & 3);
  const rate = SAMPLE_RATES[(b[i + 2]! >> 2) & 3]! / (version === 3 ? 1 : version === 2 ? 2 : 4);
  const samples = layer === 1 ? 384 : layer === 3 && version !== 3 ? 576 : 1152;
  return (samples * 1000) / rate;
}

/** MPEG audio frames for {@link Framer}. */
export const MPEG_AUDIO: FrameFormat = { headerBytes: 4, length: mpegFrameLength, durationMs: mpegFrameMs };

/** Cuts a byte stream into whole MPEG audio frames. */
export class MpegFramer extends Framer {
  constructor() {
    super(MPEG_AUDIO);
  }
}
