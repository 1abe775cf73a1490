/**
 * WebSocket listeners on a stream's renditions (media/ladder.ts), and moving one from a rendition
 * to another at a frame boundary with no gap and no overlap in media time.
 *
 * Each rendition a listener here uses has a uWS topic ({@link renditionTopic}: rendition 0's is the
 * fan-out's `s/<id>`) fed by one relay of `audio.<id>.<r>` (rendition 0's is the fan-out's own),
 * and keeps its last second of frames and the media time after its newest one. A switch of a
 * listener from rendition `a` to `b` at the end E of what `a` has published (the listener has
 * everything before E queued):
 * - `b` is at or past E (a higher rung: rendition 0 comes before the rungs made from it): the
 *   frames of `b` from E on are sent to the listener from `b`'s last second, then it subscribes to
 *   `b`'s topic: contiguous;
 * - `b` holds E but is behind it (a rung made from rendition 0 lags it by its encoder, tens of
 *   ms): the listener waits, subscribed to nothing, until `b`'s frame starting at E is about to be
 *   published, and subscribes just before it: a short wait, no gap;
 * - `b` is not flowing yet, or its oldest kept frame starts after E (a rung
 *   starting now, on the owner's demand): the listener stays on `a` until `b` holds the media time
 *   `a` has reached, and is then moved as above. A rung that does not get there within
 *   {@link SWITCH_TIMEOUT_MS} is given up (the caller switches back).
 * - `b` jumps past the media time the listener waits for (its encoder restarted: a new run begins
 *   where rendition 0 is, the frames the old one had not put out yet are lost): the hole is filled
 *   from `a`'s last second, which the listener has not left until it is on `b`.
 * Rendition 0 keeps its last second while any rung of the stream has listeners here, so a move up
 * to it is immediate.
 * Frames are matched by media time only: every Opus rendition is on rendition 0's 20 ms grid.
 */
import { StreamRelay } from "../actors/relay/stream-relay";
import type { NodeMetrics } from "../actors/metrics";
import type { MediaBus } from "../transports";
import type { TemplatedApp, WebSocket } from "./uws";

/** A switch to a rendition that does not reach the listener's media time in this long is given up, ms. */
export const SWITCH_TIMEOUT_MS = 3000;
/** Frames of the last second kept per rendition for switches (50 of 20 ms). */
const RING_FRAMES = 50;

/** uWS topic of a stream's listeners on rendition `r` (0: the fan-out's topic). */
export const renditionTopic = (streamId: string, r: number): string => (r === 0 ? `s/${streamId}` : `s/${streamId}/r${r}`);

/** Media time and end of an audio.data message (bytes 8-13, u48; 14-15, u16). */
function timesOf(frame: Uint8Array): { start: number; end: number } | null {
  if (frame.length < 16) return null;
  const start = (frame[8]! * 2 ** 40) + (frame[9]! * 2 ** 32) + (((frame[10]! << 24) | (frame[11]! << 16) | (frame[12]! << 8) | frame[13]!) >>> 0);
  return { start, end: start + ((frame[14]! << 8) | frame[15]!) };
}

interface Pending {
  /** The rendition it moves from: joined (its frames kept) until the listener is on this one. */
  source: number;
  /** Whether the listener is still on `source`'s topic, until this one holds the media time it has reached. */
  onSource: boolean;
  /** Media time the listener needs next, samples at 48 kHz (once it has left its source). */
  from: number;
  since: number;
  onDone(): void;
}

/** One rendition of one stream on this gateway. */
interface Feed {
  /** WebSocket listeners on it (or moving to it). */
  listeners: number;
  relay: StreamRelay | null;
  /** Up to the last second of frames, unbroken in media time (emptied when one does not follow the one before). */
  ring: Array<{ frame: Uint8Array; start: number }>;
  /** Media time after the newest frame, samples; null before the first. */
  lastEnd: number | null;
  pending: Map<WebSocket<unknown>, Pending>;
}

export class RenditionFeeds {
  /** By stream id, then rendition id. */
  private readonly feeds = new Map<string, Map<number, Feed>>();

  constructor(
    private readonly app: TemplatedApp,
    private readonly bus: MediaBus,
    private readonly metrics: NodeMetrics,
  ) {}

  private feed(streamId: string, r: number, create: boolean): Feed | undefined {
    let byId = this.feeds.get(streamId);
    if (!byId && !create) return undefined;
    if (!byId) this.feeds.set(streamId, (byId = new Map()));
    let f = byId.get(r);
    if (!f && create) {
      const feed: Feed = { listeners: 0, relay: null, ring: [], lastEnd: null, pending: new Map() };
      // rendition 0 is fed by the fan-out's relay (onFrame); a rung by a relay of its own
      if (r > 0) feed.relay = new StreamRelay(this.bus, streamId, r, this.metrics, (frame) => this.publish(streamId, r, feed, frame));
      byId.set(r, (f = feed));
    }
    return f;
  }

  /** Rendition 0's frame, published by the fan-out to its topic: kept for switches. */
  onFrame(streamId: string, frame: Uint8Array): void {
    const f = this.feed(streamId, 0, false);
    if (f) this.keep(f, frame, streamId, 0);
  }

  private keep(f: Feed, frame: Uint8Array, streamId: string, r: number): void {
    const t = timesOf(frame);
    if (!t) return;
    // a hole or a new run (its encoder restarted): what it holds starts again here
    if (t.start !== f.lastEnd) f.ring.length = 0;
    const holds = f.ring[0]?.start ?? t.start;
    for (const [ws, p] of f.pending) {
      if (p.onSource) {
        // still on its source: move once this rendition holds the media time the source has reached
        const reached = this.feed(streamId, p.source, false)?.lastEnd ?? 0;
        if (holds > reached) continue;
        ws.unsubscribe(renditionTopic(streamId, p.source));
        p.onSource = false;
        p.from = reached;
        // this rendition is ahead: what it kept from there on, then this frame through the topic
        if (t.start >= reached) {
          this.resend(ws, f, reached);
          p.from = t.start;
        }
      }
      // waiting for this rendition to reach the listener's media time: join just before it does
      if (t.start < p.from && p.from - t.start < 10 * 48_000) continue;
      // it jumped past it: the rendition the listener came from fills the hole
      if (t.start > p.from) this.resend(ws, this.feed(streamId, p.source, false), p.from, t.start);
      f.pending.delete(ws);
      ws.subscribe(renditionTopic(streamId, r));
      this.leave(streamId, p.source);
      p.onDone();
    }
    f.ring.push({ frame, start: t.start });
    if (f.ring.length > RING_FRAMES) f.ring.shift();
    f.lastEnd = t.end;
  }

  private publish(streamId: string, r: number, f: Feed, frame: Uint8Array): void {
    this.keep(f, frame, streamId, r);
    this.app.publish(renditionTopic(streamId, r), frame, true);
  }

  /** A listener joins rendition `r` of `streamId` (call before subscribing it to {@link renditionTopic}). */
  join(streamId: string, r: number): void {
    // rendition 0 keeps its last second while a rung has listeners (for moves up to it)
    if (r > 0) this.feed(streamId, 0, true);
    this.feed(streamId, r, true)!.listeners++;
  }

  /**
   * A listener left rendition `r` (or gave up moving to it; with `ws`, also the rendition it was
   * still on). A rung's relay goes with its last listener; rendition 0's kept frames with the
   * stream's last listener here.
   */
  leave(streamId: string, r: number, ws?: WebSocket<unknown>): void {
    const byId = this.feeds.get(streamId);
    const f = byId?.get(r);
    if (!byId || !f) return;
    const p = ws ? f.pending.get(ws) : undefined;
    if (ws) f.pending.delete(ws);
    if (p) this.leave(streamId, p.source);
    if (--f.listeners > 0) return;
    if (r === 0 && byId.size > 1) return;
    f.relay?.close();
    byId.delete(r);
    const zero = byId.get(0);
    if (byId.size === 1 && zero && zero.listeners <= 0) byId.delete(0);
    if (byId.size === 0) this.feeds.delete(streamId);
  }

  /** By rendition id (≥ 1), this gateway's WebSocket listeners on each ladder rung: its users, for the stream's owner. */
  rungUsers(streamId: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [r, f] of this.feeds.get(streamId) ?? []) if (r > 0 && f.listeners > 0) out[String(r)] = f.listeners;
    return out;
  }

  /** Media time after the newest frame of rendition `r` of `streamId` here (samples at 48 kHz); null before one. */
  lastEnd(streamId: string, r: number): number | null {
    return this.feed(streamId, r, false)?.lastEnd ?? null;
  }

  /** Whether `ws` is waiting to join rendition `r` of `streamId`, and since when (ms since epoch). */
  pendingSince(streamId: string, r: number, ws: WebSocket<unknown>): number | null {
    return this.feed(streamId, r, false)?.pending.get(ws)?.since ?? null;
  }

  /**
   * Moves `ws` from rendition `from` to `to` of `streamId` at the end of what `from` has published
   * (see the module's comment). `onDone` runs once it is on `to` (at once, or when `to` reaches it).
   * @returns "switched", or "pending" while `to` has not reached the listener's media time.
   */
  switch(ws: WebSocket<unknown>, streamId: string, from: number, to: number, onDone: () => void): "switched" | "pending" {
    const source = this.feed(streamId, from, false);
    const waiting = source?.pending.get(ws);
    if (source && waiting && waiting.source === to) {
      // back to the rendition it came from (still joined); from where it is on, if it left its topic
      source.pending.delete(ws);
      if (!waiting.onSource) {
        this.resend(ws, this.feed(streamId, to, false), waiting.from);
        ws.subscribe(renditionTopic(streamId, to));
      }
      this.leave(streamId, from);
      onDone();
      return "switched";
    }
    const at = source?.lastEnd ?? 0;
    this.join(streamId, to);
    const target = this.feed(streamId, to, false)!;
    if (target.lastEnd === null || (target.ring[0]?.start ?? Infinity) > at) {
      // the target does not hold the listener's media time yet: it stays where it is meanwhile
      target.pending.set(ws, { source: from, onSource: true, from: at, since: Date.now(), onDone });
      return "pending";
    }
    ws.unsubscribe(renditionTopic(streamId, from));
    if (target.lastEnd >= at) {
      this.resend(ws, target, at);
      ws.subscribe(renditionTopic(streamId, to));
      this.leave(streamId, from);
      onDone();
      return "switched";
    }
    target.pending.set(ws, { source: from, onSource: false, from: at, since: Date.now(), onDone });
    return "pending";
  }

  /** Sends `ws` the frames `f` kept that start in [`from`, `to`) (media time, samples). */
  private resend(ws: WebSocket<unknown>, f: Feed | undefined, from: number, to = Infinity): void {
    if (!f) return;
    ws.cork(() => {
      for (const k of f.ring) if (k.start >= from && k.start < to) ws.send(k.frame, true);
    });
  }

  close(): void {
    for (const byId of this.feeds.values()) for (const f of byId.values()) f.relay?.close();
    this.feeds.clear();
  }
}
