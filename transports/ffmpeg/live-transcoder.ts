/**
 * A live stream's Ogg/Opus transcoded to MP3 or ADTS AAC by one ffmpeg, for HTTP listeners of a
 * format the source does not send (`/live/<id>.mp3` of an Ogg or WebM source, …), or remuxed into
 * MPEG-TS for SRT readers of a source that sends something else: once per stream
 * and format on a gateway, never per listener. Ogg pages in ({@link write}), the encoder's bytes
 * out ({@link onOutput}), cut into whole frames by the caller.
 *
 * ffmpeg reads with no probing delay (`-probesize 32 -analyzeduration 0 -fflags nobuffer`: the
 * OpusHead page says all there is to know) and writes each frame as it is made
 * (`-flush_packets 1`). A crashed ffmpeg is restarted by {@link FfmpegProcess} and given the
 * header pages again before the next page; the frames it held are lost (tens of ms).
 */
import type { Logger } from "pino";
import { FfmpegProcess, type FfmpegGeneration } from "./ffmpeg-process";

/** Output formats: ffmpeg's encoder and muxer for each. */
const OUTPUTS = {
  mp3: ["-c:a", "libmp3lame", "-f", "mp3"],
  aac: ["-c:a", "aac", "-f", "adts"],
  // the Opus packets themselves in MPEG-TS (SRT readers): no re-encoding, no mux delay
  mpegts: ["-c:a", "copy", "-f", "mpegts", "-muxdelay", "0", "-muxpreload", "0"],
} as const;

export type TranscodeFormat = keyof typeof OUTPUTS;

/** Most bytes queued for a lagging ffmpeg's stdin before pages are dropped (about 30 s of 128 kbit/s Opus). */
const MAX_QUEUED_BYTES = 512 * 1024;

export interface LiveTranscoderOptions {
  ffmpegPath: string;
  format: TranscodeFormat;
  /** Output bit rate, bit/s. */
  bitrate: number;
  /** The Ogg/Opus header pages (OpusHead, OpusTags) that start every ffmpeg run's input. */
  header: Uint8Array;
  log: Logger;
  onOutput(bytes: Uint8Array): void;
  /** ffmpeg failed too often to go on ({@link FfmpegProcess}'s `failed`): nothing more will come out. */
  onFailed(error: Error): void;
}

export class LiveTranscoder {
  private readonly process: FfmpegProcess;
  private stdin: FfmpegGeneration["stdin"] = null;

  constructor(private readonly o: LiveTranscoderOptions) {
    this.process = new FfmpegProcess({
      ffmpegPath: o.ffmpegPath,
      input: "pipe",
      inputOptions: ["-probesize", "32", "-analyzeduration", "0", "-fflags", "nobuffer", "-f", "ogg"],
      outputOptions: ["-vn", ...OUTPUTS[o.format], "-b:a", String(o.bitrate), "-flush_packets", "1"],
      log: o.log,
    });
    this.process.on("spawn", (g: FfmpegGeneration) => {
      this.stdin = g.stdin;
      g.stdin?.write(o.header);
      g.stdout.on("data", (d: Buffer) => o.onOutput(d));
    });
    this.process.on("failed", (err: Error) => {
      this.stdin = null;
      o.onFailed(err);
    });
    this.process.start();
  }

  /** One Ogg page of the stream (after the header pages). Dropped while ffmpeg restarts, or lags by over {@link MAX_QUEUED_BYTES}. */
  write(page: Uint8Array): void {
    const stdin = this.stdin;
    if (stdin && !stdin.destroyed && !stdin.writableEnded && stdin.writableLength < MAX_QUEUED_BYTES) stdin.write(page);
  }

  /** Stops ffmpeg for good (SIGKILL). */
  stop(): Promise<void> {
    this.stdin = null;
    return this.process.stop();
  }
}
