/**
 * Cluster time that does not trust the machines' clocks: a gateway estimates the offset and drift
 * of its clock to each stream owner's, over the media bus, with the same four-timestamp exchange
 * (RFC 5905 §8) and filter ({@link ClockSync}: lower hulls of both directions, the slope's
 * posterior mean) that its listeners use with it, and maps the owner's sync ticks into its own
 * clock before its listeners get them (gateway/gateway.ts). Listeners sync to their gateway's
 * clock, so two gateways whose clocks disagree by milliseconds and hundreds of ppm still give
 * their listeners the same playout instants (docs/protocol.md, "Cluster time").
 *
 * Wire (raw media-bus messages, JSON, tens of bytes):
 * - `clock.ping.<node>` ← `{"id":n,"t0":µs,"from":"<asker's node id>"}` (t0 on the asker's clock);
 * - `clock.pong.<asker>` → `{"id":n,"t0":µs,"t1":µs,"t2":µs,"by":"<answerer's node id>"}` (t1 receive and t2 send on the answerer's clock).
 * `<node>` in a subject, and `from`, are the node id with every character outside `[A-Za-z0-9_-]`
 * replaced by `_` (a NATS token); `by` is the answerer's node id itself.
 *
 * Schedule per peer: a burst every 2 ms for 1 s, every 5 ms to 30 s, then every 10 ms (100 exchanges
 * a second per gateway and owner pair, a few kB/s), dithered 0.5–1.5× like the listeners' pings. On
 * one machine, NATS round trips of 215–390 µs, the estimate's error over 60 s was p50 20–23 µs, max
 * 44–51 µs, and 0.25–0.4 ppm (max 6–11 ppm in the first seconds), with or without the owner's clock
 * skewed 15 ms and 100 ppm (bench/sync/peer-clock.ts; docs/benchmarks.md, "Sync"). An
 * estimate is *ready* once its exchanges span {@link READY_AFTER_US}: before, the gateway holds the
 * owner's ticks back (its listeners stay silent) rather than serve times it does not know.
 */
import type { Logger } from "pino";
import { ClockPinger, type ClockPing, type PingSchedule } from "../../media/clock/clock-pinger";
import { ClockSync } from "../../media/clock/clock-sync";
import { clusterNowUs } from "../../media/clock/cluster-time";
import type { SyncTick } from "../../media/clock/playout";
import type { MediaBus } from "../../transports";
import type { NodeMetrics } from "../metrics";

/** The peers' ping schedule (ms; see the module doc). */
export const PEER_PING_SCHEDULE: PingSchedule = { burstMs: 2, burstForMs: 1_000, settleMs: 5, settleForMs: 30_000, steadyMs: 10 };
/** An estimate is ready once its exchanges span this long, µs: the burst has given its floors and a first drift. */
export const READY_AFTER_US = 1e6;
/** A peer not asked about for this long is no longer pinged, ms. */
const IDLE_AFTER_MS = 60_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The media-bus subject token of a node id. */
export const nodeToken = (nodeID: string): string => nodeID.replace(/[^A-Za-z0-9_-]/g, "_");

/** What /ready and the admin console show of one peer's estimate. */
export interface PeerClockState {
  peer: string;
  ready: boolean;
  /** Peer clock minus this node's, now, µs. */
  offsetUs: number;
  /** Peer clock's rate against this node's, ppm (positive: the peer's runs faster). */
  driftPpm: number;
  /** Smallest round trip seen, µs. */
  minRttUs: number;
  exchanges: number;
}

interface Peer {
  sync: ClockSync;
  pinger: ClockPinger;
  usedAt: number;
  wasReady: boolean;
}

export class PeerClocks {
  private readonly peers = new Map<string, Peer>();
  private readonly readyListeners: Array<(peer: string) => void> = [];
  private unsubscribes: Array<() => void> = [];
  private sweep: NodeJS.Timeout | null = null;
  private readonly from: string;
  /** The pong's `by` field, as JSON. */
  private readonly by: string;

  constructor(
    private readonly bus: MediaBus,
    private readonly nodeID: string,
    /** false (PEER_CLOCK=off): every peer's clock is taken to be this node's (machines disciplined by PTP or a good NTP). */
    readonly enabled: boolean,
    private readonly metrics: NodeMetrics,
    private readonly log: Logger,
    /** This node's cluster time, µs (tests give a skewed one). */
    private readonly now: () => number = clusterNowUs,
  ) {
    this.from = nodeToken(nodeID);
    this.by = JSON.stringify(nodeID);
  }

  /** Answers every node's pings, and takes the answers to this node's. */
  start(): void {
    this.unsubscribes.push(this.bus.subscribe(`clock.ping.${this.from}`, (data) => this.answer(data)));
    this.unsubscribes.push(this.bus.subscribe(`clock.pong.${this.from}`, (data) => this.onPong(data)));
    this.sweep = setInterval(() => this.sweepPeers(), 1000);
    this.sweep.unref();
  }

  stop(): void {
    for (const u of this.unsubscribes) u();
    this.unsubscribes = [];
    if (this.sweep) clearInterval(this.sweep);
    for (const p of this.peers.values()) p.pinger.stop();
    this.peers.clear();
  }

  /** Calls `listener` with a peer whose estimate has just become ready. */
  onReady(listener: (peer: string) => void): void {
    this.readyListeners.push(listener);
  }

  /**
   * `tick` (on `peer`'s clock) mapped into this node's clock with the current estimate; the tick
   * itself for this node, or with the estimate switched off; null while the estimate is not
   * ready (pinging starts with the first call). The mapping is linear, so it maps exactly: the
   * anchor through the offset, the rate times (1 + drift).
   */
  mapTick(tick: SyncTick, peer: string): SyncTick | null {
    if (!this.enabled || peer === this.nodeID) return tick;
    const p = this.track(peer);
    if (!p.sync.ready) return null;
    const slope = p.sync.driftPpm / 1e6;
    return { ...tick, anchorClusterUs: p.sync.toLocal(tick.anchorClusterUs), rateHz: tick.rateHz * (1 + slope) };
  }

  /** Every tracked peer's estimate. */
  states(): PeerClockState[] {
    const now = this.now();
    return [...this.peers].map(([peer, p]) => ({
      peer,
      ready: p.sync.ready,
      offsetUs: Math.round(p.sync.offsetAt(now)),
      driftPpm: Math.round(p.sync.driftPpm * 100) / 100,
      minRttUs: Number.isFinite(p.sync.minRttUs) ? Math.round(p.sync.minRttUs) : -1,
      exchanges: p.sync.samples,
    }));
  }

  private track(peer: string): Peer {
    let p = this.peers.get(peer);
    if (!p) {
      const sync = new ClockSync({ readyAfterUs: READY_AFTER_US });
      const subject = `clock.ping.${nodeToken(peer)}`;
      const send = (ping: ClockPing) => this.bus.publish(subject, encoder.encode(JSON.stringify({ id: ping.id, t0: ping.t0, from: this.from })));
      p = { sync, pinger: new ClockPinger(sync, send, this.now, PEER_PING_SCHEDULE), usedAt: Date.now(), wasReady: false };
      this.peers.set(peer, p);
      p.pinger.start();
      this.log.info({ peer }, "estimating the clock of a stream owner");
    }
    p.usedAt = Date.now();
    return p;
  }

  private answer(data: Uint8Array): void {
    const t1 = this.now();
    let ping: { id?: unknown; t0?: unknown; from?: unknown };
    try {
      ping = JSON.parse(decoder.decode(data)) as typeof ping;
    } catch {
      return;
    }
    if (typeof ping.id !== "number" || typeof ping.t0 !== "number" || typeof ping.from !== "string" || !/^[A-Za-z0-9_-]{1,128}$/.test(ping.from)) return;
    this.bus.publish(`clock.pong.${ping.from}`, encoder.encode(`{"id":${ping.id},"t0":${ping.t0},"t1":${t1},"t2":${this.now()},"by":${this.by}}`));
  }

  private onPong(data: Uint8Array): void {
    const t3 = this.now();
    let pong: { t0?: unknown; t1?: unknown; t2?: unknown; by?: unknown };
    try {
      pong = JSON.parse(decoder.decode(data)) as typeof pong;
    } catch {
      return;
    }
    if (typeof pong.t0 !== "number" || typeof pong.t1 !== "number" || typeof pong.t2 !== "number" || typeof pong.by !== "string") return;
    const p = this.peers.get(pong.by);
    if (!p) return;
    p.pinger.onPong({ t0: pong.t0, t1: pong.t1, t2: pong.t2 }, t3);
    // readiness is the exchanges' span (no refit); the estimate itself is read when used
    if (p.wasReady || !p.sync.ready) return;
    p.wasReady = true;
    this.metrics.peerClockReady.set({ peer: pong.by }, 1);
    this.log.info({ peer: pong.by, offsetUs: Math.round(p.sync.offsetAt(t3)), driftPpm: Math.round(p.sync.driftPpm * 10) / 10, minRttUs: Math.round(p.sync.minRttUs) }, "clock of a stream owner estimated");
    for (const l of this.readyListeners) l(pong.by);
  }

  /**
   * Once a second: the offset and drift gauges of the ready estimates (read here, not on every
   * pong: a read refits an estimate that new exchanges made stale), and peers idle for
   * {@link IDLE_AFTER_MS} forgotten.
   */
  private sweepPeers(): void {
    const before = Date.now() - IDLE_AFTER_MS;
    for (const [peer, p] of this.peers) {
      if (p.usedAt > before) {
        if (!p.sync.ready) continue;
        this.metrics.peerClockOffset.set({ peer }, p.sync.offsetAt(this.now()) / 1e6);
        this.metrics.peerClockDrift.set({ peer }, p.sync.driftPpm / 1e6);
        continue;
      }
      p.pinger.stop();
      this.peers.delete(peer);
      this.metrics.peerClockReady.remove({ peer });
      this.metrics.peerClockOffset.remove({ peer });
      this.metrics.peerClockDrift.remove({ peer });
    }
  }
}
