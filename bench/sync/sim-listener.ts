/**
 * A simulated synchronised listener: the SDK's real clock sync (media/clock/clock-sync.ts), sync
 * ticks and device follower (media/clock/playout.ts) over a real WebSocket to a gateway, behind a
 * jitter link in each direction, with a virtual audio device that renders 128-sample blocks at
 * 48 kHz of its own (drifting, offset) clock. For every frame it records the true time its first
 * sample sounds: the ground truth the sync bench and tests measure.
 */
import WebSocket from "ws";
import { ClockPinger, DEFAULT_PING_SCHEDULE, type ClockPing, type PingSchedule } from "../../media/clock/clock-pinger";
import { ClockSync } from "../../media/clock/clock-sync";
import { clusterNowUs } from "../../media/clock/cluster-time";
import { DeviceFollower, PlayoutSchedule, type SyncTick } from "../../media/clock/playout";
import { decodeAudioData } from "../../media/wire";
import type { ServerMessage } from "../../media/wire/control";
import { JitterLink, type VirtualClock } from "./virtual-clock";

const BLOCK = 128;
const DEVICE_RATE = 48_000;
/** SYNC_PERFECT=1 gives the follower the true clock, to separate its error from clock sync's. */
const PERFECT_CLOCK = Boolean(process.env.SYNC_PERFECT);
/**
 * SYNC_TRUE_DRIFT=1 hands the clock sync its clock's true drift (ClockSyncOptions.knownDriftPpm),
 * so that it estimates the offset alone: the drift's share of the error (docs/benchmarks.md,
 * "Convergence after join").
 */
const TRUE_DRIFT = Boolean(process.env.SYNC_TRUE_DRIFT);

export interface SimListenerOptions {
  url: string;
  streamId: string;
  clock: VirtualClock;
  /** Jitter of each direction, ms (uniform 0..max). */
  upJitterMs: number;
  downJitterMs: number;
  random: () => number;
  /** Estimate the client clock's drift (tests switch it off). Default true. */
  compensateDrift?: boolean;
  /** Clock ping schedule. Default the SDK's. */
  pingSchedule?: PingSchedule;
}

/** What a simulated listener measured, as plain data (crosses process boundaries). */
export interface SimListenerResult {
  joinedAtUs: number;
  /** True time (µs) each frame's first sample sounded, by media time. */
  played: Map<number, number>;
  /** Play time minus the schedule's time (µs), by media time. */
  errors: Map<number, number>;
  /** Clock-sync error (estimated minus true cluster time, µs) at each frame's play time. */
  syncErrors: Map<number, number>;
  underruns: number;
  resyncs: number;
  /** True time (µs) of each hard resync. */
  resyncAtUs: number[];
  /** Drift estimated by the clock sync and the clock's true drift, ppm (opposite signs when right). */
  driftPpm: number;
  trueDriftPpm: number;
  /** Real (non-simulated) one-way delays of the clock exchanges, µs: sockets and event loops. */
  realDelayUs: RealDelays;
}

/**
 * One-way delays of each clock exchange with the simulated jitter taken out, µs, measured against
 * the machine clock every process shares: `up` from the ping's send to the gateway's t1, `down`
 * from the gateway's t2 to the pong's read. What the clock sync sees beyond the jitter under test.
 */
export interface RealDelays {
  up: number[];
  down: number[];
}

export class SimListener {
  readonly sync: ClockSync;
  readonly schedule = new PlayoutSchedule();
  readonly follower = new DeviceFollower();
  /** True time (µs) at which each frame's first sample sounded, by media time. */
  readonly played = new Map<number, number>();
  /** Play time minus the time the schedule asked for (µs), by media time: the listener's error. */
  readonly errors = new Map<number, number>();
  /** Clock-sync error at each frame's play time: estimated minus true cluster time (µs), by media time. */
  readonly syncErrors = new Map<number, number>();
  /** True time (µs) each frame arrived, by media time. */
  private readonly arrived = new Map<number, number>();
  /** Frames that had not arrived when their turn came. */
  underruns = 0;
  /** True time (µs) of each of the follower's hard resyncs. */
  private readonly resyncAtUs: number[] = [];
  joinedAtUs = 0;
  private ws: WebSocket | null = null;
  private readonly up: JitterLink;
  private readonly down: JitterLink;
  private pinger: ClockPinger | null = null;
  private nextBlockLocalUs = 0;
  private started = false;
  /** True send time of each ping in flight, µs, by ping id. */
  private readonly sentAtById = new Map<number, number>();
  readonly realDelayUs: RealDelays = { up: [], down: [] };

  constructor(private readonly o: SimListenerOptions) {
    // θ = cluster − local falls by (1 − 1/(1 + drift)) per µs of client time
    const knownDriftPpm = TRUE_DRIFT ? (1 / (1 + o.clock.driftPpm / 1e6) - 1) * 1e6 : undefined;
    this.sync = new ClockSync({ compensateDrift: o.compensateDrift ?? true, knownDriftPpm });
    this.up = new JitterLink(o.upJitterMs, o.random);
    this.down = new JitterLink(o.downJitterMs, o.random);
  }

  async start(): Promise<void> {
    const ws = new WebSocket(`${this.o.url}/ws/listen/${this.o.streamId}`);
    this.ws = ws;
    ws.on("message", (data: Buffer, isBinary) => {
      const downUs = this.down.delayUs();
      this.onMessage(data, isBinary, clusterNowUs() + downUs, downUs);
    });
    await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
    this.joinedAtUs = clusterNowUs();
    // a ping's t0 is read up-jitter before it is sent: that much more one-way delay
    const clientNowUs = () => this.o.clock.local(clusterNowUs() - this.up.delayUs());
    const send = (ping: ClockPing) => {
      this.sentAtById.set(ping.id, clusterNowUs());
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(ping));
    };
    this.pinger = new ClockPinger(this.sync, send, clientNowUs, this.o.pingSchedule ?? DEFAULT_PING_SCHEDULE, this.o.random);
    this.pinger.start();
    this.nextBlockLocalUs = this.o.clock.local();
    this.started = true;
  }

  result(): SimListenerResult {
    return {
      joinedAtUs: this.joinedAtUs,
      played: this.played,
      errors: this.errors,
      syncErrors: this.syncErrors,
      underruns: this.underruns,
      resyncs: this.follower.resyncs,
      resyncAtUs: this.resyncAtUs,
      driftPpm: this.sync.driftPpm,
      trueDriftPpm: this.o.clock.driftPpm,
      realDelayUs: this.realDelayUs,
    };
  }

  stop(): void {
    this.pinger?.stop();
    this.started = false;
    this.ws?.close();
  }

  /** `arrivedUs`: true time the message arrived, `downUs` of simulated jitter included. */
  private onMessage(data: Buffer, isBinary: boolean, arrivedUs: number, downUs: number): void {
    if (isBinary) {
      const frame = decodeAudioData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.arrived.set(frame.mediaTime, arrivedUs);
      return;
    }
    const msg = JSON.parse(data.toString()) as ServerMessage;
    if (msg.type === "clock.pong") {
      const t3 = this.o.clock.local(arrivedUs);
      this.pinger?.onPong(msg, t3);
      const sentAt = this.sentAtById.get(msg.id);
      this.sentAtById.delete(msg.id);
      if (sentAt !== undefined) {
        this.realDelayUs.up.push(msg.t1 - sentAt);
        this.realDelayUs.down.push(arrivedUs - downUs - msg.t2);
      }
    } else if (msg.type === "sync.tick") this.schedule.add(msg as SyncTick);
  }

  /**
   * Renders every device block due by now (local clock), recording when frames start sounding.
   * Call it often (every 10 ms): the blocks' times are virtual, so how late it runs only matters
   * if a frame arrives after its turn was rendered.
   */
  render(): void {
    if (!this.started) return;
    const clock = this.o.clock;
    const nowLocal = clock.local();
    const blockUs = (BLOCK / DEVICE_RATE) * 1e6;
    while (this.nextBlockLocalUs + blockUs <= nowLocal) {
      const l0 = this.nextBlockLocalUs;
      const l1 = l0 + blockUs;
      this.nextBlockLocalUs = l1;
      if (!this.sync.ready || !this.schedule.ready) continue;
      const toCluster = PERFECT_CLOCK ? (l: number) => clock.trueAt(l) : (l: number) => this.sync.toCluster(l);
      const resyncs = this.follower.resyncs;
      const plan = this.follower.plan(this.schedule, toCluster(l0), toCluster(l1), BLOCK);
      if (this.follower.resyncs > resyncs) this.resyncAtUs.push(clock.trueAt(l0));
      if (!plan) continue;
      const end = plan.start + plan.ratio * BLOCK;
      // frames start on multiples of 960 samples of media time (20 ms Opus frames)
      for (let m = Math.ceil(plan.start / 960) * 960; m < end; m += 960) {
        const trueUs = clock.trueAt(l0 + (((m - plan.start) / plan.ratio) * 1e6) / DEVICE_RATE);
        const arrivedUs = this.arrived.get(m);
        if (arrivedUs === undefined || arrivedUs > trueUs) {
          if (arrivedUs !== undefined || this.played.size > 0) this.underruns++;
          continue;
        }
        this.played.set(m, trueUs);
        const target = this.schedule.playoutUs(m);
        if (target !== undefined) this.errors.set(m, trueUs - target);
        const local = clock.local(trueUs);
        this.syncErrors.set(m, this.sync.toCluster(local) - trueUs);
        this.arrived.delete(m);
      }
    }
  }
}
