/**
 * MPEG transport stream packets (ISO/IEC 13818-1 §2.4.3: 188 bytes, sync byte 0x47), pure: the
 * unit that SRT carries (7 packets per 1316-byte message) and where a reader or a restarted
 * demuxer may start. A demuxer starting at any packet finds the stream again at the next PAT and
 * PMT, which encoders repeat (ffmpeg every 0.1 s by default, OBS likewise).
 */
import type { FrameFormat } from "../frames/framer";

/** Bytes of one transport stream packet. */
export const TS_PACKET_BYTES = 188;
/** The first byte of every packet. */
export const TS_SYNC_BYTE = 0x47;

/**
 * Transport stream packets as a {@link FrameFormat} for media/frames/framer.ts: sync is taken
 * where the next packet's sync byte follows 188 bytes on. Their duration is not in the packet
 * (0 ms): batching by time falls back to the caller's timer.
 */
export const TS_PACKETS: FrameFormat = {
  headerBytes: 1,
  length: (b, i) => (b[i] === TS_SYNC_BYTE ? TS_PACKET_BYTES : 0),
  durationMs: () => 0,
};

/**
 * The first offset in `b` from `from` where three packets in a row start (sync bytes 188 bytes
 * apart), or -1. Three, because 0x47 is also a common payload byte.
 */
export function tsSyncOffset(b: Uint8Array, from = 0): number {
  for (let i = from; i + 2 * TS_PACKET_BYTES < b.length; i++) {
    if (b[i] === TS_SYNC_BYTE && b[i + TS_PACKET_BYTES] === TS_SYNC_BYTE && b[i + 2 * TS_PACKET_BYTES] === TS_SYNC_BYTE) return i;
  }
  return -1;
}
