/**
 * Drives a {@link ClockSync} over a listener socket: sends `clock.ping` messages on a schedule
 * (a burst at join for fast convergence, then settling, then steady) and feeds each `clock.pong`
 * into the filter. Transport-free: the caller gives `send` and the client clock, so the same code
 * runs in the browser SDK and in the sync bench's simulated listeners (docs/protocol.md,
 * "clock.ping / clock.pong").
 */
import type { ClockPongMessage } from "../wire/control";
import type { ClockSync } from "./clock-sync";

/** `{"type":"clock.ping","id":n,"t0":µs}`, the listener's half of the exchange. */
export interface ClockPing {
  type: "clock.ping";
  id: number;
  /** Client clock at send, µs. */
  t0: number;
}

/** Ping intervals, ms, by time since start. */
export interface PingSchedule {
  /** Interval during the burst (first `burstForMs`). Default 2 (browsers clamp to 4). */
  burstMs: number;
  burstForMs: number;
  /** Interval while settling (until `settleForMs`). */
  settleMs: number;
  settleForMs: number;
  /** Interval afterwards. */
  steadyMs: number;
}

/**
 * Each interval is drawn uniformly from 0.5–1.5 × the nominal one: periodic load on either end
 * (audio frames fanned out every 20 ms, render callbacks) would otherwise keep a fixed phase to
 * the pings and delay every one of them alike, so the floor of the delay would never be seen
 * (NTP randomises its poll for the same reason, RFC 5905 §13).
 *
 * Default schedule: 2 s of 2 ms pings (about 1000 exchanges, enough for the floors of 0–20 ms
 * jitter to come within tens of µs and for a first drift estimate), 5 ms to 15 s, then 20 ms.
 * The steady rate costs one small text message each way per 20 ms per listener; a gateway with
 * many listeners on a quiet LAN can use a slower steady rate (the error of the floor grows as
 * jitter / samples in the window).
 */
export const DEFAULT_PING_SCHEDULE: PingSchedule = { burstMs: 2, burstForMs: 2_000, settleMs: 5, settleForMs: 15_000, steadyMs: 20 };

/**
 * Pings a schedule sends in its first `ms` ms (nominal: the dither's mean factor is 1), which is
 * what a gateway answers for one listener by then. A schedule costs a gateway no more than the
 * default when `pingsBy(schedule, t) ≤ pingsBy(DEFAULT_PING_SCHEDULE, t)` at every t.
 */
export function pingsBy(schedule: PingSchedule, ms: number): number {
  const { burstMs, burstForMs, settleMs, settleForMs, steadyMs } = schedule;
  const burst = Math.min(ms, burstForMs);
  const settle = Math.max(0, Math.min(ms, settleForMs) - burstForMs);
  const steady = Math.max(0, ms - Math.max(burstForMs, settleForMs));
  return burst / burstMs + settle / settleMs + steady / steadyMs;
}

export class ClockPinger {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private startedAtUs = 0;
  private nextId = 0;
  /** Pings sent and pongs taken. */
  sent = 0;
  received = 0;

  constructor(
    readonly sync: ClockSync,
    /** Sends one ping on the socket (returns nothing; a closed socket just drops it). */
    private readonly send: (ping: ClockPing) => void,
    /** The client clock, µs (e.g. (performance.timeOrigin + performance.now()) × 1000). */
    private readonly clientNowUs: () => number,
    private readonly schedule: PingSchedule = DEFAULT_PING_SCHEDULE,
    /** Uniform random numbers in [0, 1), to dither the intervals. */
    private readonly random: () => number = Math.random,
  ) {}

  /** Starts (or restarts, after a reconnect: the burst again) pinging. Keeps what ClockSync learnt. */
  start(): void {
    this.stop();
    this.startedAtUs = this.clientNowUs();
    this.tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Takes a pong; `t3Us` is the client clock when it arrived (read it as early as possible). */
  onPong(pong: Pick<ClockPongMessage, "t0" | "t1" | "t2">, t3Us: number): void {
    this.received++;
    this.sync.add(pong.t0, pong.t1, pong.t2, t3Us);
  }

  private tick(): void {
    this.send({ type: "clock.ping", id: ++this.nextId, t0: this.clientNowUs() });
    this.sent++;
    const interval = pingIntervalMs(this.schedule, (this.clientNowUs() - this.startedAtUs) / 1000);
    this.timer = setTimeout(() => this.tick(), interval * (0.5 + this.random()));
  }
}

/** The mean interval (ms) of `schedule` `sinceMs` ms after the first ping: burst, settle or steady; each actual wait is this × [0.5, 1.5). */
export function pingIntervalMs(schedule: PingSchedule, sinceMs: number): number {
  return sinceMs < schedule.burstForMs ? schedule.burstMs : sinceMs < schedule.settleForMs ? schedule.settleMs : schedule.steadyMs;
}
