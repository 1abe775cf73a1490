/**
 * The rate limits and quotas of a node (issue 11, item 4): their names, defaults and results, and
 * the Prometheus counter of refusals. The limiters themselves are built in `./limits.ts`.
 *
 * | limit                | default                                                     | key        |
 * |----------------------|-------------------------------------------------------------|------------|
 * | `connections`        | 60 new sockets per 10 s                                     | IP         |
 * | `authFailures`       | 10 failed auths per 300 s, then locked out 300 s, doubling per lock-out within 24 h, at most 3 600 s | IP |
 * | `publishStarts`      | 10 `stream.start`s per 60 s                                 | user (`sub`) |
 * | `httpApi`            | 100 requests per 60 s (the seeds' default)                  | IP         |
 * | `listenersPerIp`     | 200 listener sockets open at once                           | IP         |
 * | `listenersPerStream` | 100 000 listener sockets open at once                       | stream id  |
 * | `clock.ping`         | 2 000 pings/s, burst 500 (gateway/listen-route.ts `PING_RATE`) | listener socket |
 *
 * `clock.ping` is not built here: it is a token bucket (the `limiter` package) held in the socket's
 * own data and taken synchronously in the message handler, because a pong must leave at once (its
 * round trip is what the clock sync measures: waiting on a Promise, let alone on Redis, would add
 * the event loop's or the network's delay to every sample) and because it limits one socket, which
 * lives on one node: there is nothing to share across nodes, and a store round trip per ping at
 * 2 000/s per listener would cost more than the pong it protects.
 */
import { Counter, type Registry } from "prom-client";

/** The limits other code refers to by name (the `limit` label of {@link RATE_LIMITED_METRIC}). */
export const LIMIT_NAMES = ["connections", "authFailures", "publishStarts", "httpApi", "listenersPerIp", "listenersPerStream"] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/** A rate: at most `points` events per `durationS` seconds for one key. */
export interface RateLimit {
  /** Events (connections, requests, failures, starts) allowed per window. */
  points: number;
  /** Window, s (fixed window from a key's first event, as rate-limiter-flexible counts). */
  durationS: number;
}

/** Failed authentications per IP, and the lock-out that follows. */
export interface AuthFailureLimit extends RateLimit {
  /** First lock-out, s; each further lock-out of the same IP within {@link lockoutMemoryS} doubles it. */
  lockoutS: number;
  /** Longest lock-out, s. */
  maxLockoutS: number;
  /** How long, s, an IP's lock-outs are remembered for the doubling. */
  lockoutMemoryS: number;
}

/** A concurrency quota: at most `max` things open at once for one key (up on open, down on close). */
export interface ConcurrencyLimit {
  /** Listener sockets open at once. */
  max: number;
  /**
   * Retry-After, s, given with a refusal: a slot frees when some listener leaves, which no one can
   * know in advance, so this is a fixed hint.
   */
  retryAfterS: number;
  /**
   * In Redis, a count is forgotten after this many s without any open or close on its key: the
   * bound on what a gateway that crashed (and so never counted its listeners down) leaves behind.
   */
  idleTtlS: number;
}

export interface LimitsSettings {
  connections: RateLimit;
  authFailures: AuthFailureLimit;
  publishStarts: RateLimit;
  httpApi: RateLimit;
  listenersPerIp: ConcurrencyLimit;
  listenersPerStream: ConcurrencyLimit;
  /**
   * Longest wait, ms, for Redis on one check before the in-memory insurance answers instead
   * (rate-limiter-flexible's RLWrapperTimeouts): a Redis that hangs delays a check by at most this.
   */
  redisTimeoutMs: number;
}

/** The defaults of the table above. */
export const DEFAULT_LIMITS: LimitsSettings = {
  connections: { points: 60, durationS: 10 },
  authFailures: { points: 10, durationS: 300, lockoutS: 300, maxLockoutS: 3600, lockoutMemoryS: 86_400 },
  publishStarts: { points: 10, durationS: 60 },
  httpApi: { points: 100, durationS: 60 },
  listenersPerIp: { max: 200, retryAfterS: 10, idleTtlS: 3600 },
  listenersPerStream: { max: 100_000, retryAfterS: 10, idleTtlS: 3600 },
  redisTimeoutMs: 500,
};

/** Overrides of some defaults (tests, and later the node's configuration). */
export type LimitsOverrides = { [K in keyof LimitsSettings]?: LimitsSettings[K] extends object ? Partial<LimitsSettings[K]> : LimitsSettings[K] };

/** The defaults with `overrides` merged in, limit by limit. */
export function limitsSettings(overrides: LimitsOverrides = {}): LimitsSettings {
  const out = { ...DEFAULT_LIMITS } as Record<string, unknown>;
  for (const [k, v] of Object.entries(overrides)) {
    const base = (DEFAULT_LIMITS as unknown as Record<string, unknown>)[k];
    out[k] = typeof base === "object" && base !== null ? { ...base, ...(v as object) } : v;
  }
  return out as unknown as LimitsSettings;
}

/**
 * The answer of a check: allowed, or refused with the seconds to wait (at least 1): HTTP 429 with
 * `Retry-After: retryAfterS`, or WebSocket close 4429 RATE_LIMITED (the wiring maps it).
 */
export type LimitResult = { ok: true } | { ok: false; limit: LimitName; retryAfterS: number };

export const RATE_LIMITED_METRIC = "veza_rate_limited_total";

/**
 * The counter of refusals by limit on `registry`: created once (every label at 0), and returned
 * as is when the registry has it already, so NodeMetrics and Limits can both ask for it.
 */
export function rateLimitedCounter(registry: Registry): Counter<"limit"> {
  const existing = registry.getSingleMetric(RATE_LIMITED_METRIC);
  if (existing) return existing as Counter<"limit">;
  const counter = new Counter({
    name: RATE_LIMITED_METRIC,
    help: "Requests, sockets and auth attempts refused by a rate limit or quota, by limit",
    labelNames: ["limit"] as const,
    registers: [registry],
  });
  for (const limit of LIMIT_NAMES) counter.inc({ limit }, 0);
  return counter;
}
