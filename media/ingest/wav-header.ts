/**
 * Reads a WAV (RIFF/WAVE) header from the start of a byte stream, so that the encoder can hand
 * ffmpeg the samples as raw PCM (`-f s16le -ar … -ac …`) instead of the container.
 *
 * Why: ffmpeg's WAV demuxer, reading a pipe, first reads 64 KiB of samples to look for S/PDIF
 * (DTS/AC-3 in WAV) before it outputs anything: 4 s of start-up delay at 8 kHz mono, and every
 * byte it holds is lost if it crashes. Raw PCM starts at once, and any byte offset of the data
 * chunk maps to a sample, so a restart can resume exactly where the output stopped
 * (media/ingest/pcm-replay.ts). Pure: bytes in, a description out.
 *
 * RIFF chunks: "RIFF" size "WAVE", then chunks of id (4 bytes), size (u32 LE), body padded to an
 * even length; "fmt " (WAVEFORMATEX: format tag, channels, sample rate, byte rate, block align,
 * bits per sample; WAVE_FORMAT_EXTENSIBLE carries the real tag in its sub-format GUID) and "data".
 */

/** What a WAV header says, and where its samples start. */
export interface WavInfo {
  /** ffmpeg raw demuxer for the samples (`s16le`, `f32le`, `mulaw`…), or null when ffmpeg must read the WAV container itself (e.g. ADPCM). */
  rawFormat: string | null;
  /** Samples per second per channel, Hz. */
  sampleRate: number;
  channels: number;
  /** Bytes per sample frame (all channels), ≥ 1. */
  blockAlign: number;
  /** Offset just past the "data" chunk header, bytes: where the samples start. */
  dataOffset: number;
  /** Size of the data chunk, bytes; null when the header leaves it open (0 or 0xFFFFFFFF: a live stream). */
  dataBytes: number | null;
}

/** Longest WAV header accepted before the "data" chunk, bytes. */
export const MAX_WAV_HEADER_BYTES = 1 << 20;

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_ALAW = 6;
const WAVE_FORMAT_MULAW = 7;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** ffmpeg raw demuxer for a WAVE format tag and sample size, or null. */
function rawFormatOf(tag: number, bits: number): string | null {
  if (tag === WAVE_FORMAT_PCM) return ({ 8: "u8", 16: "s16le", 24: "s24le", 32: "s32le" } as Record<number, string>)[bits] ?? null;
  if (tag === WAVE_FORMAT_IEEE_FLOAT) return ({ 32: "f32le", 64: "f64le" } as Record<number, string>)[bits] ?? null;
  if (tag === WAVE_FORMAT_ALAW && bits === 8) return "alaw";
  if (tag === WAVE_FORMAT_MULAW && bits === 8) return "mulaw";
  return null;
}

const ascii = (b: Uint8Array, at: number) => String.fromCharCode(b[at] ?? 0, b[at + 1] ?? 0, b[at + 2] ?? 0, b[at + 3] ?? 0);

/**
 * Parses the WAV header at the start of `bytes` (the stream's first bytes, as many as arrived).
 * @returns the header's description once `bytes` reaches past the "data" chunk header; null while more bytes are needed.
 * @throws Error when the bytes are not a WAV header ("RIFF"…"WAVE" missing, no "fmt " before "data", a
 *   zero channel count or sample rate), or no "data" chunk starts within {@link MAX_WAV_HEADER_BYTES}.
 */
export function parseWavHeader(bytes: Uint8Array): WavInfo | null {
  if (bytes.length >= 4 && ascii(bytes, 0) !== "RIFF") throw new Error(`not a WAV stream: starts with ${JSON.stringify(ascii(bytes, 0))}, not "RIFF"`);
  if (bytes.length >= 12 && ascii(bytes, 8) !== "WAVE") throw new Error(`not a WAV stream: RIFF form ${JSON.stringify(ascii(bytes, 8))}, not "WAVE"`);
  if (bytes.length < 12) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: Omit<WavInfo, "dataOffset" | "dataBytes"> | null = null;
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = ascii(bytes, at);
    const size = view.getUint32(at + 4, true);
    if (id === "data") {
      if (!fmt) throw new Error('WAV "data" chunk before its "fmt " chunk');
      const open = size === 0 || size === 0xffff_ffff;
      return { ...fmt, dataOffset: at + 8, dataBytes: open ? null : size };
    }
    if (id === "fmt ") {
      if (size < 16) throw new Error(`WAV "fmt " chunk of ${size} bytes, less than 16`);
      if (at + 8 + size > bytes.length) return null;
      const body = at + 8;
      let tag = view.getUint16(body, true);
      const channels = view.getUint16(body + 2, true);
      const sampleRate = view.getUint32(body + 4, true);
      const blockAlign = view.getUint16(body + 12, true);
      const bits = view.getUint16(body + 14, true);
      // WAVE_FORMAT_EXTENSIBLE: cbSize (2), valid bits (2), channel mask (4), then the sub-format GUID whose first 2 bytes are the tag
      if (tag === WAVE_FORMAT_EXTENSIBLE && size >= 40) tag = view.getUint16(body + 24, true);
      if (channels === 0 || sampleRate === 0) throw new Error(`WAV "fmt " with ${channels} channels at ${sampleRate} Hz`);
      fmt = { rawFormat: rawFormatOf(tag, bits), sampleRate, channels, blockAlign: Math.max(1, blockAlign) };
    }
    at += 8 + size + (size & 1);
    if (at > MAX_WAV_HEADER_BYTES) break;
  }
  if (bytes.length >= MAX_WAV_HEADER_BYTES) throw new Error(`no WAV "data" chunk in the first ${MAX_WAV_HEADER_BYTES} bytes`);
  return null;
}
