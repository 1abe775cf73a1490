/**
 * One stream's encoder: the broadcaster's bytes (from the bus subject `ingest.<id>`) go into
 * ffmpeg, which writes Ogg/Opus (48 kHz, stereo, 20 ms frames); the Ogg pages are demuxed with
 * prism-media and each Opus packet is published as audio.data on `encoded.<id>.0` for the stream
 * actor to stamp.
 *
 * Every byte received reaches ffmpeg and every sample it decodes comes out:
 * - start: nothing probed is dropped (ffmpeg-args.ts); WAV is read here (media/ingest/wav-header.ts)
 *   and its samples go to ffmpeg as raw PCM, which it encodes from the first read on;
 * - restart after an ffmpeg crash: raw PCM (pcm_s16le, WAV) resumes at the first sample frame whose
 *   audio was not published (media/ingest/pcm-replay.ts), so a crash loses nothing; the new run adds
 *   its encoder delay (pre-skip, 312 samples at 48 kHz) and the stream is marked discontinuous.
 *   Containers (Ogg, WebM, MP3, WAV of other codecs) replay their headers and resume at the next
 *   page, cluster or frame (media/ingest/resume.ts): what the crashed ffmpeg had read but not yet
 *   output is lost (its pipe and decoder buffers: typically tens of ms, at most about one Ogg page
 *   or WebM cluster plus 64 KiB of pipe);
 * - stop: {@link StreamEncoder.close} hands ffmpeg the last held bytes, ends its input and waits
 *   until it has written its last frame and that frame is published.
 */
import { opus } from "prism-media";
import type { Logger } from "pino";
import { PcmReplay, coveredOffset } from "../../media/ingest/pcm-replay";
import { createResumer, type IngestResumer } from "../../media/ingest/resume";
import { parseWavHeader, type WavInfo } from "../../media/ingest/wav-header";
import { opusPacketInfo } from "../../media/opus/packet";
import { encodeAudioData } from "../../media/wire";
import type { IngestFormat } from "../../media/wire/control";
import { subjects, type MediaBus } from "../../transports";
import { FfmpegError, FfmpegProcess, type FfmpegGeneration } from "../../transports/ffmpeg/ffmpeg-process";
import { containerDemuxer, inputOptions, outputOptions, type EncoderInput } from "./ffmpeg-args";

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
/**
 * On a networked bus, a close that is not told how many bytes were sent waits until no ingest
 * arrived for this long (ms), at most {@link SETTLE_MAX_MS}.
 */
const SETTLE_QUIET_MS = 50;
const SETTLE_MAX_MS = 300;
/** Longest wait in close for the ingest bytes the gateway says it sent, ms (then it encodes what came). */
const INGEST_WAIT_MAX_MS = 1000;
/** libopus's pre-skip (samples at 48 kHz), used until ffmpeg's OpusHead says otherwise. */
const DEFAULT_PRE_SKIP = 312;

/** The raw PCM input path: its replay buffer, and the data bytes still to come (null: open-ended). */
interface RawPath {
  kind: "raw";
  replay: PcmReplay;
  sampleRate: number;
  dataLeft: number | null;
}
/** The container path: restart points and bytes held while no ffmpeg runs. */
interface ContainerPath {
  kind: "container";
  resumer: IngestResumer;
  pending: Uint8Array[];
  pendingBytes: number;
}

/** One ffmpeg run: where its input started (raw: byte of the PCM data), what it published, when its output ended. */
interface Run {
  from: number;
  published: number;
  preSkip: number;
  done: Promise<void>;
}

export class StreamEncoder {
  private process: FfmpegProcess | null = null;
  private path: RawPath | ContainerPath | null = null;
  /** WAV bytes received before its header was complete. */
  private header: Uint8Array = new Uint8Array(0);
  private stdin: FfmpegGeneration["stdin"] = null;
  private run: Run | null = null;
  private unsubscribe: (() => void) | null = null;
  private lastIngestAt = 0;
  /** Bytes received on the ingest subject. */
  private bytesIn = 0;
  /** A close waiting for `bytesIn` to reach `bytes`. */
  private ingestWaiter: { bytes: number; resolve: () => void } | null = null;
  private seq = 0;
  private mediaTime = 0;
  /** The container input ffmpeg reads, kept for a {@link resume}. */
  private input: EncoderInput | null = null;
  /** Stopped by {@link pause}: the input still goes through the resumer, ffmpeg does not run. */
  paused = false;
  /** Opus packets published. */
  framesOut = 0;
  /** Input bytes dropped because ffmpeg could not keep up. */
  bytesDropped = 0;

  constructor(private readonly o: StreamEncoderOptions) {}

  get pid(): number | undefined {
    return this.process?.pid;
  }

  get restarts(): number {
    return this.process?.restarts ?? 0;
  }

  /** Subscribes to the stream's ingest and starts ffmpeg (for WAV: once the header has arrived). */
  start(): void {
    this.unsubscribe = this.o.bus.subscribe(subjects.ingest(this.o.streamId), (chunk) => this.onIngest(chunk));
    const { format } = this.o;
    if (format === "pcm_s16le") {
      const channels = this.o.channels ?? 2;
      this.begin({ kind: "raw", demuxer: "s16le", sampleRate: this.o.sampleRate ?? 48_000, channels }, 2 * channels, null);
    } else if (format !== "wav") this.begin({ kind: "container", demuxer: containerDemuxer(format) }, 0, null);
  }

  /**
   * Ends the stream's encoding without losing its tail: every byte received on the ingest subject
   * is written to ffmpeg, ffmpeg's input is ended, and the returned promise resolves once ffmpeg
   * has exited and its last frame was published on `encoded.<id>.0` (or after `timeoutMs`, ms, when
   * ffmpeg is killed). Never rejects.
   * @param ingestBytes the bytes the broadcaster's gateway published on the ingest subject: on a
   *   networked bus they may still be on their way (the stop took another path), so close first
   *   waits until all have arrived (at most 1000 ms). Unknown: it waits for a 50 ms lull instead.
   */
  async close(timeoutMs = 2000, ingestBytes?: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    if (ingestBytes !== undefined) await this.ingestReceived(ingestBytes, Math.min(deadline, Date.now() + INGEST_WAIT_MAX_MS));
    else if (this.o.bus.kind !== "local") await this.settle(Math.min(deadline, Date.now() + SETTLE_MAX_MS));
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.path?.kind === "container") for (const piece of this.path.resumer.flush()) this.write(piece);
    // no process: a WAV stream whose header never completed, which has no samples to encode
    const process = this.process;
    if (!process) return;
    await process.drain(Math.max(0, deadline - Date.now()));
    // the run drained (a new one if ffmpeg was waiting to restart): its output ends after its last frame
    const run = this.run;
    if (run) await Promise.race([run.done, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
  }

  /**
   * Stops ffmpeg until {@link resume}, for a stream no listener needs Opus of (the stream actor
   * decides, ENCODER_IDLE_MS). Container formats only (Ogg, WebM, MP3, AAC, FLAC, WAV of other
   * codecs): their resumer keeps following the input meanwhile (its headers, its next clean
   * boundary), so a new ffmpeg can start mid-stream; raw PCM keeps encoding. What ffmpeg held is
   * dropped, and the input while paused is not encoded. Resolves once ffmpeg has exited.
   * @returns whether it paused (false: raw PCM, not started yet, or paused already).
   */
  async pause(): Promise<boolean> {
    const process = this.process;
    if (this.paused || this.path?.kind !== "container" || !process) return false;
    this.paused = true;
    this.stdin = null;
    this.process = null;
    this.path.pending = [];
    this.path.pendingBytes = 0;
    await process.stop();
    this.log("encoder paused", {});
    return true;
  }

  /**
   * Starts ffmpeg again after a {@link pause}: the container's headers, then the input from its
   * next clean boundary (media/ingest/resume.ts), as after a crash. The frames it makes follow a
   * gap: the caller marks the discontinuity.
   * @returns whether it resumed (false: not paused).
   */
  resume(): boolean {
    const path = this.path;
    if (!this.paused || path?.kind !== "container" || !this.input) return false;
    this.paused = false;
    path.pending = [...path.resumer.restart()];
    path.pendingBytes = path.pending.reduce((n, b) => n + b.length, 0);
    this.startProcess(this.input);
    this.log("encoder resumed", {});
    return true;
  }

  /** Stops at once (SIGKILL), dropping what ffmpeg holds; for a stream that is replaced or failed. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.process?.stop();
  }

  /** Waits until ingest has been quiet for {@link SETTLE_QUIET_MS} or `until` (ms since epoch). */
  /** Resolves once `bytes` ingest bytes have arrived, or at `until` (ms since epoch). */
  private async ingestReceived(bytes: number, until: number): Promise<void> {
    if (this.bytesIn >= bytes) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.ingestWaiter = { bytes, resolve };
      timer = setTimeout(resolve, Math.max(0, until - Date.now()));
    });
    clearTimeout(timer);
    if (this.bytesIn < bytes) this.o.log.warn({ streamId: this.o.streamId, received: this.bytesIn, sent: bytes }, "encoder closing before all ingest arrived");
    this.ingestWaiter = null;
  }

  private async settle(until: number): Promise<void> {
    while (Date.now() < until && Date.now() - this.lastIngestAt < SETTLE_QUIET_MS) await new Promise((r) => setTimeout(r, 10));
  }

  /** Sets up the input path and starts ffmpeg. `blockAlign`: bytes per raw sample frame. */
  private begin(input: EncoderInput, blockAlign: number, dataBytes: number | null): void {
    if (input.kind === "raw") {
      this.path = { kind: "raw", replay: new PcmReplay(blockAlign, MAX_PENDING_BYTES), sampleRate: input.sampleRate, dataLeft: dataBytes };
    } else {
      this.path = { kind: "container", resumer: createResumer(this.o.format), pending: [], pendingBytes: 0 };
    }
    this.input = input;
    this.log("encoder input", { input });
    this.startProcess(input);
  }

  /** Starts the ffmpeg that reads `input` (its first run, or after a {@link pause}). */
  private startProcess(input: EncoderInput): void {
    const process = new FfmpegProcess({
      ffmpegPath: this.o.ffmpegPath,
      input: "pipe",
      inputOptions: inputOptions(input),
      outputOptions: outputOptions(this.o.bitrate),
      stallTimeoutMs: 0,
      log: this.o.log,
    });
    process.on("spawn", (g: FfmpegGeneration) => this.onSpawn(g));
    process.on("restart", (info: { restarts: number; error: FfmpegError }) => {
      this.stdin = null;
      const path = this.path;
      if (path?.kind === "container") {
        // headers first, then what arrives from the next clean boundary on
        path.pending = [...path.resumer.restart()];
        path.pendingBytes = path.pending.reduce((n, b) => n + b.length, 0);
      }
      this.o.onRestart(info);
    });
    process.on("failed", (err: FfmpegError) => this.o.onFailed(err));
    this.process = process;
    process.start();
  }

  private onIngest(chunk: Uint8Array): void {
    this.lastIngestAt = Date.now();
    this.bytesIn += chunk.length;
    if (this.ingestWaiter && this.bytesIn >= this.ingestWaiter.bytes) this.ingestWaiter.resolve();
    if (this.path) this.feed(chunk);
    else this.onWavBytes(chunk);
  }

  /** Collects the WAV header; once complete, starts ffmpeg and feeds it what followed the header. */
  private onWavBytes(chunk: Uint8Array): void {
    const all = new Uint8Array(this.header.length + chunk.length);
    all.set(this.header);
    all.set(chunk, this.header.length);
    this.header = all;
    let info: WavInfo | null = null;
    try {
      info = parseWavHeader(all);
    } catch (err) {
      // not WAV at all: say so in the user's words instead of letting ffmpeg fail five times
      this.header = new Uint8Array(0);
      this.unsubscribe?.();
      this.unsubscribe = null;
      const message = err instanceof Error ? err.message : String(err);
      this.o.log.warn({ streamId: this.o.streamId, reason: message }, "unreadable WAV header");
      this.o.onFailed(new FfmpegError("spawn", `format wav: ${message}`, null, null));
      return;
    }
    if (info) this.startWav(info);
  }

  /** Starts ffmpeg for the WAV stream: raw PCM if its codec has a raw demuxer, else the container. */
  private startWav(info: WavInfo): void {
    const bytes = this.header;
    this.header = new Uint8Array(0);
    if (info.rawFormat) {
      this.begin({ kind: "raw", demuxer: info.rawFormat, sampleRate: info.sampleRate, channels: info.channels }, info.blockAlign, info.dataBytes);
      this.feed(bytes.subarray(info.dataOffset));
    } else {
      this.begin({ kind: "container", demuxer: "wav" }, 0, null);
      this.feed(bytes);
    }
  }

  private feed(chunk: Uint8Array): void {
    const path = this.path;
    if (!path) return;
    if (path.kind === "raw") {
      // bytes after a WAV data chunk of stated size are other chunks (LIST…), not samples
      let piece = chunk;
      if (path.dataLeft !== null) {
        piece = chunk.subarray(0, path.dataLeft);
        path.dataLeft -= piece.length;
      }
      const fresh = path.replay.append(piece);
      if (fresh.length > 0 && this.stdin) this.write(fresh);
      return;
    }
    for (const piece of path.resumer.push(chunk)) this.write(piece);
  }

  /** Writes to the running ffmpeg, or holds (container path) while none runs; nothing while paused. */
  private write(piece: Uint8Array): void {
    if (piece.length === 0 || this.paused) return;
    const path = this.path;
    if (this.stdin && this.stdin.writableLength < MAX_PENDING_BYTES) this.stdin.write(piece);
    else if (!this.stdin && path?.kind === "container" && path.pendingBytes + piece.length <= MAX_PENDING_BYTES) {
      path.pending.push(piece);
      path.pendingBytes += piece.length;
    } else if (!this.stdin && path?.kind === "raw") return; // held by the replay buffer
    else this.bytesDropped += piece.length;
  }

  private onSpawn(g: FfmpegGeneration): void {
    const path = this.path;
    let from = 0;
    let feed: Uint8Array[] = [];
    if (path?.kind === "raw") {
      const previous = this.run;
      const resumeAt = previous ? coveredOffset(previous.from, previous.published, previous.preSkip, path.sampleRate, path.replay.blockAlign) : 0;
      const replay = path.replay.from(resumeAt);
      from = replay.offset;
      feed = replay.pieces;
      if (previous) this.log("ffmpeg resumes raw input", { resumeAt: from, replayBytes: feed.reduce((n, b) => n + b.length, 0) });
    } else if (path) {
      feed = path.pending;
      path.pending = [];
      path.pendingBytes = 0;
    }
    let markDone: () => void = () => undefined;
    const run: Run = { from, published: 0, preSkip: DEFAULT_PRE_SKIP, done: new Promise<void>((r) => (markDone = r)) };
    this.run = run;
    this.stdin = g.stdin;
    for (const piece of feed) this.write(piece);
    const demuxer = new opus.OggDemuxer();
    demuxer.on("head", (head: Buffer) => {
      if (head.length >= 12) run.preSkip = head.readUInt16LE(10);
    });
    demuxer.on("error", (err: Error) => this.o.log.warn({ err, streamId: this.o.streamId }, "ogg demux error from ffmpeg output"));
    demuxer.on("data", (packet: Buffer) => this.onPacket(packet, run));
    demuxer.on("end", markDone);
    demuxer.on("close", markDone);
    g.stdout.on("error", markDone);
    g.stdout.pipe(demuxer);
  }

  private onPacket(packet: Buffer, run: Run): void {
    // raw PCM: a crashed run's last frames arriving after its successor started were replayed to the successor
    if (run !== this.run && this.path?.kind === "raw") return;
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
    run.published += duration;
    const path = this.path;
    if (path?.kind === "raw") path.replay.release(coveredOffset(run.from, run.published, run.preSkip, path.sampleRate, path.replay.blockAlign));
    this.o.bus.publish(subjects.encoded(this.o.streamId, 0), message);
  }

  private log(msg: string, fields: Record<string, unknown>): void {
    this.o.log.debug({ streamId: this.o.streamId, ...fields }, msg);
  }
}
