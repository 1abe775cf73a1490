/**
 * AudioWorklet processor "veza-player": plays decoded PCM either in synchronised playout
 * ({@link SyncPlayout}: each sample at the cluster time the stream's sync ticks give, resampled to
 * follow it) or, where the stream sends no ticks or the page asks for it, through an adaptive
 * {@link JitterBuffer}. Reports, about every 100 ms, the mode's stats and the RMS and peak level
 * of what it rendered.
 *
 * Messages in (port): {@link PlayerIn}. Messages out: {@link PlayerReport}.
 */
import type { SyncTick } from "../../media/clock/playout";
import { JitterBuffer, type JitterStats } from "../core/jitter-buffer";
import { SyncPlayout, type DeviceClockMap, type SyncPlayoutStats } from "../core/sync-playout";
import { levels, workletScope as scope, type AudioWorkletNodeOptionsLike } from "./worklet-scope";

/** "sync": synchronised playout; "buffer": the adaptive jitter buffer. */
export type PlayoutMode = "sync" | "buffer";

export type PlayerIn =
  /**
   * Decoded planar PCM at the context rate of the frame at `mediaTime` (samples at 48 kHz);
   * `ageMs` since the frame arrived in the page; `arrivalClusterUs` that arrival in cluster time
   * (null before the clock sync is ready).
   */
  | { type: "pcm"; planes: Float32Array[]; mediaTime: number; ageMs: number; arrivalClusterUs: number | null }
  /** A new socket: drop buffered media (and, in sync mode, the ticks) and start again from the live edge. */
  | { type: "reset" }
  | { type: "mode"; mode: PlayoutMode }
  /** A sync tick of the stream (docs/protocol.md, sync.tick). */
  | { type: "tick"; tick: SyncTick }
  /** The device clock map: where context frames are heard in cluster time; null: not known (silence). */
  | { type: "clock"; map: DeviceClockMap | null };

export type PlayerReport = {
  type: "stats";
  /** RMS of the rendered samples since the last report (linear, 0..1). */
  rms: number;
  /** Largest absolute rendered sample since the last report. */
  peak: number;
  /** With processorOptions.trace: flat pairs [media time, context frame at which that frame starts sounding]. */
  trace?: number[];
} & ({ mode: "buffer"; buffer: JitterStats } | { mode: "sync"; sync: SyncPlayoutStats });

export interface PlayerProcessorOptions {
  /** Jitter buffer target and maximum, ms (buffer mode). */
  targetMs?: number;
  maxMs?: number;
  /** Mode to start in. Default "sync". */
  mode?: PlayoutMode;
  /** Record when each frame starts sounding (sync mode), for measurements. Default false. */
  trace?: boolean;
}

/** Report interval, samples (about 100 ms at 48 kHz). */
const REPORT_EVERY = 4800;

class PlayerProcessor extends scope.AudioWorkletProcessor {
  private readonly buffer: JitterBuffer;
  private readonly sync: SyncPlayout;
  private mode: PlayoutMode;
  private meter = { sumSquares: 0, samples: 0, peak: 0 };
  private sinceReport = 0;

  constructor(options: AudioWorkletNodeOptionsLike) {
    super();
    const o = (options.processorOptions ?? {}) as PlayerProcessorOptions;
    this.buffer = new JitterBuffer({ sampleRate: scope.sampleRate, targetMs: o.targetMs, maxMs: o.maxMs });
    this.sync = new SyncPlayout({ deviceRate: scope.sampleRate, trace: o.trace });
    this.mode = o.mode ?? "sync";
    this.port.onmessage = (ev: MessageEvent<PlayerIn>) => this.onMessage(ev.data);
  }

  private onMessage(msg: PlayerIn): void {
    switch (msg.type) {
      case "pcm":
        if (this.mode === "sync") this.sync.push(msg.mediaTime, msg.planes, msg.arrivalClusterUs);
        else this.buffer.push(msg.planes, msg.ageMs, scope.currentFrame);
        break;
      case "reset":
        this.buffer.reset();
        this.sync.reset();
        break;
      case "mode":
        if (msg.mode !== this.mode) (this.buffer.reset(), (this.mode = msg.mode));
        break;
      case "tick":
        this.sync.addTick(msg.tick);
        break;
      case "clock":
        this.sync.setClock(msg.map);
        break;
    }
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0];
    if (!out || out.length === 0) return true;
    const frames = out[0]?.length ?? 128;
    if (this.mode === "sync") this.sync.render(out, frames, scope.currentFrame);
    else this.buffer.pull(out, frames, scope.currentFrame);
    levels(out, this.meter);
    this.sinceReport += frames;
    if (this.sinceReport >= REPORT_EVERY) this.report();
    return true;
  }

  private report(): void {
    const m = this.meter;
    const level = { type: "stats" as const, rms: m.samples ? Math.sqrt(m.sumSquares / m.samples) : 0, peak: m.peak };
    const trace = this.sync.takeTrace();
    const msg: PlayerReport =
      this.mode === "sync" ? { ...level, mode: "sync", sync: this.sync.takeStats(), trace } : { ...level, mode: "buffer", buffer: this.buffer.takeStats(), trace };
    this.port.postMessage(msg);
    this.meter = { sumSquares: 0, samples: 0, peak: 0 };
    this.sinceReport = 0;
  }
}

scope.registerProcessor("veza-player", PlayerProcessor);
