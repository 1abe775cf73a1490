/**
 * Fast failure detection on the media bus, so a dead or frozen stream owner is replaced within a
 * second instead of after Moleculer's 4 s heartbeat timeout (moleculer.config.ts).
 *
 * Every node publishes a beat on `node.beat` every {@link BEAT_INTERVAL_MS} (its node id, UTF-8)
 * and hears everyone's, its own included. A node not heard for `suspectMs` (FAILOVER_DETECT_MS,
 * default 600 ms) is *suspected*: placement skips it, its stream leases may be taken over, and the
 * gateways re-home the broadcasters whose streams it owned (gateway/rehome.ts). This is the
 * fixed-timeout heartbeat detector of Chandra & Toueg ("Unreliable failure detectors for reliable
 * distributed systems", JACM 1996): it can suspect a node that is only slow, so what it triggers is
 * fenced: an owner that may have gone unseen refuses to stamp until its lease is confirmed
 * ({@link Liveness.unseenMs}, actors/stream/service.ts), and gateways drop frames that go back in
 * media time (actors/relay/stream-relay.ts).
 *
 * An observer judges nobody while it cannot trust its own view: when its own event loop stalled
 * (it may not have read the beats waiting in its socket yet) or when its own beat has not come
 * back (its connection to NATS is down, e.g. a NATS restart or a partition of this node). When its
 * view comes back, every node gets a fresh `suspectMs`, as if just heard.
 *
 * A node that never beat (an older version, the admin REPL) is never suspected here; Moleculer's
 * heartbeat still covers it.
 */
import type { Logger } from "pino";
import type { MediaBus } from "../../transports";
import { subjects } from "../../transports";

/** Beat period, ms: a tenth of a second keeps the detection bound near `suspectMs` for ~10 messages/s per node. */
export const BEAT_INTERVAL_MS = 100;
/** A gap of this many beat periods in this node's own timer, or in hearing its own beat, blinds it. */
const BLIND_AFTER_BEATS = 2.5;
/** A node not heard for this long is forgotten (ms). */
const FORGET_AFTER_MS = 60_000;

const decoder = new TextDecoder();

export class Liveness {
  /** performance.now() of the last beat heard from each node. */
  private readonly heardAt = new Map<string, number>();
  private readonly suspected = new Set<string>();
  private readonly listeners: Array<(nodeID: string) => void> = [];
  private readonly stallListeners: Array<(gapMs: number) => void> = [];
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private lastTickAt = performance.now();
  private blind = false;
  private readonly beat: Uint8Array;

  constructor(
    private readonly bus: MediaBus,
    private readonly nodeID: string,
    /** ms without a beat before a node is suspected. */
    readonly suspectMs: number,
    private readonly log: Logger,
  ) {
    this.beat = new TextEncoder().encode(nodeID);
  }

  start(): void {
    this.unsubscribe = this.bus.subscribe(subjects.beat, (data) => this.heard(decoder.decode(data)));
    this.lastTickAt = performance.now();
    this.heardAt.set(this.nodeID, this.lastTickAt);
    this.timer = setInterval(() => this.tick(), BEAT_INTERVAL_MS);
    this.timer.unref();
    this.bus.publish(subjects.beat, this.beat);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** Calls `listener` with each node when it becomes suspected. */
  onSuspect(listener: (nodeID: string) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Calls `listener` (every beat period while it lasts) with how long this node may have been unseen
   * by the others (ms, {@link unseenMs}) once that passes 2.5 beat periods: its event loop stalled,
   * or its own beats stopped coming back (cut off from the bus).
   */
  onStall(listener: (gapMs: number) => void): void {
    this.stallListeners.push(listener);
  }

  /** Whether `nodeID` (another node that has beaten) has not been heard for `suspectMs`. */
  isSuspect(nodeID: string): boolean {
    return this.suspected.has(nodeID);
  }

  /**
   * How long the others may not have heard this node (ms): the larger of the time since its own
   * beat timer last ran (more than {@link BEAT_INTERVAL_MS} when the event loop stalled: a long GC,
   * SIGSTOP) and the time since its own beat last came back through the bus (cut off from NATS).
   * A node unseen for long may have been suspected and replaced meanwhile, so the work it does for
   * others is fenced by this (actors/stream/service.ts).
   */
  unseenMs(): number {
    const now = performance.now();
    return Math.max(now - this.lastTickAt, now - (this.heardAt.get(this.nodeID) ?? now));
  }

  private heard(nodeID: string): void {
    this.heardAt.set(nodeID, performance.now());
    if (this.suspected.delete(nodeID)) this.log.info({ node: nodeID }, "suspected node heard again");
  }

  private tick(): void {
    const now = performance.now();
    const unseenMs = this.unseenMs();
    const stalled = now - this.lastTickAt > BLIND_AFTER_BEATS * BEAT_INTERVAL_MS;
    const deaf = now - (this.heardAt.get(this.nodeID) ?? now) > BLIND_AFTER_BEATS * BEAT_INTERVAL_MS;
    this.lastTickAt = now;
    if (stalled || deaf) for (const listener of this.stallListeners) listener(unseenMs);
    this.bus.publish(subjects.beat, this.beat);
    if (stalled || deaf) {
      if (!this.blind) this.log.warn({ stalled, deaf }, "failure detector blind: this node's loop stalled or its own beats are not coming back");
      this.blind = true;
      return;
    }
    if (this.blind) {
      // the view is back: everyone gets a fresh suspectMs before being judged
      this.blind = false;
      for (const id of this.heardAt.keys()) this.heardAt.set(id, now);
      return;
    }
    for (const [id, at] of this.heardAt) {
      if (id === this.nodeID) continue;
      const silentMs = now - at;
      if (silentMs > FORGET_AFTER_MS) {
        this.heardAt.delete(id);
        this.suspected.delete(id);
      } else if (silentMs > this.suspectMs && !this.suspected.has(id)) {
        this.suspected.add(id);
        this.log.warn({ node: id, silentMs: Math.round(silentMs) }, "node suspected: no beat on the media bus");
        for (const listener of this.listeners) listener(id);
      }
    }
  }
}
