/**
 * Constants of the veza-stream binary wire format, version 1. Byte-level layout: docs/protocol.md.
 * All multi-byte integers are big-endian (network order).
 */

/** Protocol version carried in byte 0 of every binary message. */
export const PROTOCOL_VERSION = 1;

/** Message type carried in byte 1 of every binary message. */
export const MessageType = {
  /** One Opus packet with its sequence number and media time. */
  AUDIO_DATA: 0x01,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Bit flags of an audio.data message (byte 3). */
export const AudioFlag = {
  /** The audio does not follow on from the previous frame (new broadcaster, encoder restart, new owner); media time stays monotonic. */
  DISCONTINUITY: 0x01,
} as const;

/** Media clock rate: media time and durations are counted in samples at 48 kHz (RFC 7587 §4.1). */
export const MEDIA_CLOCK_HZ = 48_000;

/** Size of the audio.data header in bytes. */
export const AUDIO_HEADER_BYTES = 16;

/**
 * Largest Opus packet accepted, in bytes: 120 ms of 20 ms frames at the 1275-byte frame maximum
 * (RFC 6716 §3.2.1 and §3.2.5), so any legal packet fits.
 */
export const MAX_OPUS_PACKET_BYTES = 6 * 1275;

/** Largest audio.data message accepted, in bytes. */
export const MAX_AUDIO_MESSAGE_BYTES = AUDIO_HEADER_BYTES + MAX_OPUS_PACKET_BYTES;

/** Largest media time representable: 48 bits of samples at 48 kHz (about 186 years). */
export const MAX_MEDIA_TIME = 2 ** 48 - 1;

/** Default frame duration produced by the encoder, in samples at 48 kHz (20 ms). */
export const DEFAULT_FRAME_SAMPLES = 960;
