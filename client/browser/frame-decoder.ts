/**
 * Opus frame decoding in the browser: WebCodecs `AudioDecoder` where the browser has it (raw Opus
 * packets need no `description`: Chromium assumes channel mapping family 0), else libopus compiled
 * to WebAssembly (the `opus-decoder` package, loaded on demand as a separate chunk). Both give
 * planar Float32 PCM at 48 kHz, one output per packet, in order.
 */
import type { AudioFrame } from "../../media/wire";
import { MEDIA_CLOCK_HZ } from "../../media/wire/constants";

import type { DecoderKind } from "../core/stats";

export type { DecoderKind };

/**
 * One decoded packet: planar PCM at 48 kHz, the media time of its frame (samples at 48 kHz, from
 * the frame header) and the arrival time of its frame (ms, page clock). The decoder's own delay
 * (Opus pre-skip) is the same for every listener, so it does not move one listener against another.
 */
export interface DecodedPcm {
  planes: Float32Array[];
  mediaTime: number;
  arrivalMs: number;
}

export interface FrameDecoder {
  readonly kind: DecoderKind;
  /** Packets decoded so far. */
  readonly decoded: number;
  /** Packets that failed to decode. */
  readonly errors: number;
  decode(frame: AudioFrame, arrivalMs: number): void;
  /** Forgets decoder state and anything in flight (a new socket; the next packet starts afresh). */
  reset(): void;
  close(): void;
}

export interface FrameDecoderOptions {
  channels: 1 | 2;
  /** Force one implementation (tests, or `?decoder=wasm`); default: WebCodecs when supported. */
  prefer?: DecoderKind;
  onPcm(pcm: DecodedPcm): void;
  onError?(err: Error): void;
}

/** Whether this browser's WebCodecs can decode Opus at 48 kHz with `channels`. */
export async function webCodecsOpusSupported(channels: number): Promise<boolean> {
  if (typeof AudioDecoder === "undefined") return false;
  try {
    const r = await AudioDecoder.isConfigSupported({ codec: "opus", sampleRate: MEDIA_CLOCK_HZ, numberOfChannels: channels });
    return r.supported === true;
  } catch {
    return false;
  }
}

/** The best decoder this browser has (or the preferred one). */
export async function createFrameDecoder(o: FrameDecoderOptions): Promise<FrameDecoder> {
  if (o.prefer !== "wasm" && (await webCodecsOpusSupported(o.channels))) return new WebCodecsFrameDecoder(o);
  const { OpusDecoder } = await import("opus-decoder");
  const wasm = new OpusDecoder({ channels: o.channels, preSkip: 0 });
  await wasm.ready;
  return new WasmFrameDecoder(o, wasm);
}

class WebCodecsFrameDecoder implements FrameDecoder {
  readonly kind = "webcodecs";
  decoded = 0;
  errors = 0;
  private decoder: AudioDecoder;
  /**
   * Media and arrival times of the packets in the decoder, oldest first (outputs come 1:1, in
   * order). Not the output's timestamp: Chromium counts output timestamps on from the first input
   * (media/base/audio_discard_helper.h: the first buffer's timestamp "will be used as the basis
   * for all future timestamps"), so after a lost frame they would no longer be the media time.
   */
  private inFlight: Array<{ mediaTime: number; arrivalMs: number }> = [];

  constructor(private readonly o: FrameDecoderOptions) {
    this.decoder = this.create();
  }

  decode(frame: AudioFrame, arrivalMs: number): void {
    if (this.decoder.state === "closed") this.decoder = this.create();
    this.inFlight.push({ mediaTime: frame.mediaTime, arrivalMs });
    this.decoder.decode(
      new EncodedAudioChunk({
        type: "key",
        timestamp: Math.round((frame.mediaTime * 1e6) / MEDIA_CLOCK_HZ),
        duration: Math.round((frame.duration * 1e6) / MEDIA_CLOCK_HZ),
        data: frame.packet,
      }),
    );
  }

  reset(): void {
    this.inFlight = [];
    if (this.decoder.state === "configured") this.decoder.reset();
    if (this.decoder.state !== "closed") this.configure(this.decoder);
  }

  close(): void {
    if (this.decoder.state !== "closed") this.decoder.close();
  }

  private create(): AudioDecoder {
    const decoder = new AudioDecoder({
      output: (data) => this.onOutput(data),
      error: (err) => {
        // the codec is closed after an error; the next decode() makes a new one
        this.errors++;
        this.inFlight = [];
        this.o.onError?.(err);
      },
    });
    this.configure(decoder);
    return decoder;
  }

  private configure(decoder: AudioDecoder): void {
    decoder.configure({ codec: "opus", sampleRate: MEDIA_CLOCK_HZ, numberOfChannels: this.o.channels });
  }

  private onOutput(data: AudioData): void {
    const packet = this.inFlight.shift();
    try {
      if (packet === undefined) return; // from before a reset
      const planes: Float32Array[] = [];
      for (let ch = 0; ch < data.numberOfChannels; ch++) {
        const plane = new Float32Array(data.numberOfFrames);
        data.copyTo(plane, { planeIndex: ch, format: "f32-planar" });
        planes.push(plane);
      }
      this.decoded++;
      this.o.onPcm({ planes, ...packet });
    } finally {
      data.close();
    }
  }
}

interface WasmOpusDecoder {
  decodeFrame(packet: Uint8Array): { channelData: Float32Array[]; samplesDecoded: number; errors: unknown[] };
  reset(): Promise<void>;
  free(): void;
}

class WasmFrameDecoder implements FrameDecoder {
  readonly kind = "wasm";
  decoded = 0;
  errors = 0;

  constructor(
    private readonly o: FrameDecoderOptions,
    private readonly wasm: WasmOpusDecoder,
  ) {}

  decode(frame: AudioFrame, arrivalMs: number): void {
    const { channelData, samplesDecoded, errors } = this.wasm.decodeFrame(frame.packet);
    if (errors.length > 0 || samplesDecoded === 0) {
      this.errors++;
      this.o.onError?.(new Error(`opus-decoder: ${String((errors[0] as { message?: string } | undefined)?.message ?? "no samples")}`));
      return;
    }
    // copies: the planes are transferred to the worklet, and must not share the decoder's memory
    const planes = channelData.map((p) => p.slice(0, samplesDecoded));
    this.decoded++;
    this.o.onPcm({ planes, mediaTime: frame.mediaTime, arrivalMs });
  }

  reset(): void {
    void this.wasm.reset();
  }

  close(): void {
    this.wasm.free();
  }
}
