/**
 * Fan-out of one node's listeners: per stream, the local listener sockets are subscribed to one uWS
 * topic for its audio (a rung's listeners to the rung's, gateway/rendition-feeds.ts) and one for
 * its text messages ({@link textTopic}), and the gateway holds one relay (a media-bus subscription to `audio.<id>.0`) while it has
 * at least one listener of that stream. Each frame is published once to the topic; uWS writes it to every
 * subscriber (corked) and applies each socket's backpressure limit.
 *
 * Radio mode (`?batch=<ms>`, docs/protocol.md): listeners that ask for it share a second topic per
 * stream and batch period, `s/<id>/b<ms>`. Its messages (frames and text, in their order) are held
 * once per stream and period, never per listener, and published together by one timer; uWS's topic
 * tree sends everything published in one event-loop turn to a subscriber as one corked write, so a
 * batched listener gets the same messages in fewer, larger writes (one per period instead of one
 * per 20 ms frame). The wire format does not change.
 */
import type { NodeMetrics } from "../actors/metrics";
import { clusterNowUs } from "../media/clock/cluster-time";
import { clusterTimeOf } from "../media/clock/media-clock";
import type { SyncTick } from "../media/clock/playout";
import { StreamRelay } from "../actors/relay/stream-relay";
import type { MediaBus } from "../transports";
import { renditionTopic, type RenditionFeeds } from "./rendition-feeds";
import type { TemplatedApp } from "./uws";

/** uWS topic of a stream's listeners on rendition 0 (audio); with `batchMs`, of its listeners batched by that period (audio and text). */
export const listenTopic = (streamId: string, batchMs = 0) => (batchMs > 0 ? `s/${streamId}/b${batchMs}` : `s/${streamId}`);

/**
 * uWS topic of the text messages (stream.status, stream.metadata, sync.tick) of a stream's
 * unbatched WebSocket listeners, whatever rendition they hear: one publish for all of them. Each
 * such listener holds it from open to close, so moving between renditions' topics never leaves it
 * subscribed to nothing: uWS frees a socket's subscriber with its last topic, and with it the
 * messages published to it earlier in the same event-loop turn and not yet written (measured with
 * uws-js-unofficial 20.30: a frame published, then the topic left and another joined, is lost).
 */
export const textTopic = (streamId: string) => `s/${streamId}/t`;

/**
 * The uWS topics a WebSocket listener of `streamId` subscribes to when it opens, in that order:
 * batched (`batchMs` > 0), its batch topic; otherwise {@link textTopic} and its rendition's topic.
 */
export function listenerTopics(streamId: string, batchMs: number, rendition: number): string[] {
  return batchMs > 0 ? [listenTopic(streamId, batchMs)] : [textTopic(streamId), renditionTopic(streamId, rendition)];
}

/** Batch periods a listener may ask for (`?batch=`), ms; a period is rounded to a multiple of {@link BATCH_STEP_MS}. */
export const BATCH_MIN_MS = 20;
export const BATCH_MAX_MS = 1000;
/** One 20 ms frame: batch periods are multiples of it, so a stream has at most 50 batch topics. */
export const BATCH_STEP_MS = 20;

/**
 * The batch period of a `?batch=` value: null when absent, 0 for `0` (no batching), else the
 * period in ms rounded to a multiple of {@link BATCH_STEP_MS}.
 * @throws RangeError when it is not an integer of 0 or {@link BATCH_MIN_MS}-{@link BATCH_MAX_MS}.
 */
export function parseBatchMs(value: string | null): number {
  if (value === null || value === "" || value === "0") return 0;
  const ms = /^\d{1,4}$/.test(value) ? Number(value) : NaN;
  if (!(ms >= BATCH_MIN_MS && ms <= BATCH_MAX_MS)) throw new RangeError(`batch is a period in ms, ${BATCH_MIN_MS}-${BATCH_MAX_MS} (or 0 for none)`);
  return Math.round(ms / BATCH_STEP_MS) * BATCH_STEP_MS;
}

/** One batch topic of a stream: the messages held for its next write, and the timer that publishes them. */
interface Batch {
  readonly topic: string;
  readonly periodMs: number;
  listeners: number;
  /** Messages (audio.data, or text) since the last flush, in order. */
  pending: Array<{ message: Uint8Array | string; binary: boolean }>;
  timer: NodeJS.Timeout | null;
  /** Frames among {@link Batch.pending}. */
  pendingFrames: number;
}

interface StreamFanout {
  listeners: number;
  /** Frames published to the topic since the first listener arrived. */
  framesPublished: number;
  relay: StreamRelay | null;
  /** Local consumers of the frames besides the topic (the HTTP listeners' muxer). */
  taps: Set<(frame: Uint8Array) => void>;
  /** Batch topics by period (ms), while they have listeners. */
  batches: Map<number, Batch>;
}

export class Fanout {
  private readonly streams = new Map<string, StreamFanout>();

  constructor(
    private readonly app: TemplatedApp,
    private readonly bus: MediaBus,
    private readonly metrics: NodeMetrics,
    /** The node's relays by stream id, shared with the relay service. */
    readonly relays: Map<string, StreamRelay>,
    /** The latest sync ticks of a stream known here (the gateway's), for {@link NodeMetrics.fanoutLag}. */
    private readonly ticksOf: (streamId: string) => readonly SyncTick[] | undefined = () => undefined,
    /** Rendition feeds (WebSocket listeners on ladder rungs): they keep rendition 0's last frames and get its text messages. */
    private readonly renditions?: RenditionFeeds,
  ) {}

  /** Observes the fan-out lag of `frame` (an audio.data message: media time at bytes 8-13, u48 big-endian). */
  private observeLag(streamId: string, frame: Uint8Array): void {
    const ticks = this.ticksOf(streamId);
    if (!ticks || ticks.length === 0 || frame.length < 14) return;
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const m = view.getUint16(8) * 2 ** 32 + view.getUint32(10);
    let tick: SyncTick | undefined;
    for (const t of ticks) if (t.validFrom <= m) tick = t;
    if (!tick) return;
    const lagUs = clusterNowUs() - clusterTimeOf(tick, m);
    if (lagUs >= 0 && lagUs < 60e6) this.metrics.fanoutLag.observe(lagUs / 1e6);
  }

  /**
   * Frames published so far to `streamId`'s topic on this node (0 when no listener); with
   * `batchMs`, less those its batch topic still holds (the same count once they are published).
   */
  framesPublished(streamId: string, batchMs = 0): number {
    const s = this.streams.get(streamId);
    if (!s) return 0;
    return s.framesPublished - (batchMs > 0 ? (s.batches.get(batchMs)?.pendingFrames ?? 0) : 0);
  }

  /** Local listeners of `streamId`. */
  listeners(streamId: string): number {
    return this.streams.get(streamId)?.listeners ?? 0;
  }

  /** Streams with local listeners. */
  streamIds(): string[] {
    return [...this.streams.keys()];
  }

  /**
   * A listener of `streamId` opened (an HTTP listener, or a WebSocket listener about to subscribe
   * to {@link listenTopic}(streamId, batchMs)). Returns the local listeners of the stream.
   */
  join(streamId: string, batchMs = 0): number {
    let s = this.streams.get(streamId);
    if (!s) {
      const topic = listenTopic(streamId);
      const entry: StreamFanout = { listeners: 0, framesPublished: 0, relay: null, taps: new Set(), batches: new Map() };
      entry.relay = new StreamRelay(this.bus, streamId, 0, this.metrics, (frame) => {
        entry.framesPublished++;
        this.metrics.framesOut.inc();
        this.metrics.bytesOut.inc(frame.length * entry.listeners);
        this.app.publish(topic, frame, true);
        for (const batch of entry.batches.values()) this.hold(batch, frame, true);
        for (const tap of entry.taps) tap(frame);
        this.renditions?.onFrame(streamId, frame);
        this.observeLag(streamId, frame);
      });
      this.relays.set(streamId, entry.relay);
      this.streams.set(streamId, (s = entry));
    }
    s.listeners++;
    this.metrics.listeners.inc();
    if (batchMs > 0) this.joinBatch(s, streamId, batchMs);
    return s.listeners;
  }

  /**
   * A listener of `streamId` is about to subscribe to {@link listenTopic}(streamId, batchMs). What
   * is held for that topic is published first, to its current subscribers: the newcomer gets what
   * is published after it joined, as on the plain topic.
   */
  private joinBatch(s: StreamFanout, streamId: string, batchMs: number): void {
    let batch = s.batches.get(batchMs);
    if (!batch) s.batches.set(batchMs, (batch = { topic: listenTopic(streamId, batchMs), periodMs: batchMs, listeners: 0, pending: [], timer: null, pendingFrames: 0 }));
    else this.flush(batch);
    batch.listeners++;
  }

  /** A batched listener left: the batch topic goes with its last listener. */
  private leaveBatch(s: StreamFanout, batchMs: number): void {
    const batch = s.batches.get(batchMs);
    if (!batch || --batch.listeners > 0) return;
    if (batch.timer) clearTimeout(batch.timer);
    s.batches.delete(batchMs);
  }

  /** Holds `message` for `batch`'s next write; the first one held starts the period. */
  private hold(batch: Batch, message: Uint8Array | string, binary: boolean): void {
    batch.pending.push({ message, binary });
    if (binary) batch.pendingFrames++;
    batch.timer ??= setTimeout(() => {
      batch.timer = null;
      this.flush(batch);
    }, batch.periodMs);
  }

  /** Publishes what `batch` holds, in one event-loop turn: uWS writes it to each subscriber corked, as one write. */
  private flush(batch: Batch): void {
    if (batch.timer) clearTimeout(batch.timer);
    batch.timer = null;
    const pending = batch.pending;
    if (pending.length === 0) return;
    batch.pending = [];
    batch.pendingFrames = 0;
    for (const { message, binary } of pending) this.app.publish(batch.topic, message, binary);
  }

  /**
   * Adds a consumer of `streamId`'s frames (the HTTP listeners' muxer: one per stream), while the
   * stream has listeners here: call after {@link join}; it goes when the last listener leaves.
   */
  tap(streamId: string, fn: (frame: Uint8Array) => void): () => void {
    const taps = this.streams.get(streamId)?.taps;
    taps?.add(fn);
    return () => taps?.delete(fn);
  }

  /** A listener of `streamId` (joined with the same `batchMs`) closed. Returns the listeners left. */
  leave(streamId: string, batchMs = 0): number {
    const s = this.streams.get(streamId);
    if (!s) return 0;
    if (batchMs > 0) this.leaveBatch(s, batchMs);
    s.listeners--;
    this.metrics.listeners.dec();
    if (s.listeners <= 0) {
      for (const batch of s.batches.values()) if (batch.timer) clearTimeout(batch.timer);
      s.relay?.close();
      this.relays.delete(streamId);
      this.streams.delete(streamId);
      return 0;
    }
    return s.listeners;
  }

  /** Sends a text message to every local listener of `streamId` (to batched ones in order with the frames). */
  publishText(streamId: string, text: string): void {
    const s = this.streams.get(streamId);
    if (!s) return;
    this.app.publish(textTopic(streamId), text, false);
    for (const batch of s.batches.values()) this.hold(batch, text, false);
  }

  close(): void {
    for (const [id, s] of this.streams) {
      for (const batch of s.batches.values()) if (batch.timer) clearTimeout(batch.timer);
      s.relay?.close();
      this.relays.delete(id);
    }
    this.streams.clear();
  }
}
