import type { Logger } from "pino";
import type { BusHandler, MediaBus } from "./media-bus";

/**
 * In-process media bus for a single node: synchronous delivery, no copies. Each subscriber gets
 * the same Uint8Array, so with more than one subscriber on a subject they must treat it read-only
 * (only the stream actor mutates, and it is the only subscriber of its `ingest`/`encoded` subjects).
 * A throwing handler is logged and does not stop delivery to the others.
 */
export class LocalBus implements MediaBus {
  readonly kind = "local";
  private readonly handlers = new Map<string, Set<BusHandler>>();
  private closed = false;

  constructor(private readonly log: Logger) {}

  publish(subject: string, data: Uint8Array): void {
    if (this.closed) return;
    const set = this.handlers.get(subject);
    if (!set) return;
    for (const handler of set) {
      try {
        handler(data);
      } catch (err) {
        this.log.error({ err, subject }, "media bus handler threw");
      }
    }
  }

  subscribe(subject: string, handler: BusHandler): () => void {
    let set = this.handlers.get(subject);
    if (!set) this.handlers.set(subject, (set = new Set()));
    set.add(handler);
    return () => {
      const current = this.handlers.get(subject);
      if (!current) return;
      current.delete(handler);
      if (current.size === 0) this.handlers.delete(subject);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
  }
}
