/**
 * audio.data: one Opus packet on the wire. Pure encode/decode over Uint8Array and DataView.
 *
 * Layout (16-byte header, big-endian; table in docs/protocol.md):
 * | offset | size | field |
 * | 0 | 1 | version (1) |
 * | 1 | 1 | type (0x01) |
 * | 2 | 1 | rendition id |
 * | 3 | 1 | flags (bit 0: discontinuity) |
 * | 4 | 4 | sequence number, u32, wraps |
 * | 8 | 6 | media time, u48, samples at 48 kHz since stream start |
 * | 14 | 2 | duration, u16, samples at 48 kHz |
 * | 16 | n | one Opus packet (RFC 6716), 1..7650 bytes |
 */
import {
  AUDIO_HEADER_BYTES,
  MAX_AUDIO_MESSAGE_BYTES,
  MAX_MEDIA_TIME,
  MessageType,
  PROTOCOL_VERSION,
} from "./constants";
import { WireError } from "./errors";

/** One decoded audio.data message. `packet` is a view into the input, not a copy. */
export interface AudioFrame {
  /** Rendition id within the stream's ladder (0 is the source rendition). */
  rendition: number;
  /** Flag bits, see {@link AudioFlag}. */
  flags: number;
  /** Sequence number, u32, +1 per frame of this rendition, wrapping at 2^32. */
  seq: number;
  /** Media time of the first sample, in samples at 48 kHz since stream start (u48). */
  mediaTime: number;
  /** Duration of the packet, in samples at 48 kHz (960 for 20 ms). */
  duration: number;
  /** The Opus packet. */
  packet: Uint8Array;
}

/**
 * Encodes an audio.data message into a new buffer of 16 + packet.length bytes.
 * @throws WireError BAD_FIELD when a field is out of range, TOO_LONG/TOO_SHORT for the packet size.
 */
export function encodeAudioData(frame: AudioFrame): Uint8Array {
  const out = new Uint8Array(AUDIO_HEADER_BYTES + frame.packet.length);
  writeAudioHeader(out, frame);
  out.set(frame.packet, AUDIO_HEADER_BYTES);
  return out;
}

/**
 * Writes the 16-byte header of `frame` into the start of `out` (which already holds the packet at
 * offset 16, or will). Used to re-stamp sequence number and media time without copying the packet.
 * @throws WireError as {@link encodeAudioData}.
 */
export function writeAudioHeader(out: Uint8Array, frame: Omit<AudioFrame, "packet"> & { packet: { length: number } }): void {
  const total = AUDIO_HEADER_BYTES + frame.packet.length;
  if (frame.packet.length < 1) throw WireError.tooShort(total, AUDIO_HEADER_BYTES + 1);
  if (total > MAX_AUDIO_MESSAGE_BYTES) throw WireError.tooLong(total, MAX_AUDIO_MESSAGE_BYTES);
  checkUint("rendition", frame.rendition, 0xff);
  checkUint("flags", frame.flags, 0xff);
  checkUint("seq", frame.seq, 0xffff_ffff);
  checkUint("mediaTime", frame.mediaTime, MAX_MEDIA_TIME);
  checkUint("duration", frame.duration, 0xffff);
  const view = new DataView(out.buffer, out.byteOffset, AUDIO_HEADER_BYTES);
  view.setUint8(0, PROTOCOL_VERSION);
  view.setUint8(1, MessageType.AUDIO_DATA);
  view.setUint8(2, frame.rendition);
  view.setUint8(3, frame.flags);
  view.setUint32(4, frame.seq);
  view.setUint16(8, Math.floor(frame.mediaTime / 2 ** 32));
  view.setUint32(10, frame.mediaTime % 2 ** 32);
  view.setUint16(14, frame.duration);
}

/**
 * Decodes an audio.data message. The returned packet is a view into `bytes`.
 * @throws WireError TOO_SHORT (under 17 bytes), TOO_LONG (over 7666 bytes), UNKNOWN_VERSION,
 *   UNKNOWN_TYPE (not audio.data), BAD_FIELD (zero duration).
 */
export function decodeAudioData(bytes: Uint8Array): AudioFrame {
  if (bytes.length < AUDIO_HEADER_BYTES + 1) throw WireError.tooShort(bytes.length, AUDIO_HEADER_BYTES + 1);
  if (bytes.length > MAX_AUDIO_MESSAGE_BYTES) throw WireError.tooLong(bytes.length, MAX_AUDIO_MESSAGE_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(0);
  if (version !== PROTOCOL_VERSION) throw WireError.unknownVersion(version);
  const type = view.getUint8(1);
  if (type !== MessageType.AUDIO_DATA) throw WireError.unknownType(type);
  const duration = view.getUint16(14);
  if (duration === 0) throw WireError.badField("duration", "must be at least 1 sample");
  return {
    rendition: view.getUint8(2),
    flags: view.getUint8(3),
    seq: view.getUint32(4),
    mediaTime: view.getUint16(8) * 2 ** 32 + view.getUint32(10),
    duration,
    packet: bytes.subarray(AUDIO_HEADER_BYTES),
  };
}

function checkUint(field: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw WireError.badField(field, `${value} is not an integer in 0..${max}`);
  }
}
