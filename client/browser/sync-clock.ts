/**
 * The page's half of synchronised playout: it learns where the audio device's frames are heard in
 * cluster time and tells the player's worklet.
 *
 *  - Clock sync: a {@link ClockPinger} sends clock.ping over the listener socket (a burst at each
 *    (re)connection, then slower; docs/protocol.md) and feeds each clock.pong, with t3 read when
 *    its message arrived, into a {@link ClockSync} (offset and drift of the client clock against
 *    cluster time).
 *  - Audio clock: an {@link AudioClock} fits "context frame → client time" to getOutputTimestamp().
 *  - Every 100 ms the two compose into a {@link DeviceClockMap} "frame F is heard at cluster time
 *    C0 + (F − F0)·usPerFrame" for the worklet; both are lines, so the map is exact between updates.
 *
 * The map is given only once the clock sync has had `minExchanges` exchanges (about 200 ms of the
 * join burst) and one of them had a round trip under `startRttUs` (its offset error is at most
 * half the round trip), or the 2 s burst is over; and the audio clock has 3 points. So the first
 * audible frame is already in sync. (Measured in Chromium: pages loading on a busy machine see
 * round trips of 5 ms in their first 50 exchanges, and an offset 0.4 ms off.)
 *
 * The clock sync estimates drift only once its window spans 5 s: over a 1 s window, in a page
 * still loading on a busy machine, the lower envelopes' slopes were off by hundreds of ppm and
 * moved the offset by up to 1 ms (measured). With real drift d the offset before then is off by at
 * most d × 2.5 s (125 µs at 50 ppm; a system clock under NTP drifts a few ppm).
 */
import { ClockPinger } from "../../media/clock/clock-pinger";
import { ClockSync } from "../../media/clock/clock-sync";
import type { ListenConnection } from "../core/listen-connection";
import type { SyncClockStats } from "../core/stats";
import type { DeviceClockMap } from "../core/sync-playout";
import { AudioClock } from "./audio-clock";

export type { SyncClockStats };

/** getOutputTimestamp() is read this often, ms. */
const SAMPLE_EVERY_MS = 50;
/** The map is sent every this many samples (100 ms). */
const MAP_EVERY = 2;
/** After this long of pinging, the clock is taken as ready whatever the round trips, ms (the join burst's length). */
const START_WAIT_MS = 2000;

export interface SyncClockOptions {
  /**
   * The client clock, µs, at a performance-timeline time (ms). Default the wall clock the page
   * sees: (performance.timeOrigin + t) × 1000. Tests pass a skewed one to exercise clock sync.
   */
  clientUs?: (performanceMs: number) => number;
  /** Exchanges needed before the map is given. Default 50. */
  minExchanges?: number;
  /** A round trip at least this short is needed too (until the 2 s join burst is over), µs. Default 1000. */
  startRttUs?: number;
  /** Whether to use clock sync; false takes cluster time = client clock (a negative control for tests). Default true. */
  clockSync?: boolean;
}

export class SyncClock {
  readonly sync = new ClockSync({ driftAfterUs: 5e6 });
  private readonly pinger: ClockPinger;
  private readonly clientUs: (performanceMs: number) => number;
  private audio: AudioClock | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private count = 0;
  /** performance.now() when pinging (re)started, ms. */
  private pingStartMs = 0;
  /** Whether the clock sync was once good enough (it stays so: a reconnect keeps what it learnt). */
  private wasReady = false;
  private readonly offs: Array<() => void>;

  /** @param onMap called with each new device clock map */
  constructor(
    private readonly connection: ListenConnection,
    private readonly onMap: (map: DeviceClockMap | null) => void,
    private readonly o: SyncClockOptions = {},
  ) {
    this.clientUs = o.clientUs ?? ((t) => (performance.timeOrigin + t) * 1000);
    this.pinger = new ClockPinger(this.sync, (ping) => void connection.sendJson(ping), () => this.clientUs(performance.now()));
    this.offs = [
      connection.on("clockPong", ({ pong, arrivalMs }) => this.pinger.onPong(pong, this.clientUs(arrivalMs))),
      connection.on("state", (s) => (s.state === "open" ? this.startPinging() : this.pinger.stop())),
    ];
    if (connection.state.state === "open") this.startPinging();
  }

  /**
   * Starts following the audio device of `ctx` (once the player's graph exists), or starts the
   * audio clock's fit again (after a suspend: the context's timeline stood still while time went
   * on), with no map until it has its points again.
   */
  attach(ctx: AudioContext): void {
    this.audio = new AudioClock(ctx, this.clientUs);
    this.onMap(null);
    this.timer ??= setInterval(() => this.step(), SAMPLE_EVERY_MS);
  }

  /** Cluster time (µs) at a performance-timeline time (ms), or null before the clock sync is ready. */
  clusterAt(performanceMs: number): number | null {
    return this.clockReady ? this.toCluster(this.clientUs(performanceMs)) : null;
  }

  stop(): void {
    this.pinger.stop();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const off of this.offs) off();
  }

  stats(): SyncClockStats {
    const ready = this.clockReady && (this.audio?.ready ?? false);
    const synced = this.sync.samples > 0;
    return {
      ready,
      offsetMs: synced ? this.sync.offsetAt(this.clientUs(performance.now())) / 1000 : null,
      clientDriftPpm: synced ? this.sync.driftPpm : null,
      deviceDriftPpm: this.audio?.driftPpm ?? null,
      minRttMs: synced ? this.sync.minRttUs / 1000 : null,
      exchanges: this.pinger.received,
      audioClockRestarts: this.audio?.restarts ?? 0,
    };
  }

  private startPinging(): void {
    this.pingStartMs = performance.now();
    this.pinger.start();
  }

  /** Whether the clock sync is good enough to play by (sticks once true: after a reconnect it keeps what it learnt). */
  private get clockReady(): boolean {
    if (this.o.clockSync === false || this.wasReady) return true;
    const enough = this.pinger.received >= (this.o.minExchanges ?? 50);
    const close = this.sync.minRttUs <= (this.o.startRttUs ?? 1000) || performance.now() - this.pingStartMs >= START_WAIT_MS;
    this.wasReady = enough && close;
    return this.wasReady;
  }

  private toCluster(localUs: number): number {
    return this.o.clockSync === false ? localUs : this.sync.toCluster(localUs);
  }

  private step(): void {
    const audio = this.audio;
    if (!audio) return;
    audio.sample();
    const line = audio.current;
    if (++this.count % MAP_EVERY !== 0 || !line || !this.clockReady) return;
    // two points of the composed line, one second of device frames apart
    const span = 48_000;
    const c0 = this.toCluster(line.localUs);
    const c1 = this.toCluster(line.localUs + span * line.usPerFrame);
    this.onMap({ frame: line.frame, clusterUs: c0, usPerFrame: (c1 - c0) / span });
  }
}
