/**
 * Synchronised playout of one listener, per audio render block: media time m sounds at the cluster
 * time the stream's sync ticks give (anchor + (m − anchorMediaTime)/rateHz + playoutDelay), so all
 * listeners of a stream, on any gateway, play the same sample at the same moment.
 *
 * Per block of `frames` device samples starting at context frame F:
 *  1. the device clock map (from the page: AudioContext.getOutputTimestamp composed with the clock
 *     sync) gives the cluster times at which frames F and F + frames are heard, output latency
 *     included;
 *  2. a {@link DeviceFollower} (media/clock/playout.ts) turns them into the media position of the
 *     block's first sample and a resampling ratio: the feed-forward rate (broadcaster rate × device
 *     drift) plus a proportional phase correction (τ 0.2 s) clamped to ±500 ppm, or a hard resync
 *     (a jump) when the phase error passes 2 ms;
 *  3. the block is read from the decoded PCM at `start + i·ratio` with cubic Hermite interpolation
 *     ({@link PcmTimeline}); media not held (late or lost frames) plays as silence.
 *
 * Resampling, not inserting or dropping single samples (Snapcast's way): a dropped sample is a
 * 20.8 µs step of phase error and a click at every correction; resampling moves the phase
 * continuously, so the error stays at the follower's (a few µs), and a 500 ppm rate change is
 * 0.9 cent of pitch, which nobody hears.
 *
 * Nothing sounds until a clock map and a tick are in force, so a listener joining mid-stream is in
 * sync from its first audible sample. Pure (no Web Audio): the player's AudioWorklet runs it, and
 * Node tests can.
 */
import { DeviceFollower, PlayoutSchedule, type FollowerOptions, type SyncTick } from "../../media/clock/playout";
import { MEDIA_CLOCK_HZ } from "../../media/wire/constants";
import { PcmTimeline } from "./pcm-timeline";

/** A new device clock map that moves the timeline by more than this (µs) makes a hard resync. */
const MAP_STEP_US = 500;
/** Frames whose start is awaited at most (their arrival times are kept until they sound). */
const MAX_PENDING_FRAMES = 512;

/** Where the audio device's sample frames are heard: frame F sounds at cluster time `clusterUs + (F − frame)·usPerFrame` (µs). */
export interface DeviceClockMap {
  /** A context sample frame (AudioWorkletGlobalScope.currentFrame timeline). */
  frame: number;
  /** Cluster time (µs since the Unix epoch) at which `frame` is heard. */
  clusterUs: number;
  /** Cluster µs per device frame (1e6/48000 × (1 + the device's drift against cluster time)). */
  usPerFrame: number;
}

/** What synchronised playout did since the last {@link SyncPlayout.takeStats}. */
export interface SyncPlayoutStats {
  /** "waiting" for a clock map and a tick (silent); "playing" media; "starved": following, but no media held at the position. */
  state: "waiting" | "playing" | "starved";
  /** Phase error at the last block: media position played − position wanted, µs; null while waiting. */
  errorUs: number | null;
  /** Largest |phase error| over the window, µs; null if no block was played. */
  maxErrorUs: number | null;
  /** Resampling ratio of the last block against the feed-forward rate (the phase correction), ppm. */
  correctionPpm: number | null;
  /** Feed-forward rate of the last block: media samples per device sample − 1, ppm (broadcaster and device drift). */
  ratePpm: number | null;
  /** The tick in force: playout delay, ms. */
  playoutDelayMs: number | null;
  /** Media held from the playout position on without a gap, ms. */
  leadMs: number;
  /** Mean time from a frame's arrival in the page to the moment it is heard (cluster clock), ms; null if none started. */
  delayMs: number | null;
  /** Frames that started sounding in the window. */
  chunksPlayed: number;
  /** Totals since creation: */
  samplesPlayed: number;
  /** Gaps: blocks with media missing after a block that had it all. */
  underruns: number;
  resyncs: number;
}

export interface SyncPlayoutOptions extends FollowerOptions {
  /** Record [media time, context frame] of each frame start, for measurements. Default false. */
  trace?: boolean;
}

export class SyncPlayout {
  /**
   * The ticks, with cluster times relative to {@link epochUs}. Absolute cluster µs (about 1.8e15)
   * are only good to 0.25 µs in a double, which over a 128-sample block (2667 µs) would make the
   * follower's feed-forward rate jump in steps of 94 ppm; relative ones are good to nanoseconds.
   */
  private readonly schedule = new PlayoutSchedule();
  /** Cluster µs subtracted from every cluster time kept here: the first tick's or map's, whole µs. */
  private epochUs: number | null = null;
  private readonly follower: DeviceFollower;
  private readonly pcm = new PcmTimeline();
  /** Arrival (cluster µs, or null if the clock was not ready) of each frame not yet started, by media time. */
  private readonly arrivals = new Map<number, number | null>();
  private map: DeviceClockMap | null = null;
  private state: SyncPlayoutStats["state"] = "waiting";
  private last: { errorUs: number; correctionPpm: number; ratePpm: number } | null = null;
  private maxErrorUs: number | null = null;
  private delaySum = 0;
  private delayCount = 0;
  private started = 0;
  private samplesPlayed = 0;
  private underruns = 0;
  private wasWhole = false;
  private traced: number[] = [];

  constructor(private readonly o: SyncPlayoutOptions = {}) {
    this.follower = new DeviceFollower(o);
  }

  /** Adds a sync tick (docs/protocol.md, sync.tick). */
  addTick(tick: SyncTick): void {
    this.schedule.add({ ...tick, anchorClusterUs: tick.anchorClusterUs - this.epoch(tick.anchorClusterUs) });
  }

  /** Sets the device clock map (the page re-sends it as its estimate improves); null: none (silent until the next). */
  setClock(map: DeviceClockMap | null): void {
    const next = map && { ...map, clusterUs: map.clusterUs - this.epoch(map.clusterUs) };
    // a map that moves the device's timeline by more than MAP_STEP_US (the device glitched, or its
    // clock was refitted after a step) is followed by a jump at once, not by seconds of slewing at 500 ppm
    const before = next && this.relativeAt(next.frame);
    if (next && before !== null && Math.abs(next.clusterUs - before) > MAP_STEP_US) this.follower.resync();
    this.map = next;
  }

  /** Cluster time (µs) at which media time `m` is to sound, by the ticks held; undefined without one. */
  playoutUs(m: number): number | undefined {
    const t = this.schedule.playoutUs(m);
    return t === undefined || this.epochUs === null ? undefined : t + this.epochUs;
  }

  /** Decoded PCM of the frame at media time `mediaTime`; `arrivalClusterUs`: its arrival in the page, cluster µs (null if unknown). */
  push(mediaTime: number, planes: Float32Array[], arrivalClusterUs: number | null): void {
    this.pcm.put(mediaTime, planes);
    this.arrivals.set(mediaTime, arrivalClusterUs);
    // while waiting nothing is played: forget the oldest (a Map iterates in insertion order)
    if (this.arrivals.size > MAX_PENDING_FRAMES) this.arrivals.delete(this.arrivals.keys().next().value as number);
  }

  /** A new socket: its ticks and media time may be a new stream's, so drop ticks and media (keep the clock and the phase). */
  reset(): void {
    this.schedule.clear();
    this.pcm.clear();
    this.arrivals.clear();
  }

  /** Cluster time (µs) at which context frame `frame` is heard, or null without a clock map. */
  clusterAt(frame: number): number | null {
    const t = this.relativeAt(frame);
    return t === null || this.epochUs === null ? null : t + this.epochUs;
  }

  /** {@link clusterAt} less the epoch. */
  private relativeAt(frame: number): number | null {
    const m = this.map;
    return m ? m.clusterUs + (frame - m.frame) * m.usPerFrame : null;
  }

  private epoch(clusterUs: number): number {
    this.epochUs ??= Math.round(clusterUs);
    return this.epochUs;
  }

  /** Renders `frames` samples per channel of `out` for the block starting at context frame `frame`. */
  render(out: Float32Array[], frames: number, frame: number): void {
    const c0 = this.relativeAt(frame);
    const c1 = this.relativeAt(frame + frames);
    const plan = c0 === null || c1 === null || !this.schedule.ready ? null : this.follower.plan(this.schedule, c0, c1, frames);
    if (!plan || c0 === null || c1 === null) {
      this.state = "waiting";
      for (const ch of out) ch.fill(0, 0, frames);
      return;
    }
    this.last = { errorUs: plan.errorUs, correctionPpm: (plan.ratio / plan.feedForward - 1) * 1e6, ratePpm: (plan.feedForward - 1) * 1e6 };
    this.maxErrorUs = Math.max(this.maxErrorUs ?? 0, Math.abs(plan.errorUs));
    this.pcm.dropBefore(plan.start - 2);
    const { missing } = this.pcm.read(out, plan.start, plan.ratio, frames);
    const whole = missing === 0;
    if (!whole && this.wasWhole) this.underruns++;
    this.wasWhole = whole;
    this.state = missing === frames ? "starved" : "playing";
    if (missing < frames) this.samplesPlayed += frames - missing;
    this.frameStarts(plan.start, plan.start + plan.ratio * frames, plan.ratio, frame);
  }

  /** Notes the frames whose first sample falls in this block: their delay, and the trace. */
  private frameStarts(start: number, end: number, ratio: number, frame: number): void {
    for (const [m, arrival] of this.arrivals) {
      if (m >= end) continue;
      this.arrivals.delete(m);
      if (m < start) continue; // came too late: it never sounded from its start
      const f = frame + (m - start) / ratio;
      const heard = this.relativeAt(f);
      if (arrival !== null && heard !== null && this.epochUs !== null) {
        this.delaySum += (heard - (arrival - this.epochUs)) / 1000;
        this.delayCount++;
      }
      this.started++;
      if (this.o.trace) this.traced.push(m, f);
    }
  }

  /** Counters and the window's figures since the last call (which starts a new window). */
  takeStats(): SyncPlayoutStats {
    const start = this.follower.position;
    const stats: SyncPlayoutStats = {
      state: this.state,
      errorUs: this.state === "waiting" ? null : (this.last?.errorUs ?? null),
      maxErrorUs: this.maxErrorUs,
      correctionPpm: this.last?.correctionPpm ?? null,
      ratePpm: this.last?.ratePpm ?? null,
      playoutDelayMs: this.schedule.tickFor(start ?? Number.MAX_SAFE_INTEGER)?.playoutDelayMs ?? null,
      leadMs: start === null ? 0 : (this.pcm.contiguousFrom(Math.floor(start)) * 1000) / MEDIA_CLOCK_HZ,
      delayMs: this.delayCount ? this.delaySum / this.delayCount : null,
      chunksPlayed: this.started,
      samplesPlayed: this.samplesPlayed,
      underruns: this.underruns,
      resyncs: this.follower.resyncs,
    };
    this.maxErrorUs = null;
    this.delaySum = 0;
    this.delayCount = 0;
    this.started = 0;
    return stats;
  }

  /** The trace since the last call: flat pairs [media time, context frame (fractional) at which that frame starts sounding]. */
  takeTrace(): number[] {
    const t = this.traced;
    this.traced = [];
    return t;
  }
}
