/**
 * AudioWorklet processor "veza-player": plays decoded PCM through a {@link JitterBuffer} and
 * reports, about every 100 ms, the buffer's stats and the RMS and peak level of what it rendered.
 *
 * Messages in (port): {@link PlayerIn}. Messages out: {@link PlayerReport}.
 */
import { JitterBuffer, type JitterStats } from "../core/jitter-buffer";
import { levels, workletScope as scope, type AudioWorkletNodeOptionsLike } from "./worklet-scope";

export type PlayerIn =
  /** Decoded planar PCM at the context rate; `ageMs` since the frame arrived in the page. */
  | { type: "pcm"; planes: Float32Array[]; ageMs: number }
  /** Drop the buffer and refill to the target (new socket: the live edge). */
  | { type: "reset" };

export interface PlayerReport extends JitterStats {
  type: "stats";
  /** RMS of the rendered samples since the last report (linear, 0..1). */
  rms: number;
  /** Largest absolute rendered sample since the last report. */
  peak: number;
}

export interface PlayerProcessorOptions {
  targetMs?: number;
  maxMs?: number;
}

/** Report interval, samples (about 100 ms at 48 kHz). */
const REPORT_EVERY = 4800;

class PlayerProcessor extends scope.AudioWorkletProcessor {
  private readonly buffer: JitterBuffer;
  private meter = { sumSquares: 0, samples: 0, peak: 0 };
  private sinceReport = 0;

  constructor(options: AudioWorkletNodeOptionsLike) {
    super();
    const o = (options.processorOptions ?? {}) as PlayerProcessorOptions;
    this.buffer = new JitterBuffer({ sampleRate: scope.sampleRate, targetMs: o.targetMs, maxMs: o.maxMs });
    this.port.onmessage = (ev: MessageEvent<PlayerIn>) => {
      const msg = ev.data;
      if (msg.type === "pcm") this.buffer.push(msg.planes, msg.ageMs, scope.currentFrame);
      else this.buffer.reset();
    };
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0];
    if (!out || out.length === 0) return true;
    const frames = out[0]?.length ?? 128;
    this.buffer.pull(out, frames, scope.currentFrame);
    levels(out, this.meter);
    this.sinceReport += frames;
    if (this.sinceReport >= REPORT_EVERY) this.report();
    return true;
  }

  private report(): void {
    const m = this.meter;
    const msg: PlayerReport = { type: "stats", ...this.buffer.takeStats(), rms: m.samples ? Math.sqrt(m.sumSquares / m.samples) : 0, peak: m.peak };
    this.port.postMessage(msg);
    this.meter = { sumSquares: 0, samples: 0, peak: 0 };
    this.sinceReport = 0;
  }
}

scope.registerProcessor("veza-player", PlayerProcessor);
