/**
 * SRT inputs and outputs of the relay (transports/relay/relay.ts), in the three modes of an
 * `srt://` URI (uri.ts): a caller (and rendezvous) connects and reconnects with backoff after a
 * loss; a listening input takes one publisher at a time (others are closed), a listening output
 * sends to every reader that connects (fan-out).
 *
 * An input runs without TSBPD unless its URI asks for it: packets are forwarded as soon as they
 * (and those before them) arrived, stamped with their original send time (the sender's timestamp
 * on our clock, jitter.ts ClockOffset), so the relay adds no latency of its own and the last
 * receiver's latency still counts from the original send.
 */
import type { Logger } from "pino";
import { addCounters, type EndpointSample, type RelayInput, type RelayOutput } from "../relay/endpoint";
import { backoffMs } from "../relay/backoff";
import { ClockOffset, InterarrivalJitter } from "../relay/jitter";
import { SrtListener, srtConnect, type SrtConnection, type SrtStats } from "./libsrt";
import type { SrtUri } from "./uri";

const zero = (): EndpointSample => ({ peers: 0, bytes: 0, packetsLost: 0, packetsDropped: 0, packetsRetransmitted: 0, reconnects: 0, rttMs: 0 });

/** A connection's loss counters as the relay counts them, from libsrt's (bytes are counted by the endpoint itself). */
function counters(s: SrtStats | null, direction: "in" | "out") {
  if (!s) return { bytes: 0, packetsLost: 0, packetsDropped: 0, packetsRetransmitted: 0 };
  return direction === "in"
    ? { bytes: 0, packetsLost: s.pktRcvLossTotal, packetsDropped: s.pktRcvDropTotal, packetsRetransmitted: 0 }
    : { bytes: 0, packetsLost: s.pktSndLossTotal, packetsDropped: s.pktSndDropTotal, packetsRetransmitted: s.pktRetransTotal };
}

/**
 * The connections of one endpoint and their counters: payload bytes counted as they pass; libsrt's
 * loss counters read from live connections when sampled, and from a closed one when it closed (or
 * its last sample).
 */
class Connections {
  readonly live = new Map<SrtConnection, SrtStats | null>();
  readonly closed = zero();
  reconnects = 0;
  /** Payload bytes received (in) or sent to each peer (out). */
  bytes = 0;

  constructor(private readonly direction: "in" | "out") {}

  add(conn: SrtConnection): void {
    this.live.set(conn, null);
  }

  remove(conn: SrtConnection): void {
    if (!this.live.has(conn)) return;
    addCounters(this.closed, counters(conn.finalStats ?? this.live.get(conn) ?? null, this.direction));
    this.live.delete(conn);
  }

  sample(): EndpointSample {
    const s = { ...this.closed, bytes: this.bytes, peers: this.live.size, reconnects: this.reconnects, rttMs: 0 };
    for (const conn of this.live.keys()) {
      const st = conn.stats();
      if (st) this.live.set(conn, st);
      const last = this.live.get(conn) ?? null;
      addCounters(s, counters(last, this.direction));
      s.rttMs = Math.max(s.rttMs, last?.msRTT ?? 0);
    }
    return s;
  }
}

/** Calls (or meets, in rendezvous) its peer, and again after every loss, with backoff. */
class Caller {
  conn: SrtConnection | null = null;
  private attempt = 0;
  private everConnected = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly uri: SrtUri,
    private readonly conns: Connections,
    private readonly log: Logger,
    private readonly onConnection: (conn: SrtConnection) => void,
  ) {}

  start(): void {
    if (this.closed) return;
    let conn: SrtConnection;
    try {
      conn = srtConnect(this.uri.host, this.uri.port, this.uri.options, this.uri.localPort ?? (this.uri.mode === "rendezvous" ? this.uri.port : undefined));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "srt connect failed");
      return this.retry();
    }
    this.conn = conn;
    conn.onConnect = () => {
      this.conns.add(conn);
      if (this.everConnected) this.conns.reconnects++;
      this.everConnected = true;
      this.log.info({ attempt: this.attempt }, "srt connected");
      this.attempt = 0;
      this.onConnection(conn);
    };
    conn.onClose = (reason, rejectReason) => {
      this.conns.remove(conn);
      this.conn = null;
      this.log.warn({ reason, rejectReason }, "srt connection lost");
      this.retry();
    };
  }

  private retry(): void {
    if (this.closed) return;
    const delay = backoffMs(this.attempt++);
    this.timer = setTimeout(() => this.start(), delay);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.conn?.close();
    if (this.conn) this.conns.remove(this.conn);
  }
}

export class SrtInput implements RelayInput {
  onPackets: RelayInput["onPackets"] = () => undefined;
  readonly display: string;
  private readonly conns = new Connections("in");
  private readonly jitter = new InterarrivalJitter();
  private readonly offset = new ClockOffset();
  private caller: Caller | null = null;
  private listener: SrtListener | null = null;
  private publisher: SrtConnection | null = null;
  private hadPublisher = false;
  /** With TSBPD libsrt already delivers at the send time plus latency: the packets are not stamped again. */
  private readonly tsbpd: boolean;

  constructor(
    private readonly uri: SrtUri,
    private readonly log: Logger,
  ) {
    this.display = uri.display;
    this.tsbpd = uri.options.tsbpd === true;
    uri.options.tsbpd ??= false;
  }

  start(): void {
    if (this.uri.mode === "listener") {
      this.listener = SrtListener.listen(this.uri.host, this.uri.port, this.uri.options);
      this.listener.onAccept = (conn) => this.accept(conn);
      return;
    }
    this.caller = new Caller(this.uri, this.conns, this.log, (conn) => this.attach(conn));
    this.caller.start();
  }

  private accept(conn: SrtConnection): void {
    if (this.publisher) {
      this.log.warn({ peer: conn.peer }, "a second publisher refused: one input at a time");
      return conn.close();
    }
    this.publisher = conn;
    this.conns.add(conn);
    if (this.hadPublisher) this.conns.reconnects++;
    this.hadPublisher = true;
    this.log.info({ peer: conn.peer }, "srt publisher connected");
    conn.onClose = (reason) => {
      this.conns.remove(conn);
      this.publisher = null;
      this.log.warn({ peer: conn.peer, reason }, "srt publisher left");
    };
    this.attach(conn);
  }

  /** A new connection: a new sender clock. */
  private attach(conn: SrtConnection): void {
    this.jitter.reset();
    this.offset.reset();
    conn.onData = (packets, srcTimes, arrivalTimes) => {
      const sendUs: Array<number | undefined> = new Array(packets.length);
      const lateUs: number[] = new Array(packets.length);
      for (let i = 0; i < packets.length; i++) {
        this.conns.bytes += packets[i]!.length;
        this.jitter.push(srcTimes[i]!, arrivalTimes[i]!);
        this.offset.push(srcTimes[i]!, arrivalTimes[i]!);
        const mapped = this.offset.map(srcTimes[i]!)!;
        sendUs[i] = this.tsbpd ? undefined : mapped;
        lateUs[i] = this.tsbpd ? 0 : arrivalTimes[i]! - mapped;
      }
      this.onPackets(packets, sendUs, lateUs);
    };
  }

  sample(): EndpointSample {
    return { ...this.conns.sample(), jitterMs: this.tsbpd ? 0 : this.jitter.jitterUs / 1000 };
  }

  close(): void {
    this.caller?.close();
    this.listener?.close();
    this.publisher?.close();
    if (this.publisher) this.conns.remove(this.publisher);
  }
}

export class SrtOutput implements RelayOutput {
  readonly display: string;
  private readonly conns = new Connections("out");
  private caller: Caller | null = null;
  private listener: SrtListener | null = null;
  private hadReader = false;

  constructor(
    private readonly uri: SrtUri,
    private readonly log: Logger,
  ) {
    this.display = uri.display;
  }

  start(): void {
    if (this.uri.mode === "listener") {
      this.listener = SrtListener.listen(this.uri.host, this.uri.port, this.uri.options);
      this.listener.onAccept = (conn) => {
        this.conns.add(conn);
        if (this.hadReader && this.conns.live.size === 1) this.conns.reconnects++;
        this.hadReader = true;
        this.log.info({ peer: conn.peer, readers: this.conns.live.size }, "srt reader connected");
        conn.onData = () => undefined;
        conn.onClose = (reason) => {
          this.conns.remove(conn);
          this.log.info({ peer: conn.peer, reason }, "srt reader left");
        };
      };
      return;
    }
    this.caller = new Caller(this.uri, this.conns, this.log, (conn) => (conn.onData = () => undefined));
    this.caller.start();
  }

  send(packet: Buffer, sendUs: number | undefined): void {
    for (const conn of this.conns.live.keys()) if (conn.send(packet, sendUs) > 0) this.conns.bytes += packet.length;
  }

  sample(): EndpointSample {
    return this.conns.sample();
  }

  close(): void {
    this.caller?.close();
    this.listener?.close();
    for (const conn of [...this.conns.live.keys()]) {
      conn.close();
      this.conns.remove(conn);
    }
  }
}
