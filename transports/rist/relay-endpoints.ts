/**
 * RIST inputs and outputs of the relay (transports/relay/relay.ts). A `rist://` URI goes to librist
 * as it is (its own parser: `rist://@:port` listens, `rist://host:port` calls; `buffer`, `secret`,
 * `aes-type`, `cname`… in the query), but for `profile=simple|main` (default main, as ffmpeg and
 * ristsender), which we take out. librist keeps calling a peer that went away by itself; a
 * connection made again after a time-out is counted as a reconnection. Its statistics come once a
 * second, per interval, and are added up here.
 */
import type { Logger } from "pino";
import { addCounters, type EndpointSample, type RelayInput, type RelayOutput } from "../relay/endpoint";
import { ClockOffset, InterarrivalJitter } from "../relay/jitter";
import { RistContext, type RistProfile, type RistStats } from "./librist";

/** A `rist://` URI that cannot be used; `message` never repeats a secret. */
export class RistUriError extends Error {
  override readonly name = "RistUriError";
}

export interface RistUri {
  /** What librist gets: the URI without `profile`. */
  url: string;
  profile: RistProfile;
  /** For logs and metric labels: scheme, host and port, no query. */
  display: string;
}

/** @throws RistUriError for another scheme, no port, or an unknown profile. */
export function parseRistUri(text: string): RistUri {
  const m = /^rist:\/\/(@?)(\[[0-9A-Fa-f:.]+\]|[^:/?#@[\]]*):(\d{1,5})\/?(?:\?(.*))?$/.exec(text);
  if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) throw new RistUriError("not a RIST URI: rist://host:port (call) or rist://@:port (listen)[?buffer=ms&secret=…&profile=simple|main]");
  const params = (m[4] ?? "").split("&").filter(Boolean);
  let profile: RistProfile = "main";
  const kept: string[] = [];
  for (const p of params) {
    if (!p.startsWith("profile=")) {
      kept.push(p);
      continue;
    }
    const v = p.slice("profile=".length);
    if (v !== "simple" && v !== "main") throw new RistUriError(`profile=${v.slice(0, 16)}: simple or main`);
    profile = v;
  }
  const host = m[1] === "@" && m[2] === "" ? "0.0.0.0" : m[2];
  const url = `rist://${m[1]}${host}:${m[3]}${kept.length ? `?${kept.join("&")}` : ""}`;
  return { url, profile, display: `rist://${m[1]}${m[2]}:${m[3]}${profile === "main" ? "" : "?profile=simple"}` };
}

/** Counters of one endpoint from librist's per-interval statistics. */
class Counters {
  readonly totals: EndpointSample = { peers: 0, bytes: 0, packetsLost: 0, packetsDropped: 0, packetsRetransmitted: 0, reconnects: 0, rttMs: 0 };
  private connectedOnce = false;
  private down = false;

  constructor(private readonly log: Logger) {}

  stats(s: RistStats): void {
    addCounters(this.totals, { bytes: 0, packetsLost: s.missing, packetsDropped: s.lost, packetsRetransmitted: s.retransmitted });
    if (s.rtt > 0) this.totals.rttMs = s.rtt;
  }

  status(status: string): void {
    const up = status === "established" || status === "client connected";
    if (up && this.connectedOnce && this.down) this.totals.reconnects++;
    if (up) {
      this.connectedOnce = true;
      this.down = false;
      this.totals.peers = 1;
    } else {
      this.down = true;
      this.totals.peers = 0;
    }
    this.log[up ? "info" : "warn"]({ status }, "rist peer");
  }
}

function open(kind: "receiver" | "sender", uri: RistUri, counters: Counters, log: Logger): RistContext {
  const ctx = RistContext.open(kind, uri.url, uri.profile);
  ctx.onStats = (s) => counters.stats(s);
  ctx.onStatus = (s) => counters.status(s);
  ctx.onLog = (level, text) => log[level <= 3 ? "error" : "warn"]({ librist: true }, text.replace(/secret=[^&\s]*/g, "secret=[redacted]"));
  return ctx;
}

/** What a RIST input and output share: the URI, the counters, the context. */
abstract class RistEndpoint {
  readonly display: string;
  protected ctx: RistContext | null = null;
  protected readonly counters: Counters;

  constructor(
    protected readonly uri: RistUri,
    protected readonly log: Logger,
  ) {
    this.display = uri.display;
    this.counters = new Counters(log);
  }

  close(): void {
    this.ctx?.close();
  }
}

export class RistInput extends RistEndpoint implements RelayInput {
  onPackets: RelayInput["onPackets"] = () => undefined;
  private readonly jitter = new InterarrivalJitter();
  private readonly offset = new ClockOffset();

  start(): void {
    this.ctx = open("receiver", this.uri, this.counters, this.log);
    this.ctx.onData = (payload, sendUs, arrivalUs) => {
      this.counters.totals.bytes += payload.length;
      this.jitter.push(sendUs, arrivalUs);
      this.offset.push(sendUs, arrivalUs);
      this.onPackets([payload], [undefined], [arrivalUs - this.offset.map(sendUs)!]);
    };
  }

  sample(): EndpointSample {
    return { ...this.counters.totals, jitterMs: this.jitter.jitterUs / 1000 };
  }
}

export class RistOutput extends RistEndpoint implements RelayOutput {
  start(): void {
    this.ctx = open("sender", this.uri, this.counters, this.log);
  }

  send(packet: Buffer): void {
    if (this.ctx?.write(packet)) this.counters.totals.bytes += packet.length;
  }

  sample(): EndpointSample {
    return { ...this.counters.totals };
  }
}
