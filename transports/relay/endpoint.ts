/**
 * What the relay (relay.ts) needs of an input or output, whatever the protocol: packets in or out,
 * and a sample of its counters. transports/srt/relay-endpoints.ts and transports/rist/relay-endpoints.ts
 * implement it.
 */

/** One endpoint's counters; totals since the relay started, across reconnections. */
export interface EndpointSample {
  /** Peers connected now (an input: 0 or 1; a listening output: every reader). */
  peers: number;
  /** Payload bytes received (input) or sent (output). */
  bytes: number;
  /** Packets found missing (input) or reported missing by receivers (output); most are then retransmitted. */
  packetsLost: number;
  /** Packets given up: not recovered in time (input), or too late to send (output). */
  packetsDropped: number;
  /** Packets the protocol retransmitted (output) or received again (input, where the library tells). */
  packetsRetransmitted: number;
  /** Connections made again after one was lost. */
  reconnects: number;
  /** Round-trip time, ms (the largest of the peers'), or 0 unknown. */
  rttMs: number;
  /** RFC 3550 interarrival jitter of the input, ms; undefined for outputs. */
  jitterMs?: number;
}

/** A packet source. */
export interface RelayInput {
  /** For logs and metric labels: the URI without secrets. */
  readonly display: string;
  /**
   * Packets as they arrive. `sendUs[i]`: packet i's original send time on our clock (µs, libsrt's
   * srt_time_now), when known; `lateUs[i]`: how much later than the fastest packet it arrived (its
   * share of the jitter, µs; 0 when unknown).
   */
  onPackets: (packets: Buffer[], sendUs: Array<number | undefined>, lateUs: number[]) => void;
  /** Starts listening or calling. @throws Error when a port cannot be bound. */
  start(): void;
  sample(): EndpointSample;
  close(): void;
}

/** A packet sink. */
export interface RelayOutput {
  readonly display: string;
  /** Sends one packet to every peer connected; `sendUs`, when given, stamps it with its original send time. */
  send(packet: Buffer, sendUs: number | undefined): void;
  start(): void;
  sample(): EndpointSample;
  close(): void;
}

/** Adds a closed connection's counters to the totals kept for the endpoint. */
export function addCounters(into: EndpointSample, from: Omit<EndpointSample, "peers" | "reconnects" | "rttMs" | "jitterMs">): void {
  into.bytes += from.bytes;
  into.packetsLost += from.packetsLost;
  into.packetsDropped += from.packetsDropped;
  into.packetsRetransmitted += from.packetsRetransmitted;
}
