/**
 * The rate limits and quotas of one node, on rate-limiter-flexible: the names, defaults and the
 * reasons the clock.ping limit stays apart are in `./limits-config.ts`.
 *
 * Store: with a Redis client (the node has REDIS_URL), each limit is a `RateLimiterRedis` shared by
 * every node of the cluster, keys `<namespace>:limit:<name>:<key>`, with a `RateLimiterMemory` as
 * its `insuranceLimiter`: when Redis is down, not ready, or slower than `redisTimeoutMs`
 * (`RLWrapperTimeouts`), the node answers from its own memory (each node then counts alone) and
 * never throws. Without Redis, each limit is a `RateLimiterMemory` (one node).
 *
 * Concurrent listeners are counts, not rates: `consume` on open (undone by `reward` when it was
 * over the quota), `reward` on close, on keys that do not expire in memory and, in Redis, expire
 * only after `idleTtlS` without an open or a close (a crashed gateway's counts go away then).
 */
import type Redis from "ioredis";
import type { Logger } from "pino";
import type { Counter, Registry } from "prom-client";
import { RLWrapperTimeouts, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { limitsSettings, rateLimitedCounter, type ConcurrencyLimit, type LimitName, type LimitResult, type LimitsOverrides, type LimitsSettings } from "./limits-config";

export * from "./limits-config";

export interface LimitsOptions {
  /** The cluster namespace (CLUSTER_NAMESPACE): the Redis key prefix, so clusters never share counts. */
  namespace: string;
  /** The node's Redis client when REDIS_URL is set; null or absent: memory only. Not closed by {@link Limits.close}. */
  redis?: Redis | null;
  /** Where `veza_rate_limited_total{limit}` is counted (the node's NodeMetrics registry). */
  registry: Registry;
  /** Refusals at debug, unexpected errors at warn. */
  logger?: Logger;
  /** Changes to {@link DEFAULT_LIMITS}. */
  overrides?: LimitsOverrides;
}

/** A listener admitted by {@link Limits.openListener}: call `release` once when its socket closes. */
export interface ListenerSlot {
  ok: true;
  /** Counts the listener down (per IP and per stream); a second call does nothing. Never throws. */
  release(): Promise<void>;
}

interface Built {
  /** What checks call: the insured Redis limiter behind its time-out, or the memory limiter. */
  limiter: RateLimiterAbstract;
  /** The Redis limiter itself (its key names), when there is one. */
  redisLimiter: RateLimiterRedis | null;
}

/** Seconds to wait, from rate-limiter-flexible's ms (at least 1: Retry-After 0 would invite a retry at once). */
const toRetryAfterS = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export class Limits {
  readonly settings: LimitsSettings;
  /** `redis` when the limits are shared through Redis, `memory` otherwise. */
  readonly store: "redis" | "memory";
  private readonly redis: Redis | null;
  private readonly log: Logger | undefined;
  private readonly refused: Counter<"limit">;
  private readonly connections: Built;
  private readonly authFailures: Built;
  /** Lock-outs per IP within `lockoutMemoryS`: how many times the next lock-out doubles. */
  private readonly authLockouts: Built;
  private readonly publishStarts: Built;
  private readonly httpApi: Built;
  private readonly listenersPerIp: Built;
  private readonly listenersPerStream: Built;

  constructor(opts: LimitsOptions) {
    this.settings = limitsSettings(opts.overrides);
    this.redis = opts.redis ?? null;
    this.store = this.redis ? "redis" : "memory";
    this.log = opts.logger;
    this.refused = rateLimitedCounter(opts.registry);
    const s = this.settings;
    const build = (name: string, points: number, durationS: number, redisDurationS = durationS) =>
      this.build(opts.namespace, name, points, durationS, redisDurationS);
    this.connections = build("connections", s.connections.points, s.connections.durationS);
    this.authFailures = build("authFailures", s.authFailures.points, s.authFailures.durationS);
    this.authLockouts = build("authLockouts", 1_000_000, s.authFailures.lockoutMemoryS);
    this.publishStarts = build("publishStarts", s.publishStarts.points, s.publishStarts.durationS);
    this.httpApi = build("httpApi", s.httpApi.points, s.httpApi.durationS);
    // counts: never expire in memory; in Redis, idleTtlS from creation, renewed by `touch`
    this.listenersPerIp = build("listenersPerIp", s.listenersPerIp.max, 0, s.listenersPerIp.idleTtlS);
    this.listenersPerStream = build("listenersPerStream", s.listenersPerStream.max, 0, s.listenersPerStream.idleTtlS);
  }

  private build(namespace: string, name: string, points: number, durationS: number, redisDurationS: number): Built {
    const keyPrefix = `${namespace}:limit:${name}`;
    // as insurance, a count forgets too (after redisDurationS): opens it took while Redis was down
    // are counted down in Redis once it is back, so without a TTL they would stay in memory for ever
    const memory = new RateLimiterMemory({ keyPrefix, points, duration: this.redis ? redisDurationS : durationS });
    if (!this.redis) return { limiter: memory, redisLimiter: null };
    const redisLimiter = new RateLimiterRedis({
      storeClient: this.redis,
      keyPrefix,
      points,
      duration: redisDurationS,
      insuranceLimiter: memory,
      rejectIfRedisNotReady: true, // no wait in ioredis's offline queue while it reconnects
    });
    const limiter = new RLWrapperTimeouts({ limiter: redisLimiter, timeoutMs: this.settings.redisTimeoutMs, insuranceLimiter: memory });
    return { limiter: limiter as unknown as RateLimiterAbstract, redisLimiter };
  }

  /** A new socket (listener or broadcaster) from `ip`: `connections`, 60 per 10 s by default. */
  connection(ip: string): Promise<LimitResult> {
    return this.consume("connections", this.connections, ip);
  }

  /** An HTTP API request from `ip`: `httpApi`, 100 per 60 s by default. */
  httpRequest(ip: string): Promise<LimitResult> {
    return this.consume("httpApi", this.httpApi, ip);
  }

  /** A `stream.start` by user `sub` (the token's subject): `publishStarts`, 10 per 60 s by default. */
  publishStart(sub: string): Promise<LimitResult> {
    return this.consume("publishStarts", this.publishStarts, sub);
  }

  /**
   * Whether `ip` may try to authenticate now: refused while it is locked out by
   * {@link authFailure}. Check it before verifying a token, so a locked-out IP costs no verification.
   */
  async authAllowed(ip: string): Promise<LimitResult> {
    try {
      const res = await this.authFailures.limiter.get(ip);
      if (res && res.consumedPoints > this.settings.authFailures.points && res.msBeforeNext > 0) {
        return this.refuse("authFailures", ip, res.msBeforeNext);
      }
    } catch (err) {
      this.log?.warn({ err, limit: "authFailures" }, "rate limit check failed; allowed");
    }
    return { ok: true };
  }

  /**
   * Counts a failed authentication from `ip`. The failure that reaches `points` (10 in 300 s by
   * default) locks the IP out for `lockoutS` (300 s), doubled for each earlier lock-out of that IP
   * within `lockoutMemoryS` (24 h), at most `maxLockoutS` (3 600 s). Returns the refusal when the
   * IP is (now) locked out, so the caller can close with it at once.
   */
  async authFailure(ip: string): Promise<LimitResult> {
    const a = this.settings.authFailures;
    try {
      const res = await this.authFailures.limiter.consume(ip);
      if (res.consumedPoints < a.points) return { ok: true };
      // exactly `points`: this failure crosses the threshold (Redis counts atomically: one caller sees it)
      const lockouts = await this.authLockouts.limiter.consume(ip);
      const lockoutS = Math.min(a.maxLockoutS, a.lockoutS * 2 ** Math.min(30, lockouts.consumedPoints - 1));
      await this.authFailures.limiter.block(ip, lockoutS);
      this.log?.info({ limit: "authFailures", ip, lockoutS, lockouts: lockouts.consumedPoints }, "locked out after failed authentications");
      return this.refuse("authFailures", ip, lockoutS * 1000);
    } catch (err) {
      if (err instanceof RateLimiterRes) return this.refuse("authFailures", ip, err.msBeforeNext); // locked out already
      this.log?.warn({ err, limit: "authFailures" }, "rate limit check failed; allowed");
      return { ok: true };
    }
  }

  /**
   * A listener socket from `ip` on `streamId`: counted against `listenersPerIp` (200 open at once
   * by default) and `listenersPerStream` (100 000). Refused with nothing counted, or admitted with
   * the slot to release when the socket closes.
   */
  async openListener(ip: string, streamId: string): Promise<ListenerSlot | Extract<LimitResult, { ok: false }>> {
    const perIp = await this.acquire("listenersPerIp", this.listenersPerIp, this.settings.listenersPerIp, ip);
    if (!perIp.ok) return perIp;
    const perStream = await this.acquire("listenersPerStream", this.listenersPerStream, this.settings.listenersPerStream, streamId);
    if (!perStream.ok) {
      await this.releaseOne(this.listenersPerIp, this.settings.listenersPerIp, ip);
      return perStream;
    }
    let released = false;
    return {
      ok: true,
      release: async () => {
        if (released) return;
        released = true;
        await Promise.all([
          this.releaseOne(this.listenersPerIp, this.settings.listenersPerIp, ip),
          this.releaseOne(this.listenersPerStream, this.settings.listenersPerStream, streamId),
        ]);
      },
    };
  }

  /** Listeners counted now for `ip` (or for a stream id with `listenersPerStream`), as the store says. */
  async listenersOpen(limit: "listenersPerIp" | "listenersPerStream", key: string): Promise<number> {
    const built = limit === "listenersPerIp" ? this.listenersPerIp : this.listenersPerStream;
    const res = await built.limiter.get(key).catch(() => null);
    return Math.max(0, res?.consumedPoints ?? 0);
  }

  /** Nothing to stop: the limiters hold no timers, and the Redis client belongs to the caller. */
  async close(): Promise<void> {}

  private async consume(limit: LimitName, built: Built, key: string): Promise<LimitResult> {
    try {
      await built.limiter.consume(key);
      return { ok: true };
    } catch (err) {
      if (err instanceof RateLimiterRes) return this.refuse(limit, key, err.msBeforeNext);
      this.log?.warn({ err, limit }, "rate limit check failed; allowed");
      return { ok: true };
    }
  }

  /** One more open for `key`, undone at once when it is over the quota. */
  private async acquire(limit: LimitName, built: Built, q: ConcurrencyLimit, key: string): Promise<LimitResult> {
    try {
      await built.limiter.consume(key);
      this.touch(built, q, key);
      return { ok: true };
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) {
        this.log?.warn({ err, limit }, "rate limit check failed; allowed");
        return { ok: true }; // not counted, so release must not count it down: see releaseOne's clamp
      }
      await this.releaseOne(built, q, key);
      return this.refuse(limit, key, q.retryAfterS * 1000);
    }
  }

  /** One less open for `key`; a count that would go below 0 (forgotten by a TTL, or a Redis outage) is dropped. */
  private async releaseOne(built: Built, q: ConcurrencyLimit, key: string): Promise<void> {
    try {
      const res = await built.limiter.reward(key);
      if (res.consumedPoints < 0) await built.limiter.delete(key);
      else this.touch(built, q, key);
    } catch (err) {
      this.log?.warn({ err }, "listener count-down failed");
    }
  }

  /** Redis only: the concurrency key lives `idleTtlS` from its last open or close (fire and forget). */
  private touch(built: Built, q: ConcurrencyLimit, key: string): void {
    if (!this.redis || !built.redisLimiter || this.redis.status !== "ready") return;
    this.redis.expire(built.redisLimiter.getKey(key), q.idleTtlS).catch(() => undefined);
  }

  private refuse(limit: LimitName, key: string, msBeforeNext: number): LimitResult {
    const retryAfterS = toRetryAfterS(msBeforeNext);
    this.refused.inc({ limit });
    this.log?.debug({ limit, key, retryAfterS }, "rate limited");
    return { ok: false, limit, retryAfterS };
  }
}
