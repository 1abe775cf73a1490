/**
 * Playout: when each media sample must sound, in cluster time, and how a client's audio device
 * follows it. A sync tick gives the stream's clock mapping (media time → cluster time), the
 * playout delay, and the media time from which it applies; every client switches to a new mapping
 * at that same sample, so all play the same sample at the same cluster time.
 *
 * The device follower runs per render block: it compares the media position it is playing with the
 * position the mapping asks for at the block's cluster time (through the client's clock sync), and
 * sets a resampling ratio = the feed-forward rate plus a proportional correction, clamped to
 * ±`maxCorrectionPpm` around the feed-forward rate. Fractional resampling, not inserting or dropping
 * whole samples (Snapcast's way), keeps the phase error well under one sample (20.8 µs at 48 kHz);
 * a hard resync jumps the position when the error passes `hardResyncUs`.
 */
import { clusterTimeOf, type ClockMapping } from "./media-clock";

/** A sync tick as sent to listeners (docs/protocol.md, `sync.tick`). */
export interface SyncTick extends ClockMapping {
  /** The mapping applies to media time ≥ validFrom (samples). */
  validFrom: number;
  /** Added to the mapping's cluster time: when the sample sounds, ms. */
  playoutDelayMs: number;
}

/** The ticks a client holds: the one in force and those pending, by validFrom. */
export class PlayoutSchedule {
  private ticks: SyncTick[] = [];

  add(tick: SyncTick): void {
    this.ticks = this.ticks.filter((t) => t.validFrom !== tick.validFrom);
    this.ticks.push(tick);
    this.ticks.sort((a, b) => a.validFrom - b.validFrom);
    // keep the latest tick in force for the oldest sample still wanted, and all later ones
    while (this.ticks.length > 4) this.ticks.shift();
  }

  clear(): void {
    this.ticks = [];
  }

  get ready(): boolean {
    return this.ticks.length > 0;
  }

  /** The tick in force for media time `m`. */
  tickFor(m: number): SyncTick | undefined {
    let found: SyncTick | undefined;
    for (const t of this.ticks) if (t.validFrom <= m) found = t;
    return found ?? this.ticks[0];
  }

  /** Cluster time (µs) at which media sample `m` sounds. */
  playoutUs(m: number): number | undefined {
    const t = this.tickFor(m);
    return t ? clusterTimeOf(t, m) + t.playoutDelayMs * 1000 : undefined;
  }

  /** The tick in force at cluster time `clusterUs`: the latest whose first sample has sounded by then. */
  tickAt(clusterUs: number): SyncTick | undefined {
    let found: SyncTick | undefined;
    for (const t of this.ticks) if (clusterTimeOf(t, t.validFrom) + t.playoutDelayMs * 1000 <= clusterUs) found = t;
    return found ?? this.ticks[0];
  }

  /** The media sample that should sound at cluster time `clusterUs` (inverse of playoutUs). */
  mediaAt(clusterUs: number): number | undefined {
    const t = this.tickAt(clusterUs);
    return t && mediaTimeAt(t, clusterUs);
  }
}

/** The media sample (fractional) sounding at cluster time `clusterUs` by `tick`'s mapping. */
function mediaTimeAt(tick: SyncTick, clusterUs: number): number {
  return tick.anchorMediaTime + ((clusterUs - tick.playoutDelayMs * 1000 - tick.anchorClusterUs) * tick.rateHz) / 1e6;
}

export interface FollowerOptions {
  /** Device samples per second of the device's own clock. Default 48000. */
  deviceRate?: number;
  /** Time constant of the phase correction, s. Default 0.2. */
  correctionTimeS?: number;
  /** Largest correction around the feed-forward ratio, ppm. Default 500. */
  maxCorrectionPpm?: number;
  /** Phase error that triggers a hard resync, µs. Default 2000. */
  hardResyncUs?: number;
  /**
   * Phase error that triggers a hard resync at the first block under a new tick, µs. Default 500.
   * Every listener switches to a tick at the same sample, so a mapping that moved (the owner's
   * estimate improving) is followed by all at once, not by seconds of slewing at 500 ppm.
   */
  tickStepResyncUs?: number;
}

/** What to play for one render block. */
export interface BlockPlan {
  /** Media position (samples, fractional) of the block's first device sample. */
  start: number;
  /** Media samples per device sample for this block. */
  ratio: number;
  /** The feed-forward part of `ratio`: the rate of the tick in force over the block's duration. */
  feedForward: number;
  /** Phase error before the block: position played minus position wanted, µs. */
  errorUs: number;
  /** Whether the position jumped (hard resync). */
  resynced: boolean;
}

/**
 * Follows the schedule with a device: `plan(tStartCluster, tEndCluster, frames)` is called per
 * block with the cluster times of its first sample and of the sample after its last. Cluster µs
 * since 1970 (about 1.8e15) are exact to 0.25 µs in a double, so the block's duration, and with it
 * the feed-forward ratio, carries ±0.25 µs / block length of noise (94 ppm for 128 samples): a
 * 0.25 µs phase jitter that the error feedback keeps from adding up. Callers that want a clean
 * ratio pass times relative to an epoch of their own (the schedule's mapping must then use it too).
 */
export class DeviceFollower {
  /** Media position of the next device sample, or null before the first block. */
  position: number | null = null;
  resyncs = 0;
  /** The tick in force at the last block. */
  private tick: SyncTick | undefined;

  constructor(private readonly opts: FollowerOptions = {}) {}

  /** Jumps to the wanted position at the next block (the device's timeline stepped: its output already glitched). */
  resync(): void {
    if (this.position !== null) this.resyncs++;
    this.position = null;
  }

  plan(schedule: PlayoutSchedule, startClusterUs: number, endClusterUs: number, frames: number): BlockPlan | null {
    const tick = schedule.tickAt(startClusterUs);
    if (!tick) return null;
    const want0 = mediaTimeAt(tick, startClusterUs);
    const newTick = this.tick !== undefined && tick !== this.tick;
    this.tick = tick;
    const rate = tick.rateHz;
    // the rate of the mapping in force, not the wanted positions' difference: a new tick taking effect inside the block
    // may move the mapping by milliseconds, which must be a phase error (resynced at the next
    // block past tickStepResyncUs, else corrected), never a one-block ratio of 3 (a chirp)
    const feedForward = ((endClusterUs - startClusterUs) * rate) / 1e6 / frames;
    let resynced = false;
    const bound = newTick ? (this.opts.tickStepResyncUs ?? 500) : (this.opts.hardResyncUs ?? 2_000);
    if (this.position === null || Math.abs(((this.position - want0) * 1e6) / rate) > bound) {
      resynced = this.position !== null;
      if (resynced) this.resyncs++;
      this.position = want0;
    }
    const errorSamples = this.position - want0;
    const errorUs = (errorSamples * 1e6) / rate;
    const tau = (this.opts.correctionTimeS ?? 0.2) * (this.opts.deviceRate ?? 48_000);
    const max = ((this.opts.maxCorrectionPpm ?? 500) / 1e6) * feedForward;
    const correction = Math.max(-max, Math.min(max, -errorSamples / tau));
    const ratio = feedForward + correction;
    const start = this.position;
    this.position += ratio * frames;
    return { start, ratio, feedForward, errorUs, resynced };
  }
}
