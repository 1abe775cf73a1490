/**
 * Picks a media bus by URL scheme, as Moleculer picks a transporter: no URL is the in-process bus
 * (one node runs everything), `nats://` is the NATS bus. SRT, RIST and Icecast relays will resolve
 * here too.
 */
import type { Logger } from "pino";
import { LocalBus } from "./bus/local-bus";
import type { MediaBus } from "./bus/media-bus";
import { NatsBus } from "./bus/nats-bus";

export type { MediaBus, BusHandler } from "./bus/media-bus";
export { subjects } from "./bus/media-bus";

/** @throws Error for an unknown scheme; the NATS connection error when unreachable. */
export async function createMediaBus(
  url: string | undefined,
  nodeId: string,
  namespace: string,
  log: Logger,
  onReconnect: () => void = () => undefined,
): Promise<MediaBus> {
  if (!url) return new LocalBus(log);
  if (url.startsWith("nats://")) return NatsBus.connect(url, nodeId, namespace, log, onReconnect);
  throw new Error(`no media bus for ${url}`);
}
