/**
 * Fan-out of one node's listeners: per stream, the local listener sockets are subscribed to one uWS
 * topic, and the gateway holds one relay (a media-bus subscription to `audio.<id>.0`) while it has
 * at least one listener of that stream. Each frame is published once to the topic; uWS writes it to every
 * subscriber (corked) and applies each socket's backpressure limit.
 *
 * Radio mode (several frames per write, as Icecast's ~1400-byte blocks) will batch here, per topic,
 * before `app.publish`; per-listener state stays in {@link ListenerSession}.
 */
import type { NodeMetrics } from "../actors/metrics";
import { StreamRelay } from "../actors/relay/stream-relay";
import type { MediaBus } from "../transports";
import type { TemplatedApp } from "./uws";

/** uWS topic of a stream's listeners (audio and text messages). */
export const listenTopic = (streamId: string) => `s/${streamId}`;

interface StreamFanout {
  listeners: number;
  /** Frames published to the topic since the first listener arrived. */
  framesPublished: number;
  relay: StreamRelay | null;
}

export class Fanout {
  private readonly streams = new Map<string, StreamFanout>();

  constructor(
    private readonly app: TemplatedApp,
    private readonly bus: MediaBus,
    private readonly metrics: NodeMetrics,
    /** The node's relays by stream id, shared with the relay service. */
    readonly relays: Map<string, StreamRelay>,
  ) {}

  /** Frames published so far to `streamId`'s topic on this node (0 when no listener). */
  framesPublished(streamId: string): number {
    return this.streams.get(streamId)?.framesPublished ?? 0;
  }

  /** Local listeners of `streamId`. */
  listeners(streamId: string): number {
    return this.streams.get(streamId)?.listeners ?? 0;
  }

  /** Streams with local listeners. */
  streamIds(): string[] {
    return [...this.streams.keys()];
  }

  /** A listener socket of `streamId` opened (it is already subscribed to the topic). */
  join(streamId: string): number {
    let s = this.streams.get(streamId);
    if (!s) {
      const topic = listenTopic(streamId);
      const entry: StreamFanout = { listeners: 0, framesPublished: 0, relay: null };
      entry.relay = new StreamRelay(this.bus, streamId, 0, this.metrics, (frame) => {
        entry.framesPublished++;
        this.metrics.framesOut.inc();
        this.metrics.bytesOut.inc(frame.length * entry.listeners);
        this.app.publish(topic, frame, true);
      });
      this.relays.set(streamId, entry.relay);
      this.streams.set(streamId, (s = entry));
    }
    s.listeners++;
    this.metrics.listeners.inc();
    return s.listeners;
  }

  /** A listener socket of `streamId` closed. Returns the listeners left. */
  leave(streamId: string): number {
    const s = this.streams.get(streamId);
    if (!s) return 0;
    s.listeners--;
    this.metrics.listeners.dec();
    if (s.listeners <= 0) {
      s.relay?.close();
      this.relays.delete(streamId);
      this.streams.delete(streamId);
      return 0;
    }
    return s.listeners;
  }

  /** Sends a text message to every local listener of `streamId`. */
  publishText(streamId: string, text: string): void {
    if (this.streams.has(streamId)) this.app.publish(listenTopic(streamId), text, false);
  }

  close(): void {
    for (const [id, s] of this.streams) {
      s.relay?.close();
      this.relays.delete(id);
    }
    this.streams.clear();
  }
}
