/**
 * A gateway's relays to and from remote SRT and RIST endpoints, started by an operator
 * (`relay.start`, the admin console's `relay pull|push`, `POST /api/relays`):
 *
 * - **pull**: the endpoint's MPEG-TS goes on air on the stream, as an SRT publisher's does
 *   (gateway/sources.ts, door `relay`), e.g. a studio encoder that serves SRT as a listener, or a
 *   remote server's output;
 * - **push**: the stream goes out to the endpoint as MPEG-TS, as to an SRT reader (the source's own
 *   transport stream, else its Opus remuxed), e.g. to a CDN's SRT ingest or another server.
 *
 * The endpoints are the stream relay's (transports/srt/relay-endpoints.ts,
 * transports/rist/relay-endpoints.ts): a caller reconnects with backoff by itself, a listener waits
 * for its peer. A pull whose source is taken off air (an operator's stop, another broadcaster)
 * stops, and so does a push whose broadcast ends.
 */
import { randomUUID } from "node:crypto";
import { VezaError } from "../actors/errors";
import type { EndpointSample, RelayInput, RelayOutput } from "../transports/relay/endpoint";
import { EndpointUnavailable, EndpointUriError, relayEndpoint } from "../transports/relay/open-endpoint";
import { Datagrams } from "../transports/relay/datagrams";
import { SRT_LIVE_PAYLOAD } from "../transports/srt/libsrt";
import type { Gateway } from "./gateway";
import type { SourceHandle } from "./sources";

/** One remote relay as `relay.list` and `GET /api/relays` show it. */
export interface RemoteRelayInfo {
  id: string;
  streamId: string;
  direction: "pull" | "push";
  /** The endpoint's URI without secrets. */
  endpoint: string;
  node: string;
  startedAt: string;
  /** Who started it (`sub` of the admin token). */
  by: string;
  /** pull: on air now; push: attached to the stream now. */
  active: boolean;
  stats: EndpointSample;
}

interface RemoteRelay {
  info: Omit<RemoteRelayInfo, "stats" | "active">;
  endpoint: RelayInput | RelayOutput;
  active(): boolean;
  stop(): void;
}

/** Relays on one gateway at most. */
const MAX_RELAYS = 64;

function endpointOf(uri: string, direction: "pull" | "push", gw: Gateway): RelayInput | RelayOutput {
  const log = gw.log.child({ mod: "remote-relay" });
  try {
    return direction === "pull" ? relayEndpoint(uri, "in", log) : relayEndpoint(uri, "out", log);
  } catch (err) {
    if (err instanceof EndpointUriError || err instanceof EndpointUnavailable) throw new VezaError("BAD_REQUEST", err.message);
    throw err;
  }
}

export class RemoteRelays {
  private readonly relays = new Map<string, RemoteRelay>();

  constructor(private readonly gw: Gateway) {}

  /**
   * Starts a relay of `streamId` from (`pull`) or to (`push`) the endpoint `uri`; `by` is the
   * operator's `sub`.
   * @throws VezaError BAD_REQUEST (the URI, SRT or RIST not available here, too many relays);
   *   for a pull, the refusals of stream.start (BROADCASTER_EXISTS…); for a push, STREAM_NOT_FOUND
   *   when the stream is not live; an Error when a listening endpoint's port cannot be bound.
   */
  async start(p: { streamId: string; uri: string; direction: "pull" | "push" }, by: string): Promise<RemoteRelayInfo> {
    if (this.relays.size >= MAX_RELAYS) throw new VezaError("BAD_REQUEST", `this gateway runs ${MAX_RELAYS} relays already`);
    const endpoint = endpointOf(p.uri, p.direction, this.gw);
    const info = { id: randomUUID(), streamId: p.streamId, direction: p.direction, endpoint: endpoint.display, node: this.gw.broker.nodeID, startedAt: new Date().toISOString(), by };
    const relay = p.direction === "pull" ? await this.pull(info, endpoint as RelayInput) : await this.push(info, endpoint as RelayOutput);
    this.relays.set(info.id, relay);
    this.gw.access.auditEvent("relay.start", { ...info });
    this.gw.log.info({ ...info }, "remote relay started");
    return this.describe(relay);
  }

  /** The stream on air from the endpoint: its packets are pushed as an SRT publisher's, from the first one on. */
  private async pull(info: RemoteRelay["info"], input: RelayInput): Promise<RemoteRelay> {
    let handle: SourceHandle | null = null;
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      input.close();
      handle?.end();
      this.relays.delete(info.id);
    };
    handle = await this.gw.sources.start(
      { streamId: info.streamId, password: undefined, ip: `relay:${info.endpoint}`, format: "mpegts", title: info.streamId, metadata: {}, door: "relay", via: "relay.pull", grant: { sub: info.by } },
      (reason) => {
        this.gw.log.info({ id: info.id, streamId: info.streamId, reason }, "remote relay's stream taken off air: relay stopped");
        stop();
      },
    );
    input.onPackets = (packets) => {
      for (const p of packets) handle?.push(p);
    };
    try {
      input.start();
    } catch (err) {
      stop();
      throw err;
    }
    return { info, endpoint: input, active: () => !stopped, stop };
  }

  /** The stream to the endpoint, as an SRT reader gets it, cut into 1316-byte messages. */
  private async push(info: RemoteRelay["info"], output: RelayOutput): Promise<RemoteRelay> {
    const { gw } = this;
    const live = gw.isLive(info.streamId) ? gw.statusOf(info.streamId) : await gw.getStream(info.streamId);
    if (live.state !== "live") throw new VezaError("STREAM_NOT_FOUND", `stream ${info.streamId} is not live`);
    output.start();
    const datagrams = new Datagrams(SRT_LIVE_PAYLOAD, (m) => output.send(m, undefined));
    const detach = gw.httpListeners.attach(
      { streamId: info.streamId, format: "mpegts", icy: false, ip: `relay:${info.endpoint}`, transcode: live.format !== "mpegts", kind: "relay", sub: info.by },
      {
        write: (bytes) => (datagrams.push(bytes), 0),
        close: () => {
          gw.log.info({ id: info.id, streamId: info.streamId }, "remote relay's broadcast ended: relay stopped");
          stop();
        },
      },
    );
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      detach();
      output.close();
      this.relays.delete(info.id);
    };
    return { info, endpoint: output, active: () => !stopped, stop };
  }

  /** @throws VezaError STREAM_NOT_FOUND for an unknown id. */
  stop(id: string): RemoteRelayInfo {
    const relay = this.relays.get(id);
    if (!relay) throw new VezaError("STREAM_NOT_FOUND", `no relay ${id} on this gateway`);
    const info = this.describe(relay);
    relay.stop();
    this.gw.access.auditEvent("relay.stop", { id, streamId: relay.info.streamId });
    return { ...info, active: false };
  }

  list(): RemoteRelayInfo[] {
    return [...this.relays.values()].map((r) => this.describe(r));
  }

  private describe(r: RemoteRelay): RemoteRelayInfo {
    return { ...r.info, active: r.active(), stats: r.endpoint.sample() };
  }

  closeAll(): void {
    for (const r of [...this.relays.values()]) r.stop();
  }
}
