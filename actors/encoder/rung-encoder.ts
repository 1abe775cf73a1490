/**
 * One rung of a stream's ladder (media/ladder.ts): rendition 0's frames (the bus subject
 * `audio.<id>.0`) muxed into Ogg/Opus, decoded and encoded again by one ffmpeg into a lower Opus
 * bit rate or AAC-LC, and published as audio.data on `audio.<id>.<rung>`, stamped on the stream's
 * media clock. Runs only while someone uses the rung (the stream actor asks, encoder.ladder).
 *
 * Why one ffmpeg per rung rather than one for the whole ladder: rungs start and stop on their
 * own as listeners come and go, and a rung starting or crashing must not cut another; each rung
 * decodes rendition 0 itself, which costs about a twentieth of its encoding (libopus decodes far
 * faster than it encodes).
 *
 * Media time: packets come out of ffmpeg in order, and each covers a known stretch of the input.
 * Opus: with the input delayed by one 20 ms frame (`adelay=20`), output packet k carries the audio
 * of input samples [k × 960, (k + 1) × 960) (ffmpeg's decoder drops OpusHead's pre-skip, the
 * rung's own pre-skip covers its encoder's lookahead, and the delay makes up the frame that the
 * pipeline otherwise loses at the start; test/unit/rung-encoder.test.ts measures this, r ≥ 0.9 at
 * lag 0): the rung's frames fall on rendition 0's 20 ms grid, packet for packet, so a listener can
 * switch at any frame. AAC (no delay; ffmpeg's encoder primes 1024 samples, ISO/IEC 14496-3 and
 * Apple's TN2258): frame k carries input samples from k × 1024 + 248 (the priming less the
 * input's pre-skip, and the lost frame), as the same test measures within 1 ms. Input positions map back to media time through the frames
 * written ({@link RungEncoder}'s queue), so gaps in rendition 0's media time are kept.
 */
import { opus } from "prism-media";
import type { Logger } from "pino";
import { adtsFrameLength } from "../../media/aac/adts-frames";
import type { Rendition } from "../../media/ladder";
import { LiveOgg } from "../../media/ogg/live-ogg";
import { decodeAudioData, encodeAudioData } from "../../media/wire";
import { AudioFlag } from "../../media/wire/constants";
import { subjects, type MediaBus } from "../../transports";
import { FfmpegProcess, type FfmpegGeneration } from "../../transports/ffmpeg/ffmpeg-process";

/** Samples at 48 kHz per output frame, and the input position (samples) of output frame 0. */
const TIMING = { opus: { frame: 960, first: 0 }, aac: { frame: 1024, first: 248 } } as const;
/** Most bytes queued for a lagging ffmpeg's stdin before frames are dropped (about 30 s of 128 kbit/s). */
const MAX_QUEUED_BYTES = 512 * 1024;

export interface RungEncoderOptions {
  streamId: string;
  rung: Rendition;
  ffmpegPath: string;
  bus: MediaBus;
  log: Logger;
}

/** An input frame written to ffmpeg: where it starts in the run's input (samples) and on the media clock. */
interface Written {
  position: number;
  mediaTime: number;
  duration: number;
  discontinuity: boolean;
}

export class RungEncoder {
  private readonly process: FfmpegProcess;
  private readonly ogg = new LiveOgg(1);
  private stdin: FfmpegGeneration["stdin"] = null;
  private unsubscribe: (() => void) | null = null;
  /** Input frames of the current run not yet wholly behind its output, oldest first. */
  private written: Written[] = [];
  /** Samples written to the current run. */
  private position = 0;
  /** Output frames of the current run. */
  private outIndex = 0;
  private seq = 0;
  /** The next frame published follows a gap (a new run). */
  private discontinuity = true;
  private adtsCarry: Uint8Array = new Uint8Array(0);
  /** Frames published. */
  framesOut = 0;

  constructor(private readonly o: RungEncoderOptions) {
    const { rung } = o;
    const codec =
      rung.codec === "opus"
        ? ["-af", "adelay=20|20", "-c:a", "libopus", "-frame_duration", "20", "-application", "audio", "-f", "ogg", "-page_duration", "20000"]
        : ["-c:a", "aac", "-f", "adts"];
    this.process = new FfmpegProcess({
      ffmpegPath: o.ffmpegPath,
      input: "pipe",
      inputOptions: ["-probesize", "32", "-analyzeduration", "0", "-fflags", "nobuffer", "-f", "ogg"],
      outputOptions: ["-vn", ...codec, "-b:a", String(rung.bitrate), "-ar", "48000", "-ac", String(rung.channels), "-flush_packets", "1"],
      log: o.log,
    });
    this.process.on("spawn", (g: FfmpegGeneration) => this.onSpawn(g));
    this.process.on("failed", (err: Error) => {
      this.stdin = null;
      o.log.error({ err: err.message, rendition: rung.id }, "rung encoder failed; the rung stays off until it is asked for again");
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  /** Subscribes to rendition 0 and starts ffmpeg. */
  start(): void {
    this.process.start();
    this.unsubscribe = this.o.bus.subscribe(subjects.audio(this.o.streamId, 0), (frame) => this.onFrame(frame));
  }

  /** Stops at once (SIGKILL). */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.stdin = null;
    await this.process.stop();
  }

  /** A new ffmpeg run: positions start again, its first frame is a discontinuity. */
  private onSpawn(g: FfmpegGeneration): void {
    this.written = [];
    this.position = 0;
    this.outIndex = 0;
    this.discontinuity = true;
    this.adtsCarry = new Uint8Array(0);
    this.stdin = g.stdin;
    g.stdin?.write(this.ogg.header);
    if (this.o.rung.codec === "opus") {
      const demuxer = new opus.OggDemuxer();
      demuxer.on("data", (packet: Buffer) => this.onOutput(packet));
      demuxer.on("error", (err: Error) => this.o.log.warn({ err: err.message }, "rung output: bad Ogg"));
      g.stdout.pipe(demuxer);
    } else {
      g.stdout.on("data", (d: Buffer) => this.onAdts(d));
    }
  }

  private onFrame(message: Uint8Array): void {
    const stdin = this.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded || stdin.writableLength >= MAX_QUEUED_BYTES) return;
    let f;
    try {
      f = decodeAudioData(message);
    } catch {
      return;
    }
    const page = this.ogg.push(f.packet, f.duration);
    this.written.push({ position: this.position, mediaTime: f.mediaTime, duration: f.duration, discontinuity: (f.flags & AudioFlag.DISCONTINUITY) !== 0 });
    this.position += f.duration;
    if (page) stdin.write(page);
  }

  /** ADTS bytes out: whole frames, without their headers (raw access units, as MP4 carries them). */
  private onAdts(d: Buffer): void {
    let b: Uint8Array = this.adtsCarry.length ? Buffer.concat([this.adtsCarry, d]) : d;
    let i = 0;
    while (i + 7 <= b.length) {
      const length = adtsFrameLength(b, i);
      if (length === 0) {
        i++;
        continue;
      }
      if (i + length > b.length) break;
      const header = b[i + 1]! & 1 ? 7 : 9;
      this.onOutput(b.subarray(i + header, i + length));
      i += length;
    }
    b = b.subarray(i);
    this.adtsCarry = b.length ? Uint8Array.from(b) : new Uint8Array(0);
  }

  /** One output frame: stamped with the media time of the input it carries and published. */
  private onOutput(packet: Uint8Array): void {
    const timing = TIMING[this.o.rung.codec];
    const position = timing.first + this.outIndex++ * timing.frame;
    if (position < 0) return; // the delay's or the encoder's priming, before the first input sample
    while (this.written.length > 1 && this.written[0]!.position + this.written[0]!.duration <= position) this.written.shift();
    const from = this.written[0];
    if (!from || position < from.position) return;
    const discontinuity = this.discontinuity || (from.discontinuity && position === from.position);
    this.discontinuity = false;
    const message = encodeAudioData({
      rendition: this.o.rung.id,
      flags: discontinuity ? AudioFlag.DISCONTINUITY : 0,
      seq: this.seq,
      mediaTime: from.mediaTime + (position - from.position),
      duration: timing.frame,
      packet,
    });
    this.seq = (this.seq + 1) >>> 0;
    this.framesOut++;
    this.o.bus.publish(subjects.audio(this.o.streamId, this.o.rung.id), message);
  }
}
