/**
 * ffmpeg's command line for one stream's encoder: how to read the broadcaster's bytes (input
 * options) and how to write 20 ms Opus frames in Ogg (output options).
 *
 * Start-up: ffmpeg reads up to `-probesize` bytes of input before it outputs anything (stream
 * analysis). With `-fflags +nobuffer` it also threw those bytes away instead of decoding them: the
 * first 32 KiB of every run were lost (0.37 s of 44.1 kHz mono s16, 2 s of 8 kHz mono, a whole
 * short MP3). So: no `nobuffer`, and the smallest probe (32 bytes), since the demuxer is always
 * named (`-f`) and raw PCM is fully described by its options: ffmpeg starts after its first read,
 * and every byte it read is decoded.
 */
import type { IngestFormat } from "../../media/wire/control";

/** How ffmpeg is to read the input. */
export type EncoderInput =
  /** Raw samples: ffmpeg's raw demuxer (`s16le`, `f32le`, `mulaw`…), rate in Hz, channels. */
  | { kind: "raw"; demuxer: string; sampleRate: number; channels: number }
  /** A container ffmpeg demuxes itself. */
  | { kind: "container"; demuxer: string };

/** ffmpeg's demuxer for a container ingest format. */
export function containerDemuxer(format: Exclude<IngestFormat, "opus" | "pcm_s16le">): string {
  return format === "webm" ? "matroska" : format;
}

/**
 * Input options: the demuxer named, the stream analysis ended after ffmpeg's first read (probesize
 * 32 bytes; `-analyzeduration 0` leaves the duration limit at ffmpeg's default, the byte limit
 * comes first), and what the analysis read is decoded, not dropped (no `-fflags +nobuffer`).
 */
export function inputOptions(input: EncoderInput): string[] {
  const common = ["-probesize", "32", "-analyzeduration", "0"];
  if (input.kind === "raw") return [...common, "-f", input.demuxer, "-ar", String(input.sampleRate), "-ac", String(input.channels)];
  return [...common, "-f", input.demuxer];
}

/**
 * Opus encoding as RFC 7587 expects it: 48 kHz, 20 ms frames; one Ogg page per packet for low delay.
 * @param bitrate Opus bit rate, bit/s
 */
export function outputOptions(bitrate: number): string[] {
  return [
    "-vn", "-map", "0:a:0",
    "-c:a", "libopus", "-b:a", String(bitrate), "-frame_duration", "20", "-application", "audio",
    "-ar", "48000", "-ac", "2",
    "-f", "ogg", "-page_duration", "20000", "-flush_packets", "1",
  ];
}
