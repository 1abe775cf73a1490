import { connect, type NatsConnection } from "nats";
import type { Logger } from "pino";
import type { BusHandler, MediaBus } from "./media-bus";

/**
 * Media bus over NATS core subjects: each message is the raw bytes, no envelope. Reconnects for
 * ever (nats.js `maxReconnectAttempts: -1`); messages published while disconnected are buffered by
 * nats.js up to its reconnect buffer and then dropped, which for live audio is the right loss.
 */
export class NatsBus implements MediaBus {
  private constructor(
    readonly kind: string,
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    /** Prepended to every subject (`<namespace>.`), so clusters sharing a NATS server stay apart. */
    private readonly prefix: string,
  ) {}

  /** Connects to `url` (nats://host:port). @throws the nats.js connection error when unreachable. */
  static async connect(url: string, name: string, namespace: string, log: Logger, onReconnect: () => void): Promise<NatsBus> {
    const nc = await connect({ servers: url, name: `${name}-media`, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const bus = new NatsBus(url, nc, log, `${namespace}.`);
    void (async () => {
      for await (const status of nc.status()) {
        log.info({ type: status.type, data: String(status.data) }, "media bus status");
        if (status.type === "reconnect") onReconnect();
      }
    })();
    return bus;
  }

  publish(subject: string, data: Uint8Array): void {
    if (this.nc.isClosed()) return;
    this.nc.publish(this.prefix + subject, data);
  }

  subscribe(subject: string, handler: BusHandler): () => void {
    const sub = this.nc.subscribe(this.prefix + subject, {
      callback: (err, msg) => {
        if (err) {
          this.log.warn({ err, subject }, "media bus subscription error");
          return;
        }
        try {
          handler(msg.data);
        } catch (error) {
          this.log.error({ err: error, subject }, "media bus handler threw");
        }
      },
    });
    return () => sub.unsubscribe();
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain();
  }
}
