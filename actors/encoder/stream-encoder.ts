/**
 * One stream's encoder: the broadcaster's container bytes (from the bus subject `ingest.<id>`) go
 * into ffmpeg, which writes Ogg/Opus (48 kHz, stereo, 20 ms frames); the Ogg pages are demuxed with
 * prism-media and each Opus packet is published as audio.data on `encoded.<id>.0` for the stream
 * actor to stamp. Restarts of ffmpeg replay the container headers (media/ingest/resume.ts).
 */
import { opus } from "prism-media";
import type { Logger } from "pino";
import { createResumer, type IngestResumer } from "../../media/ingest/resume";
import { opusPacketInfo } from "../../media/opus/packet";
import { encodeAudioData } from "../../media/wire";
import type { IngestFormat } from "../../media/wire/control";
import { subjects, type MediaBus } from "../../transports";
import { FfmpegProcess, type FfmpegError, type FfmpegGeneration } from "../../transports/ffmpeg/ffmpeg-process";

export interface StreamEncoderOptions {
  streamId: string;
  format: Exclude<IngestFormat, "opus">;
  /** Input sample rate (Hz) and channels; used for pcm_s16le. */
  sampleRate?: number;
  channels?: number;
  /** Opus bit rate, bit/s. */
  bitrate: number;
  ffmpegPath: string;
  bus: MediaBus;
  log: Logger;
  onRestart(info: { restarts: number; error: FfmpegError }): void;
  onFailed(error: FfmpegError): void;
}

/** Most bytes held for ffmpeg while it restarts or lags, before new input is dropped. */
const MAX_PENDING_BYTES = 4 << 20;

/** ffmpeg demuxer and its options per ingest format. */
function inputOptions(o: StreamEncoderOptions): string[] {
  const common = ["-fflags", "+nobuffer", "-analyzeduration", "0", "-probesize", "32768"];
  switch (o.format) {
    case "pcm_s16le":
      return [...common, "-f", "s16le", "-ar", String(o.sampleRate ?? 48000), "-ac", String(o.channels ?? 2)];
    case "webm":
      return [...common, "-f", "matroska"];
    default:
      return [...common, "-f", o.format];
  }
}

/** Opus encoding as RFC 7587 expects it: 48 kHz, 20 ms frames; one Ogg page per packet for low delay. */
function outputOptions(bitrate: number): string[] {
  return [
    "-vn", "-map", "0:a:0",
    "-c:a", "libopus", "-b:a", String(bitrate), "-frame_duration", "20", "-application", "audio",
    "-ar", "48000", "-ac", "2",
    "-f", "ogg", "-page_duration", "20000", "-flush_packets", "1",
  ];
}

export class StreamEncoder {
  private readonly process: FfmpegProcess;
  private readonly resumer: IngestResumer;
  private stdin: FfmpegGeneration["stdin"] = null;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private unsubscribe: (() => void) | null = null;
  private seq = 0;
  private mediaTime = 0;
  /** Opus packets published. */
  framesOut = 0;
  /** Input bytes dropped because ffmpeg could not keep up. */
  bytesDropped = 0;

  constructor(private readonly o: StreamEncoderOptions) {
    this.resumer = createResumer(o.format, 2 * (o.channels ?? 2));
    this.process = new FfmpegProcess({
      ffmpegPath: o.ffmpegPath,
      input: "pipe",
      inputOptions: inputOptions(o),
      outputOptions: outputOptions(o.bitrate),
      stallTimeoutMs: 0,
      log: o.log,
    });
    this.process.on("spawn", (g: FfmpegGeneration) => this.onSpawn(g));
    this.process.on("restart", (info: { restarts: number; error: FfmpegError }) => {
      this.stdin = null;
      // headers first, then what arrives from the next clean boundary on
      this.pending = [...this.resumer.restart()];
      this.pendingBytes = this.pending.reduce((n, b) => n + b.length, 0);
      o.onRestart(info);
    });
    this.process.on("failed", (err: FfmpegError) => o.onFailed(err));
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get restarts(): number {
    return this.process.restarts;
  }

  start(): void {
    this.unsubscribe = this.o.bus.subscribe(subjects.ingest(this.o.streamId), (chunk) => this.onIngest(chunk));
    this.process.start();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.process.stop();
  }

  private onIngest(chunk: Uint8Array): void {
    for (const piece of this.resumer.push(chunk)) {
      if (piece.length === 0) continue;
      if (this.stdin && this.stdin.writableLength < MAX_PENDING_BYTES) this.stdin.write(piece);
      else if (!this.stdin && this.pendingBytes + piece.length <= MAX_PENDING_BYTES) {
        this.pending.push(piece);
        this.pendingBytes += piece.length;
      } else this.bytesDropped += piece.length;
    }
  }

  private onSpawn(g: FfmpegGeneration): void {
    const stdin = g.stdin;
    if (stdin) {
      for (const piece of this.pending) stdin.write(piece);
      this.pending = [];
      this.pendingBytes = 0;
      this.stdin = stdin;
    }
    const demuxer = new opus.OggDemuxer();
    demuxer.on("error", (err: Error) => this.o.log.warn({ err, streamId: this.o.streamId }, "ogg demux error from ffmpeg output"));
    demuxer.on("data", (packet: Buffer) => this.onPacket(packet));
    g.stdout.pipe(demuxer);
  }

  private onPacket(packet: Buffer): void {
    let duration: number;
    try {
      duration = opusPacketInfo(packet).duration;
    } catch (err) {
      this.o.log.warn({ err, streamId: this.o.streamId }, "ffmpeg produced an unreadable Opus packet");
      return;
    }
    const message = encodeAudioData({ rendition: 0, flags: 0, seq: this.seq, mediaTime: this.mediaTime, duration, packet });
    this.seq = (this.seq + 1) >>> 0;
    this.mediaTime += duration;
    this.framesOut++;
    this.o.bus.publish(subjects.encoded(this.o.streamId, 0), message);
  }
}
