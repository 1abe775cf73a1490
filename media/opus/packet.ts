/**
 * Reads the duration and channel count of an Opus packet from its TOC byte, without decoding.
 * Source: RFC 6716 §3.1 (TOC byte, Table 2 configurations) and §3.2 (frame count codes 0-3).
 */
import { WireError } from "../wire/errors";

/** Frame size in samples at 48 kHz for each of the 32 TOC configurations (RFC 6716 Table 2). */
const CONFIG_FRAME_SAMPLES: readonly number[] = [
  // SILK-only NB, MB, WB: 10, 20, 40, 60 ms
  480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880,
  // Hybrid SWB, FB: 10, 20 ms
  480, 960, 480, 960,
  // CELT-only NB, WB, SWB, FB: 2.5, 5, 10, 20 ms
  120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960,
];

/** What the TOC byte says of a packet. */
export interface OpusPacketInfo {
  /** Samples at 48 kHz the packet decodes to (frames × frame size), at most 5760 (120 ms). */
  duration: number;
  /** Number of Opus frames in the packet (1..48). */
  frameCount: number;
  /** 2 when the packet is coded stereo, else 1. */
  channels: 1 | 2;
}

/**
 * Parses the TOC byte (and frame-count byte for code 3) of an Opus packet.
 * @throws WireError BAD_FIELD for an empty packet, a code-3 packet without its count byte, or a
 *   duration over 120 ms (RFC 6716 §3.2.5, R5).
 */
export function opusPacketInfo(packet: Uint8Array): OpusPacketInfo {
  const toc = packet[0];
  if (toc === undefined) throw WireError.badField("opus packet", "empty");
  const frameSamples = CONFIG_FRAME_SAMPLES[toc >> 3] ?? 960;
  const channels = toc & 0x04 ? 2 : 1;
  const code = toc & 0x03;
  let frameCount: number;
  if (code === 0) frameCount = 1;
  else if (code === 1 || code === 2) frameCount = 2;
  else {
    const countByte = packet[1];
    if (countByte === undefined) throw WireError.badField("opus packet", "code 3 packet without frame count byte");
    frameCount = countByte & 0x3f;
    if (frameCount === 0) throw WireError.badField("opus packet", "code 3 packet with zero frames");
  }
  const duration = frameCount * frameSamples;
  if (duration > 5760) throw WireError.badField("opus packet", `${duration} samples exceeds 120 ms`);
  return { duration, frameCount, channels };
}

/** Samples at 48 kHz of {@link opusSilence}: 20 ms. */
export const OPUS_SILENCE_SAMPLES = 960;

/**
 * A 20 ms Opus packet of silence: TOC config 31 (CELT, fullband, 20 ms), one frame (RFC 6716
 * §3.1), and the two bytes of a frame whose silence flag is set (as libopus's DTX and Discord send
 * it). 0xF8: mono; 0xFC: the stereo bit set. Used to fill the gaps of recordings.
 */
export function opusSilence(channels: 1 | 2): Uint8Array {
  return Uint8Array.of(channels === 2 ? 0xfc : 0xf8, 0xff, 0xfe);
}
