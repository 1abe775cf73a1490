/**
 * Encoding in the broadcaster's browser. WebCodecs `AudioEncoder` makes raw Opus packets (20 ms,
 * 48 kHz stereo) that travel as audio.data frames (format `opus`, passed through by the server).
 * Where WebCodecs is missing, `MediaRecorder` records WebM/Opus, sent as container bytes (format
 * `webm`, re-encoded by the server's ffmpeg).
 */
import { MEDIA_CLOCK_HZ } from "../../media/wire/constants";
import { opusPacketInfo } from "../../media/opus/packet";

import type { EncoderKind } from "../core/stats";

export type { EncoderKind };

/** Opus bit rate of the browser encoders, bit/s. */
export const BROADCAST_BITRATE = 128_000;

const WEBM_OPUS = "audio/webm;codecs=opus";

const opusConfig: AudioEncoderConfig = {
  codec: "opus",
  sampleRate: MEDIA_CLOCK_HZ,
  numberOfChannels: 2,
  bitrate: BROADCAST_BITRATE,
  opus: { frameDuration: 20_000, application: "audio" },
} as AudioEncoderConfig;

/** The encoder to use: the preferred one if this browser has it, else the best it has. @throws if none. */
export async function pickEncoder(prefer?: EncoderKind): Promise<EncoderKind> {
  const webcodecs = typeof AudioEncoder !== "undefined" && (await AudioEncoder.isConfigSupported(opusConfig).then((r) => r.supported === true, () => false));
  const recorder = typeof MediaRecorder !== "undefined" && MediaRecorder.isTypeSupported(WEBM_OPUS);
  if (prefer === "mediarecorder" && recorder) return "mediarecorder";
  if (webcodecs) return "webcodecs";
  if (recorder) return "mediarecorder";
  throw new Error("this browser can neither encode Opus (WebCodecs) nor record WebM/Opus (MediaRecorder)");
}

/** Opus packets from 20 ms planar frames at 48 kHz (from the capture worklet). */
export class WebCodecsOpusEncoder {
  readonly kind = "webcodecs";
  /** Packets produced. */
  packets = 0;
  private encoder: AudioEncoder;
  /** Media time of the next input frame, samples at 48 kHz. */
  private mediaTime = 0;

  constructor(
    private readonly onPacket: (packet: Uint8Array, durationSamples: number) => void,
    private readonly onError: (err: Error) => void,
  ) {
    this.encoder = this.create();
  }

  /** Encodes one frame: `planes` are 2 planar channels of equal length. */
  encode(planes: Float32Array[]): void {
    if (this.encoder.state === "closed") this.encoder = this.create();
    const frames = planes[0]?.length ?? 0;
    const data = new Float32Array(frames * 2);
    data.set(planes[0] ?? [], 0);
    data.set(planes[1] ?? planes[0] ?? [], frames);
    const audio = new AudioData({
      format: "f32-planar",
      sampleRate: MEDIA_CLOCK_HZ,
      numberOfFrames: frames,
      numberOfChannels: 2,
      timestamp: Math.round((this.mediaTime * 1e6) / MEDIA_CLOCK_HZ),
      data,
    });
    this.mediaTime += frames;
    this.encoder.encode(audio);
    audio.close();
  }

  close(): void {
    if (this.encoder.state !== "closed") this.encoder.close();
  }

  private create(): AudioEncoder {
    const encoder = new AudioEncoder({
      output: (chunk) => {
        const packet = new Uint8Array(chunk.byteLength);
        chunk.copyTo(packet);
        this.packets++;
        this.onPacket(packet, opusPacketInfo(packet).duration);
      },
      error: (err) => this.onError(err),
    });
    encoder.configure(opusConfig);
    return encoder;
  }
}

/**
 * WebM/Opus from a MediaStream, in 100 ms pieces, in order. {@link restart} begins a new recording
 * (a new WebM header), which a new socket needs; pieces of the old recording still in flight are
 * dropped.
 */
export class MediaRecorderWebmEncoder {
  readonly kind = "mediarecorder";
  /** Pieces (Blobs) delivered. */
  packets = 0;
  private recorder: MediaRecorder | null = null;
  private generation = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly stream: MediaStream,
    private readonly onData: (bytes: Uint8Array) => void,
    private readonly onError: (err: Error) => void,
  ) {}

  restart(): void {
    this.close();
    const generation = ++this.generation;
    const recorder = new MediaRecorder(this.stream, { mimeType: WEBM_OPUS, audioBitsPerSecond: BROADCAST_BITRATE });
    recorder.ondataavailable = (ev) => {
      if (ev.data.size === 0) return;
      // Blob reads are async: chain them so pieces go out in order
      this.chain = this.chain
        .then(() => ev.data.arrayBuffer())
        .then((buf) => {
          if (generation !== this.generation) return;
          this.packets++;
          this.onData(new Uint8Array(buf));
        })
        .catch((err: unknown) => this.onError(err instanceof Error ? err : new Error(String(err))));
    };
    recorder.onerror = (ev) => this.onError(new Error(`MediaRecorder: ${(ev as ErrorEvent).message ?? "error"}`));
    recorder.start(100);
    this.recorder = recorder;
  }

  close(): void {
    this.generation++;
    if (this.recorder && this.recorder.state !== "inactive") this.recorder.stop();
    this.recorder = null;
  }
}
