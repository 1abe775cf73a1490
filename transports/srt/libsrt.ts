/**
 * SRT sockets from Haivision's libsrt, through our thin N-API binding (native/srt_binding.cc, built
 * by `npm install` when Debian's libsrt-openssl-dev is there: bin/build-native.js). The only module
 * that loads it. Live mode (SRTT_LIVE): each message is one UDP payload of at most 1316 bytes (7
 * MPEG-TS packets of 188 bytes), delivered by libsrt in order after its latency (TSBPD), with lost
 * packets retransmitted (ARQ) or dropped once too late.
 *
 * Why a binding and not supervised `srt-live-transmit` processes: one listening port must accept
 * many callers and tell them apart by streamid (srt-live-transmit serves one connection per port),
 * and per-connection statistics (srt_bstats) and fan-out are then ours without a pipe in between.
 * SRT itself (handshake, ARQ, encryption, TSBPD) is entirely libsrt's.
 */
import { NativeAddon } from "../native-addon";
import { Datagrams } from "../relay/datagrams";

/** Options set on a socket before it listens or connects (libsrt's SRTO_*). */
export interface SrtSocketOptions {
  /** SRTO_LATENCY, ms (TSBPD delay and the time ARQ has to recover a loss; libsrt's default 120). */
  latencyMs?: number;
  /** SRTO_PASSPHRASE: 10 to 79 characters; AES encryption. */
  passphrase?: string;
  /** SRTO_PBKEYLEN: 16, 24 or 32 (bytes of the AES key). */
  pbKeyLen?: number;
  /** SRTO_STREAMID a caller sends (at most 512 bytes). */
  streamId?: string;
  /** SRTO_PAYLOADSIZE, bytes (default 1316). */
  payloadSize?: number;
  /** SRTO_RENDEZVOUS: both sides connect to each other. */
  rendezvous?: boolean;
  /**
   * SRTO_TSBPDMODE (default true): deliver each packet at its send time plus the latency. Off, a
   * packet is delivered as soon as it and those before it arrived (a relay forwards at once and
   * leaves the waiting to the last receiver).
   */
  tsbpd?: boolean;
  /** SRTO_CONNTIMEO: how long a caller waits for the handshake, ms (libsrt's default 3000). */
  connectTimeoutMs?: number;
  /**
   * A listener only: callers whose streamid starts with none of these are refused in the
   * handshake with SRT_REJX_BAD_REQUEST (1400), so the caller is told why.
   */
  streamIdPrefixes?: readonly string[];
}

/** libsrt's counters (srt_bstats) of one connection: totals since it connected, rates now. */
export interface SrtStats {
  msTimeStamp: number;
  pktSentTotal: number;
  pktRecvTotal: number;
  pktSndLossTotal: number;
  /** Packets the receiver found missing (each one NAKed, most then retransmitted in time). */
  pktRcvLossTotal: number;
  pktRetransTotal: number;
  pktSndDropTotal: number;
  /** Packets given up as too late to play (lost for good). */
  pktRcvDropTotal: number;
  pktRcvUndecryptTotal: number;
  byteSentTotal: number;
  byteRecvTotal: number;
  mbpsSendRate: number;
  mbpsRecvRate: number;
  msRTT: number;
  msRcvBuf: number;
  msSndBuf: number;
  msRcvTsbPdDelay: number;
}

interface NativeEvent {
  type: "accept" | "connected" | "data" | "closed";
  socket: number;
  listener?: number;
  streamId?: string;
  peer?: string;
  reason?: string;
  rejectReason?: number;
  packets?: Buffer[];
  srcTimes?: Float64Array;
  arrivalTimes?: Float64Array;
}

interface Native {
  start(handler: (ev: NativeEvent) => void): void;
  listen(host: string, port: number, options: SrtSocketOptions, backlog?: number): number;
  connect(host: string, port: number, options: SrtSocketOptions, localPort?: number): number;
  send(socket: number, bytes: Uint8Array, srcTime?: number): number;
  close(socket: number): void;
  stats(socket: number, clear: boolean): SrtStats | null;
  version(): string;
  ref(keep: boolean): void;
}

/** Bytes of one live-mode message: 7 MPEG-TS packets. */
export const SRT_LIVE_PAYLOAD = 1316;

/** Open sockets by id; while there is one, libsrt's events keep the event loop alive (as a net socket does). */
const sockets = new Map<number, SrtConnection | SrtListener>();

const addon = new NativeAddon<Native>({ dir: "transports/srt/native", name: "veza_srt", library: "libsrt", debianPackage: "libsrt-openssl-dev", init: (n) => n.start(dispatch) });
const native = (): Native | null => addon.get();
const need = (): Native => addon.need();

function track(id: number, s: SrtConnection | SrtListener): void {
  sockets.set(id, s);
  if (sockets.size === 1) native()?.ref(true);
}

function untrack(id: number): boolean {
  const had = sockets.delete(id);
  if (had && sockets.size === 0) native()?.ref(false);
  return had;
}

function dispatch(ev: NativeEvent): void {
  const target = sockets.get(ev.listener ?? ev.socket);
  if (ev.type === "accept") {
    if (target instanceof SrtListener) target.accepted(new SrtConnection(ev.socket, ev.peer ?? ""), ev.streamId ?? "");
    else native()?.close(ev.socket);
    return;
  }
  if (!(target instanceof SrtConnection)) return;
  if (ev.type === "data") target.received(ev.packets ?? [], ev.srcTimes!, ev.arrivalTimes!);
  else if (ev.type === "connected") target.connected(ev.peer ?? "");
  else target.closed(ev.reason ?? "closed", ev.rejectReason ?? 0);
}

/** Why SRT is not available here, or null when it is. */
export function srtUnavailable(): string | null {
  return addon.unavailable();
}

/** libsrt's version, e.g. "1.5.1". @throws Error when SRT is not available. */
export function srtVersion(): string {
  return need().version();
}

/** A connected (or connecting) SRT socket. Set the `on*` handlers right after creating it. */
export class SrtConnection {
  /** Packets in arrival order; `srcTimes` (the sender's clock) and `arrivalTimes` (ours) in µs. */
  onData: (packets: Buffer[], srcTimes: Float64Array, arrivalTimes: Float64Array) => void = () => undefined;
  onConnect: () => void = () => undefined;
  /** The connection failed, broke or was closed by the peer; `rejectReason` is libsrt's SRT_REJ_* / SRT_REJX_* code for a refused handshake. */
  onClose: (reason: string, rejectReason: number) => void = () => undefined;
  private open = true;
  private refused = 0;
  private readonly datagrams = new Datagrams(SRT_LIVE_PAYLOAD, (m) => void (this.send(m) <= 0 && this.refused++));
  /** libsrt's statistics read as the connection closed (its final counters). */
  finalStats: SrtStats | null = null;

  /** @internal */
  constructor(
    readonly id: number,
    public peer: string,
  ) {
    track(id, this);
  }

  get isOpen(): boolean {
    return this.open;
  }

  /**
   * Sends one message (≤ 1316 bytes), stamped with `srcTime` (µs, libsrt's clock: a relay passes on
   * the time its input's sender stamped) or now. Returns bytes sent, 0 when libsrt's send buffer
   * is full (the message is dropped, as live mode drops), -1 when the socket is gone.
   */
  send(message: Uint8Array, srcTime?: number): number {
    if (!this.open) return -1;
    return srcTime === undefined ? need().send(this.id, message) : need().send(this.id, message, srcTime);
  }

  /**
   * Sends a byte stream (MPEG-TS) as 1316-byte messages, keeping the remainder for the next call.
   * Returns the messages libsrt refused (send buffer full or socket gone).
   */
  write(bytes: Uint8Array): number {
    this.refused = 0;
    this.datagrams.push(bytes);
    return this.refused;
  }

  /** libsrt's statistics; `clear` resets the interval counters. Null once closed. */
  stats(clear = false): SrtStats | null {
    return this.open ? need().stats(this.id, clear) : null;
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.finalStats = need().stats(this.id, false);
    untrack(this.id);
    need().close(this.id);
  }

  /** Closes from this side as a lost connection is closed: `onClose` runs with `reason` (a server ending a caller's session). */
  terminate(reason: string): void {
    this.closed(reason, 0);
  }

  /** @internal */
  received(packets: Buffer[], srcTimes: Float64Array, arrivalTimes: Float64Array): void {
    if (this.open) this.onData(packets, srcTimes, arrivalTimes);
  }

  /** @internal */
  connected(peer: string): void {
    if (peer) this.peer = peer;
    if (this.open) this.onConnect();
  }

  /** @internal */
  closed(reason: string, rejectReason: number): void {
    if (!this.open) return;
    this.open = false;
    this.finalStats = need().stats(this.id, false);
    untrack(this.id);
    need().close(this.id);
    this.onClose(reason, rejectReason);
  }
}

/** A listening SRT socket; each caller arrives through `onAccept` with the streamid it sent. */
export class SrtListener {
  onAccept: (conn: SrtConnection, streamId: string) => void = (conn) => conn.close();

  private constructor(readonly id: number) {
    track(id, this);
  }

  /**
   * Listens on `host:port` (UDP). Accepted callers inherit `options` (latency, passphrase: a caller
   * without the passphrase is refused by libsrt in the handshake).
   * @throws Error when SRT is not available or the port cannot be bound.
   */
  static listen(host: string, port: number, options: SrtSocketOptions = {}): SrtListener {
    return new SrtListener(need().listen(host, port, options));
  }

  /** @internal */
  accepted(conn: SrtConnection, streamId: string): void {
    this.onAccept(conn, streamId);
  }

  close(): void {
    if (!untrack(this.id)) return;
    need().close(this.id);
  }
}

/**
 * Calls `host:port`; `onConnect` or `onClose` follows. With `localPort` (rendezvous) binds it first.
 * @throws Error when SRT is not available, the host does not resolve or an option is refused.
 */
export function srtConnect(host: string, port: number, options: SrtSocketOptions = {}, localPort?: number): SrtConnection {
  return new SrtConnection(need().connect(host, port, options, localPort), `${host}:${port}`);
}
