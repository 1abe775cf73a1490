/**
 * AudioWorklet processor "veza-capture": cuts its input into 20 ms stereo frames (960 samples at
 * 48 kHz, planar Float32) for the broadcaster's encoder, and reports the input level about every
 * 50 ms. Inputs are up-mixed to stereo by the node (channelCount 2, "explicit").
 *
 * Messages out: {@link CaptureOut}. With processorOptions.frames false it only meters (the
 * MediaRecorder path encodes from a MediaStream instead).
 */
import { levels, workletScope as scope, type AudioWorkletNodeOptionsLike } from "./worklet-scope";

export type CaptureOut =
  | { type: "frame"; planes: Float32Array[] }
  /** Level of the last `samples` input samples (per channel). */
  | { type: "level"; rms: number; peak: number; samples: number };

export interface CaptureProcessorOptions {
  /** Samples per frame. Default 960 (20 ms at 48 kHz). */
  frameSamples?: number;
  /** Whether to post frames (false: meter only). Default true. */
  frames?: boolean;
}

/** Level report interval, samples (50 ms at 48 kHz). */
const LEVEL_EVERY = 2400;

class CaptureProcessor extends scope.AudioWorkletProcessor {
  private readonly frameSamples: number;
  private readonly sendFrames: boolean;
  private planes: Float32Array[];
  private filled = 0;
  private meter = { sumSquares: 0, samples: 0, peak: 0 };
  private sinceLevel = 0;

  constructor(options: AudioWorkletNodeOptionsLike) {
    super();
    const o = (options.processorOptions ?? {}) as CaptureProcessorOptions;
    this.frameSamples = o.frameSamples ?? 960;
    this.sendFrames = o.frames ?? true;
    this.planes = this.newPlanes();
  }

  process(inputs: Float32Array[][]): boolean {
    const input = inputs[0];
    if (!input || input.length === 0) return true; // nothing connected (yet)
    const frames = input[0]?.length ?? 0;
    levels(input, this.meter);
    this.sinceLevel += frames;
    if (this.sinceLevel >= LEVEL_EVERY) {
      const m = this.meter;
      const msg: CaptureOut = { type: "level", rms: Math.sqrt(m.sumSquares / Math.max(1, m.samples)), peak: m.peak, samples: this.sinceLevel };
      this.port.postMessage(msg);
      this.meter = { sumSquares: 0, samples: 0, peak: 0 };
      this.sinceLevel = 0;
    }
    if (!this.sendFrames) return true;
    let read = 0;
    while (read < frames) {
      const n = Math.min(frames - read, this.frameSamples - this.filled);
      for (let ch = 0; ch < 2; ch++) {
        const src = input[Math.min(ch, input.length - 1)];
        if (src) this.planes[ch]?.set(src.subarray(read, read + n), this.filled);
      }
      this.filled += n;
      read += n;
      if (this.filled === this.frameSamples) {
        const planes = this.planes;
        this.port.postMessage({ type: "frame", planes } satisfies CaptureOut, planes.map((p) => p.buffer));
        this.planes = this.newPlanes();
        this.filled = 0;
      }
    }
    return true;
  }

  private newPlanes(): Float32Array[] {
    return [new Float32Array(this.frameSamples), new Float32Array(this.frameSamples)];
  }
}

scope.registerProcessor("veza-capture", CaptureProcessor);
