/**
 * The player's audio graph: AudioContext at 48 kHz → AudioWorkletNode "veza-player" (synchronised
 * playout or jitter buffer, and meter) → GainNode (volume) → AnalyserNode (level of what is
 * rendered) → destination.
 */
import type { SyncTick } from "../../media/clock/playout";
import type { DeviceClockMap } from "../core/sync-playout";
import type { PlayerIn, PlayerProcessorOptions, PlayerReport, PlayoutMode } from "../worklets/player-processor";
import { MEDIA_CLOCK_HZ } from "../../media/wire/constants";

export interface AudioOutputOptions extends PlayerProcessorOptions {
  /** URL of the bundled player-processor module. */
  workletUrl: string;
  /** Output channels. Default 2. */
  channels?: number;
}

export class AudioOutput {
  private report: PlayerReport | null = null;
  private readonly samples: Float32Array<ArrayBuffer>;
  onReport: ((r: PlayerReport) => void) | null = null;

  private constructor(
    readonly ctx: AudioContext,
    private readonly node: AudioWorkletNode,
    private readonly gain: GainNode,
    private readonly analyser: AnalyserNode,
  ) {
    this.samples = new Float32Array(analyser.fftSize);
    node.port.onmessage = (ev: MessageEvent<PlayerReport>) => {
      this.report = ev.data;
      this.onReport?.(ev.data);
    };
  }

  /** Builds the graph. The context may start suspended (autoplay policy): see {@link resume}. */
  static async create(o: AudioOutputOptions): Promise<AudioOutput> {
    const ctx = new AudioContext({ sampleRate: MEDIA_CLOCK_HZ, latencyHint: "interactive" });
    await ctx.audioWorklet.addModule(o.workletUrl);
    const channels = o.channels ?? 2;
    const processorOptions: PlayerProcessorOptions = { targetMs: o.targetMs, maxMs: o.maxMs, mode: o.mode, trace: o.trace };
    const node = new AudioWorkletNode(ctx, "veza-player", { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [channels], processorOptions });
    const gain = ctx.createGain();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    node.connect(gain).connect(analyser).connect(ctx.destination);
    return new AudioOutput(ctx, node, gain, analyser);
  }

  /** Whether the context is rendering (not held by the autoplay policy or suspended). */
  get running(): boolean {
    return this.ctx.state === "running";
  }

  /** Starts rendering; needs a user gesture where the autoplay policy applies. Returns whether it runs. */
  async resume(): Promise<boolean> {
    if (this.ctx.state === "suspended") await Promise.race([this.ctx.resume(), new Promise((r) => setTimeout(r, 300))]);
    return this.running;
  }

  async suspend(): Promise<void> {
    if (this.ctx.state === "running") await this.ctx.suspend();
  }

  /**
   * Queues decoded PCM of the frame at `mediaTime` (samples at 48 kHz); `ageMs` is the time since
   * the frame arrived in the page, `arrivalClusterUs` that arrival in cluster time (null if unknown).
   */
  push(planes: Float32Array[], mediaTime: number, ageMs: number, arrivalClusterUs: number | null): void {
    const msg: PlayerIn = { type: "pcm", planes, mediaTime, ageMs, arrivalClusterUs };
    this.node.port.postMessage(msg, planes.map((p) => p.buffer as ArrayBuffer));
  }

  /** Drops buffered audio (and, in sync mode, the ticks): a new socket starts again from the live edge. */
  reset(): void {
    this.post({ type: "reset" });
  }

  /** Switches between synchronised playout and the jitter buffer. */
  setMode(mode: PlayoutMode): void {
    this.post({ type: "mode", mode });
  }

  /** Passes a sync tick of the stream to the worklet. */
  addTick(tick: SyncTick): void {
    this.post({ type: "tick", tick });
  }

  /** Passes the latest device clock map (where context frames are heard in cluster time); null: not known. */
  setClock(map: DeviceClockMap | null): void {
    this.post({ type: "clock", map });
  }

  private post(msg: PlayerIn): void {
    this.node.port.postMessage(msg);
  }

  /** Volume, 0..1 (linear gain), with a 20 ms glide. */
  setVolume(volume: number): void {
    this.gain.gain.setTargetAtTime(Math.max(0, Math.min(1, volume)), this.ctx.currentTime, 0.02);
  }

  /** Time from the destination node to the listener's ear: base + output latency, ms. */
  get outputLatencyMs(): number {
    return ((this.ctx.baseLatency || 0) + (this.ctx.outputLatency || 0)) * 1000;
  }

  /** The worklet's latest report, or null before the first. */
  get lastReport(): PlayerReport | null {
    return this.report;
  }

  /** RMS (linear) of the last 2048 rendered samples after the volume, read from the AnalyserNode. */
  renderedRms(): number {
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const x of this.samples) sum += x * x;
    return Math.sqrt(sum / this.samples.length);
  }

  async close(): Promise<void> {
    this.node.disconnect();
    await this.ctx.close();
  }
}
