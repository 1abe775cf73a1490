/**
 * The stream relay: one input's packets to every output (fan-out), at once or after a time buffer
 * (`bufferMs`: each packet leaves `bufferMs` after its original send time as seen here, so the
 * output is re-paced to the sender's timing and arrival jitter up to that much is absorbed), and
 * once a second the endpoints' counters into Prometheus metrics and a stats snapshot (the HTTP
 * `/health` body and the WebSocket feed of bin/commands/relay.ts).
 *
 * Metric names are the relay spec's, with labels `direction` (in, out) and `peer` (the endpoint's
 * URI without secrets): relay_peers, relay_bitrate_kbps, relay_reconnects_total,
 * relay_packets_lost_total, relay_jitter_ms (promtool's lint flags the abbreviated unit in the
 * last one: kept, the spec names it), and relay_packets_dropped_total,
 * relay_packets_retransmitted_total, relay_rtt_seconds.
 */
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import type { EndpointSample, RelayInput, RelayOutput } from "./endpoint";

/** One endpoint in a {@link RelaySnapshot}: its counters (bytes aside) and its bit rate. */
export interface EndpointStats extends Omit<EndpointSample, "bytes"> {
  direction: "in" | "out";
  peer: string;
  /** Over the last second, kbit/s. */
  bitrateKbps: number;
}

export interface RelaySnapshot {
  /** Wall-clock time of the sample, ms since the epoch. */
  at: number;
  uptimeS: number;
  bufferMs: number;
  /** Packets held in the time buffer now. */
  buffered: number;
  endpoints: EndpointStats[];
}

interface Queued {
  packet: Buffer;
  sendUs: number | undefined;
  /** performance.now() when it leaves, ms. */
  dueMs: number;
}

/** Packets held at most in the time buffer (about 10 s of 20 Mbit/s); beyond it the oldest leave at once. */
const MAX_BUFFERED = 20_000;

export class Relay {
  private readonly started = performance.now();
  private readonly last = new Map<string, { at: number; sample: EndpointSample }>();
  private snapshot_: RelaySnapshot;
  private timer: NodeJS.Timeout | null = null;
  private readonly queue: Queued[] = [];
  private queueHead = 0;
  private drainTimer: NodeJS.Timeout | null = null;
  private readonly m;
  /** Called with each new snapshot (once a second). */
  onSnapshot: (s: RelaySnapshot) => void = () => undefined;

  constructor(
    private readonly input: RelayInput,
    private readonly outputs: RelayOutput[],
    private readonly o: { bufferMs: number; registry: Registry; log: Logger },
  ) {
    const labelNames = ["direction", "peer"] as const;
    const registers = [o.registry];
    this.m = {
      peers: new Gauge({ name: "relay_peers", help: "Peers connected to the endpoint", labelNames, registers }),
      bitrate: new Gauge({ name: "relay_bitrate_kbps", help: "Payload bit rate over the last second, kbit/s", labelNames, registers }),
      reconnects: new Counter({ name: "relay_reconnects_total", help: "Connections made again after one was lost", labelNames, registers }),
      lost: new Counter({ name: "relay_packets_lost_total", help: "Packets found missing (in) or reported missing by receivers (out); most are retransmitted in time", labelNames, registers }),
      jitter: new Gauge({ name: "relay_jitter_ms", help: "RFC 3550 interarrival jitter of the input, ms", labelNames, registers }),
      dropped: new Counter({ name: "relay_packets_dropped_total", help: "Packets given up: not recovered within the latency (in), too late to send (out)", labelNames, registers }),
      retransmitted: new Counter({ name: "relay_packets_retransmitted_total", help: "Packets retransmitted to the output's receivers", labelNames, registers }),
      rtt: new Gauge({ name: "relay_rtt_seconds", help: "Round-trip time to the endpoint's peer (the largest of its peers')", labelNames, registers }),
    };
    this.snapshot_ = { at: Date.now(), uptimeS: 0, bufferMs: o.bufferMs, buffered: 0, endpoints: [] };
    input.onPackets = (packets, sendUs, lateUs) => this.onPackets(packets, sendUs, lateUs);
  }

  /** Starts the outputs, then the input. @throws Error when a port cannot be bound. */
  start(): void {
    for (const out of this.outputs) out.start();
    this.input.start();
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
  }

  get snapshot(): RelaySnapshot {
    return this.snapshot_;
  }

  private onPackets(packets: Buffer[], sendUs: Array<number | undefined>, lateUs: number[]): void {
    if (this.o.bufferMs <= 0) {
      for (let i = 0; i < packets.length; i++) for (const out of this.outputs) out.send(packets[i]!, sendUs[i]);
      return;
    }
    const now = performance.now();
    for (let i = 0; i < packets.length; i++) {
      // leaves bufferMs after it was sent (as seen here): arrival − its lateness + the buffer; it
      // is stamped as it leaves (a send time that old would be too late for the receiver's latency)
      this.queue.push({ packet: packets[i]!, sendUs: undefined, dueMs: now - (lateUs[i] ?? 0) / 1000 + this.o.bufferMs });
    }
    if (this.queue.length - this.queueHead > MAX_BUFFERED) this.drain(Infinity);
    this.schedule();
  }

  private schedule(): void {
    if (this.drainTimer || this.queueHead >= this.queue.length) return;
    const wait = Math.max(0, this.queue[this.queueHead]!.dueMs - performance.now());
    this.drainTimer = setTimeout(() => {
      this.drainTimer = null;
      this.drain(performance.now());
      this.schedule();
    }, wait);
  }

  private drain(untilMs: number): void {
    while (this.queueHead < this.queue.length && (this.queue[this.queueHead]!.dueMs <= untilMs || this.queue.length - this.queueHead > MAX_BUFFERED)) {
      const q = this.queue[this.queueHead++]!;
      for (const out of this.outputs) out.send(q.packet, q.sendUs);
    }
    if (this.queueHead > 4096) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  private sample(): void {
    const now = performance.now();
    const endpoints: EndpointStats[] = [];
    const each: Array<["in" | "out", RelayInput | RelayOutput]> = [["in", this.input], ...this.outputs.map((o) => ["out", o] as ["out", RelayOutput])];
    for (const [direction, e] of each) {
      const s = e.sample();
      const key = `${direction} ${e.display}`;
      const prev = this.last.get(key);
      this.last.set(key, { at: now, sample: s });
      const labels = { direction, peer: e.display };
      const seconds = prev ? (now - prev.at) / 1000 : 0;
      const bitrateKbps = prev && seconds > 0 ? ((s.bytes - prev.sample.bytes) * 8) / 1000 / seconds : 0;
      const grow = (c: Counter, v: number, before: number | undefined) => c.inc(labels, Math.max(0, v - (before ?? 0)));
      grow(this.m.reconnects, s.reconnects, prev?.sample.reconnects);
      grow(this.m.lost, s.packetsLost, prev?.sample.packetsLost);
      grow(this.m.dropped, s.packetsDropped, prev?.sample.packetsDropped);
      grow(this.m.retransmitted, s.packetsRetransmitted, prev?.sample.packetsRetransmitted);
      this.m.peers.set(labels, s.peers);
      this.m.bitrate.set(labels, bitrateKbps);
      this.m.rtt.set(labels, s.rttMs / 1000);
      if (s.jitterMs !== undefined) this.m.jitter.set(labels, s.jitterMs);
      const { bytes: _bytes, ...counters } = s;
      endpoints.push({ direction, peer: e.display, bitrateKbps, ...counters });
    }
    this.snapshot_ = { at: Date.now(), uptimeS: (now - this.started) / 1000, bufferMs: this.o.bufferMs, buffered: this.queue.length - this.queueHead, endpoints };
    this.onSnapshot(this.snapshot_);
  }

  /** Stops everything: the input first, then the buffered packets go out, then the outputs close. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.input.close();
    this.drain(Infinity);
    for (const out of this.outputs) out.close();
  }
}
