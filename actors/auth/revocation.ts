/**
 * The revocation list: token ids (`jti`, RFC 7519 §4.1.7) that no longer verify although their
 * signature and `exp` are fine. Each entry lives until the token's own `exp` (after that the token
 * fails on its expiry anyway), so the list stays as small as the revoked tokens still alive.
 * In Redis when REDIS_URL is set (key `<namespace>:revoked:<jti>`, shared by every node), in memory
 * otherwise (one node).
 */
import Redis from "ioredis";
import { VezaError } from "../errors";

/** A jti deny-list. */
export interface RevocationList {
  /** Where the list lives: `memory` or the Redis URL. */
  readonly kind: string;
  /**
   * Revokes `jti` until `expS` (the token's `exp`, seconds since the epoch) plus 60 s, more than
   * the verifier's clock tolerance.
   */
  revoke(jti: string, expS: number): Promise<void>;
  /** Whether `jti` is revoked. @throws VezaError AUTH_UNAVAILABLE when the list cannot be read. */
  isRevoked(jti: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Seconds an entry outlives its token's `exp`: the verifier's clock tolerance and some more. */
const GRACE_S = 60;

/** In memory, for one node: a map of jti → expiry (ms), swept of expired entries as it grows. */
export class MemoryRevocations implements RevocationList {
  readonly kind = "memory";
  private readonly until = new Map<string, number>();
  private nextSweep = 1024;

  async revoke(jti: string, expS: number): Promise<void> {
    this.until.set(jti, (expS + GRACE_S) * 1000);
    if (this.until.size >= this.nextSweep) {
      const now = Date.now();
      for (const [k, t] of this.until) if (t <= now) this.until.delete(k);
      this.nextSweep = Math.max(1024, this.until.size * 2);
    }
  }

  async isRevoked(jti: string): Promise<boolean> {
    const t = this.until.get(jti);
    return t !== undefined && t > Date.now();
  }

  async close(): Promise<void> {
    this.until.clear();
  }
}

/**
 * In Redis: `SET <namespace>:revoked:<jti> 1 EX <seconds until exp + grace>`. A read that fails
 * (Redis down: ioredis gives up after one retry or 1 s) refuses the token with AUTH_UNAVAILABLE
 * rather than letting a possibly revoked token through.
 */
export class RedisRevocations implements RevocationList {
  readonly kind: string;
  private readonly redis: Redis;
  private readonly owned: boolean;

  /**
   * @param redis a Redis URL (a connection of its own, closed by {@link close}) or the node's
   *   client (shared, left open)
   * @param namespace the cluster namespace, the key prefix
   */
  constructor(redis: string | Redis, private readonly namespace: string) {
    this.owned = typeof redis === "string";
    this.redis = typeof redis === "string" ? new Redis(redis, { maxRetriesPerRequest: 1, commandTimeout: 1000, enableOfflineQueue: true }) : redis;
    this.kind = typeof redis === "string" ? redis : "redis";
    if (this.owned) this.redis.on("error", () => undefined); // ioredis reconnects by itself; calls fail meanwhile
  }

  /** The Redis key of a jti. */
  key(jti: string): string {
    return `${this.namespace}:revoked:${jti}`;
  }

  async revoke(jti: string, expS: number): Promise<void> {
    const ttlS = Math.max(1, Math.ceil(expS + GRACE_S - Date.now() / 1000));
    await this.redis.set(this.key(jti), "1", "EX", ttlS);
  }

  async isRevoked(jti: string): Promise<boolean> {
    try {
      return (await this.redis.exists(this.key(jti))) === 1;
    } catch (err) {
      throw new VezaError("AUTH_UNAVAILABLE", `the revocation list (Redis) cannot be read: ${(err as Error).message}`, { reason: "revocation_unavailable" });
    }
  }

  async close(): Promise<void> {
    if (this.owned) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Redis when a URL or client is given, else memory. */
export function createRevocationList(redis: string | Redis | undefined | null, namespace: string): RevocationList {
  return redis ? new RedisRevocations(redis, namespace) : new MemoryRevocations();
}
