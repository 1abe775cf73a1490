/**
 * The media bus: how binary audio moves between actors, apart from Moleculer (which carries control
 * only; its JSON serialiser would turn Buffers into arrays). One interface, two implementations:
 * in process (single node, default) and NATS core subjects (cluster). Delivery is at most once and
 * in order per publisher, as NATS core guarantees.
 *
 * Subjects (NATS tokens, so stream ids must not contain `.`, `*`, `>` or spaces; ids are checked at
 * the edge against BAD_STREAM_ID):
 * - `ingest.<streamId>`: bytes from the broadcaster as received (audio.data or container bytes).
 * - `encoded.<streamId>.<rendition>`: audio.data from an encoder, before the stream stamps it.
 * - `audio.<streamId>.<rendition>`: stamped audio.data, what listeners receive.
 * - `node.beat`: every node's id, every 100 ms: the failure detector (actors/cluster/liveness.ts).
 */

/** Called with each message; `data` is owned by the handler (it may keep or mutate it). */
export type BusHandler = (data: Uint8Array) => void;

export interface MediaBus {
  /** Human-readable kind, for logs: `local` or the NATS server URL. */
  readonly kind: string;
  /** Publishes `data` on `subject`. The bus may keep a reference; callers must not reuse the buffer. */
  publish(subject: string, data: Uint8Array): void;
  /** Subscribes to one exact subject. Returns the function that unsubscribes. */
  subscribe(subject: string, handler: BusHandler): () => void;
  /** Flushes and closes; later publishes are dropped. */
  close(): Promise<void>;
}

export const subjects = {
  ingest: (streamId: string) => `ingest.${streamId}`,
  encoded: (streamId: string, rendition: number) => `encoded.${streamId}.${rendition}`,
  audio: (streamId: string, rendition: number) => `audio.${streamId}.${rendition}`,
  beat: "node.beat",
};
