/**
 * RIST (Reliable Internet Stream Transport, VSF TR-06) from VideoLAN's librist, through our thin
 * binding (native/rist_binding.cc, built by `npm install` when Debian's librist-dev is there:
 * bin/build-native.js). The only module that loads it. A context is a receiver or a sender with one
 * peer, from a `rist://` URL that librist parses itself: `rist://@:port` (or `@host:port`) listens,
 * `rist://host:port` calls; `buffer` (ms), `secret`, `aes-type`, `cname`, `weight`… in the query.
 * RIST uses the port and port+1 (RTP and RTCP, simple profile). Packets arrive in order after
 * librist's buffer, with the sender's NTP timestamp.
 */
import { NativeAddon } from "../native-addon";

/** RIST profiles (librist's enum rist_profile). */
export const RIST_PROFILES = { simple: 0, main: 1, advanced: 2 } as const;
export type RistProfile = keyof typeof RIST_PROFILES;

/** One statistics interval (1 s) of a context, librist's rist_stats_receiver_flow or rist_stats_sender_peer. */
export interface RistStats {
  received: number;
  sent: number;
  /** Receiver: packets found missing (reordered ones included); most are then recovered. */
  missing: number;
  /** Receiver: packets not recovered in time. */
  lost: number;
  recovered: number;
  /** Sender: packets retransmitted. */
  retransmitted: number;
  /** bit/s. */
  bandwidth: number;
  /** ms. */
  rtt: number;
  peers: number;
}

interface NativeEvent extends Partial<RistStats> {
  type: "data" | "stats" | "status" | "log";
  context: number;
  payload?: Buffer;
  sendUs?: number;
  arrivalUs?: number;
  status?: number;
  level?: number;
  text?: string;
}

interface Native {
  start(handler: (ev: NativeEvent) => void): void;
  open(kind: "receiver" | "sender", url: string, profile: number): number;
  write(context: number, bytes: Uint8Array): number;
  close(context: number): void;
  ref(keep: boolean): void;
  version(): string;
}

/** librist's connection status codes (enum rist_connection_status). */
export const RIST_STATUS = { 0: "established", 1: "timed out", 2: "client connected", 3: "client timed out" } as Record<number, string>;

const contexts = new Map<number, RistContext>();
const addon = new NativeAddon<Native>({
  dir: "transports/rist/native", name: "veza_rist", library: "librist", debianPackage: "librist-dev",
  init: (n) => n.start((ev) => contexts.get(ev.context)?.event(ev)),
});

/** Why RIST is not available here, or null when it is. */
export function ristUnavailable(): string | null {
  return addon.unavailable();
}

/** A receiver or sender context. Set the `on*` handlers right after opening it. */
export class RistContext {
  /** A packet (receiver); `sendUs` the sender's NTP timestamp, `arrivalUs` ours (CLOCK_MONOTONIC), µs. */
  onData: (payload: Buffer, sendUs: number, arrivalUs: number) => void = () => undefined;
  /** One statistics interval (every second). */
  onStats: (s: RistStats) => void = () => undefined;
  /** A peer connected or timed out. */
  onStatus: (status: string) => void = () => undefined;
  /** librist's warnings and errors. */
  onLog: (level: number, text: string) => void = () => undefined;
  private open = true;

  private constructor(readonly id: number) {
    contexts.set(id, this);
    if (contexts.size === 1) addon.get()?.ref(true);
  }

  /**
   * Opens a receiver or sender on `url` with `profile`.
   * @throws Error when RIST is not available, librist cannot parse the URL or bind its port.
   */
  static open(kind: "receiver" | "sender", url: string, profile: RistProfile): RistContext {
    return new RistContext(addon.need().open(kind, url, RIST_PROFILES[profile]));
  }

  /** Sends one packet (sender). Returns false when librist refused it or the context is closed. */
  write(bytes: Uint8Array): boolean {
    return this.open && addon.need().write(this.id, bytes) === 0;
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    contexts.delete(this.id);
    if (contexts.size === 0) addon.get()?.ref(false);
    addon.need().close(this.id);
  }

  /** @internal */
  event(ev: NativeEvent): void {
    if (!this.open) return;
    if (ev.type === "data") this.onData(ev.payload!, ev.sendUs!, ev.arrivalUs!);
    else if (ev.type === "stats") this.onStats(ev as RistStats);
    else if (ev.type === "status") this.onStatus(RIST_STATUS[ev.status ?? -1] ?? `status ${ev.status}`);
    else this.onLog(ev.level ?? 4, ev.text ?? "");
  }
}
