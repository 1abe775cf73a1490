/**
 * Cluster state that must outlive a node: stream-ownership leases, where each live stream is (its
 * media time and clock, for the node that takes it over) and listener sessions. In memory
 * on one node; in Redis (ioredis) when REDIS_URL is set, so that a listener whose gateway died can
 * resume its session on another gateway, and two nodes never own one stream.
 *
 * Leases: key `<namespace>:owner:<streamId>` = owner node id, with a TTL renewed by the owner while the
 * stream is live. A lease held by a node that is no longer a live cluster member may be taken over
 * (compare-and-set in a Lua script, so two claimants cannot both win).
 */
import Redis from "ioredis";
import type { ClockMapping } from "../../media/clock/media-clock";
import type { RecordingInfo } from "../../media/recording/manifest";

/** Listener-session state carried across gateways. */
export interface SessionRecord {
  sessionId: string;
  streamId: string;
  /** ms since the Unix epoch of the first connection. */
  connectedAt: number;
  framesSent: number;
  framesDropped: number;
  reconnects: number;
}

/**
 * Where a live stream is, saved by its owner with each lease renewal, so that a node taking the
 * stream over goes on from there (actors/stream/live-stream.ts `continueFrom`).
 */
export interface StreamClockState {
  /** Media time of the next frame, samples at 48 kHz. */
  mediaTime: number;
  /** Next sequence number of rendition 0. */
  seq: number;
  /** The broadcaster session on air. */
  sessionId: string;
  /** The media clock's mapping (media time → cluster µs) anchored at `mediaTime`; null before it has one. */
  mapping: ClockMapping | null;
}

export interface ClusterStore {
  readonly kind: string;
  /**
   * Claims `streamId` for `nodeID` unless another node that `isAlive` holds it.
   * Returns the holder after the call (`nodeID` when the claim succeeded).
   */
  claimOwner(streamId: string, nodeID: string, isAlive: (nodeID: string) => boolean, ttlMs: number): Promise<string>;
  /**
   * Extends `nodeID`'s lease, or takes it again when nobody holds it (it expired, or the store
   * restarted empty); false when another node holds it.
   */
  renewOwner(streamId: string, nodeID: string, ttlMs: number): Promise<boolean>;
  releaseOwner(streamId: string, nodeID: string): Promise<void>;
  /** Saves where `streamId` is, kept `ttlMs`. */
  saveStreamState(streamId: string, state: StreamClockState, ttlMs: number): Promise<void>;
  /** Where `streamId` was last saved; null when never or expired. */
  loadStreamState(streamId: string): Promise<StreamClockState | null>;
  /** Saves the recording `streamId` is being recorded into (its info), kept `ttlMs`; null ends it. */
  saveRecording(streamId: string, info: RecordingInfo | null, ttlMs: number): Promise<void>;
  /** The recording `streamId` is being recorded into, or null. */
  loadRecording(streamId: string): Promise<RecordingInfo | null>;
  saveSessions(records: SessionRecord[], ttlMs: number): Promise<void>;
  loadSession(sessionId: string): Promise<SessionRecord | null>;
  deleteSession(sessionId: string): Promise<void>;
  close(): Promise<void>;
}


/** How often, at most, a memory store drops its expired entries (ms). */
const SWEEP_EVERY_MS = 10_000;

/**
 * One node: everything in process memory, expiry checked on read, and expired entries dropped
 * every {@link SWEEP_EVERY_MS} on write (a session nobody resumes is never read again: without the
 * sweep every listener that ever left stayed in memory, found by bench/fuzz).
 */
export class MemoryStore implements ClusterStore {
  readonly kind = "memory";
  private readonly ownerKey = (streamId: string) => `owner:${streamId}`;
  private readonly sessionKey = (sessionId: string) => `session:${sessionId}`;
  private readonly stateKey = (streamId: string) => `state:${streamId}`;
  private readonly recordingKey = (streamId: string) => `recording:${streamId}`;
  private readonly values = new Map<string, { value: string; expiresAt: number }>();
  private sweptAt = Date.now();

  /** Entries held, expired or not (tests). */
  get size(): number {
    return this.values.size;
  }

  private get(key: string): string | null {
    const v = this.values.get(key);
    if (!v) return null;
    if (v.expiresAt <= Date.now()) {
      this.values.delete(key);
      return null;
    }
    return v.value;
  }

  private set(key: string, value: string, ttlMs: number): void {
    const now = Date.now();
    this.values.set(key, { value, expiresAt: now + ttlMs });
    if (now - this.sweptAt < SWEEP_EVERY_MS) return;
    this.sweptAt = now;
    for (const [k, v] of this.values) if (v.expiresAt <= now) this.values.delete(k);
  }

  async claimOwner(streamId: string, nodeID: string, isAlive: (id: string) => boolean, ttlMs: number): Promise<string> {
    const holder = this.get(this.ownerKey(streamId));
    if (holder && holder !== nodeID && isAlive(holder)) return holder;
    this.set(this.ownerKey(streamId), nodeID, ttlMs);
    return nodeID;
  }

  async renewOwner(streamId: string, nodeID: string, ttlMs: number): Promise<boolean> {
    const holder = this.get(this.ownerKey(streamId));
    if (holder !== null && holder !== nodeID) return false;
    this.set(this.ownerKey(streamId), nodeID, ttlMs);
    return true;
  }

  async releaseOwner(streamId: string, nodeID: string): Promise<void> {
    if (this.get(this.ownerKey(streamId)) === nodeID) this.values.delete(this.ownerKey(streamId));
  }

  async saveStreamState(streamId: string, state: StreamClockState, ttlMs: number): Promise<void> {
    this.set(this.stateKey(streamId), JSON.stringify(state), ttlMs);
  }

  async loadStreamState(streamId: string): Promise<StreamClockState | null> {
    const v = this.get(this.stateKey(streamId));
    return v ? (JSON.parse(v) as StreamClockState) : null;
  }

  async saveRecording(streamId: string, info: RecordingInfo | null, ttlMs: number): Promise<void> {
    if (info) this.set(this.recordingKey(streamId), JSON.stringify(info), ttlMs);
    else this.values.delete(this.recordingKey(streamId));
  }

  async loadRecording(streamId: string): Promise<RecordingInfo | null> {
    const v = this.get(this.recordingKey(streamId));
    return v ? (JSON.parse(v) as RecordingInfo) : null;
  }

  async saveSessions(records: SessionRecord[], ttlMs: number): Promise<void> {
    for (const r of records) this.set(this.sessionKey(r.sessionId), JSON.stringify(r), ttlMs);
  }

  async loadSession(sessionId: string): Promise<SessionRecord | null> {
    const v = this.get(this.sessionKey(sessionId));
    return v ? (JSON.parse(v) as SessionRecord) : null;
  }

  async deleteSession(sessionId: string): Promise<void> {
    this.values.delete(this.sessionKey(sessionId));
  }

  async close(): Promise<void> {
    this.values.clear();
  }
}

/** SET the key to ARGV[1] with PX ARGV[2] if it is absent, already ours, or still ARGV[3] (a dead holder). */
const CLAIM_LUA = `
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] or cur == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return cur`;
const RENEW_LUA = `
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export class RedisStore implements ClusterStore {
  readonly kind: string;
  private readonly redis: Redis;
  private readonly ownerKey: (streamId: string) => string;
  private readonly sessionKey: (sessionId: string) => string;
  private readonly stateKey: (streamId: string) => string;
  private readonly recordingKey: (streamId: string) => string;

  /** Keys are `<namespace>:owner:<streamId>`, `<namespace>:state:<streamId>`, `<namespace>:recording:<streamId>` and `<namespace>:session:<sessionId>`. */
  constructor(url: string, namespace: string) {
    this.kind = url;
    this.ownerKey = (streamId) => `${namespace}:owner:${streamId}`;
    this.recordingKey = (streamId) => `${namespace}:recording:${streamId}`;
    this.sessionKey = (sessionId) => `${namespace}:session:${sessionId}`;
    this.stateKey = (streamId) => `${namespace}:state:${streamId}`;
    this.redis = new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false });
    this.redis.on("error", () => undefined); // ioredis reconnects by itself; calls fail meanwhile
  }

  async claimOwner(streamId: string, nodeID: string, isAlive: (id: string) => boolean, ttlMs: number): Promise<string> {
    const key = this.ownerKey(streamId);
    const holder = await this.redis.get(key);
    const deadHolder = holder && holder !== nodeID && !isAlive(holder) ? holder : "";
    return (await this.redis.eval(CLAIM_LUA, 1, key, nodeID, String(ttlMs), deadHolder)) as string;
  }

  async renewOwner(streamId: string, nodeID: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(RENEW_LUA, 1, this.ownerKey(streamId), nodeID, String(ttlMs))) === 1;
  }

  async releaseOwner(streamId: string, nodeID: string): Promise<void> {
    await this.redis.eval(RELEASE_LUA, 1, this.ownerKey(streamId), nodeID);
  }

  async saveStreamState(streamId: string, state: StreamClockState, ttlMs: number): Promise<void> {
    await this.redis.set(this.stateKey(streamId), JSON.stringify(state), "PX", ttlMs);
  }

  async loadStreamState(streamId: string): Promise<StreamClockState | null> {
    const v = await this.redis.get(this.stateKey(streamId));
    return v ? (JSON.parse(v) as StreamClockState) : null;
  }

  async saveRecording(streamId: string, info: RecordingInfo | null, ttlMs: number): Promise<void> {
    if (info) await this.redis.set(this.recordingKey(streamId), JSON.stringify(info), "PX", ttlMs);
    else await this.redis.del(this.recordingKey(streamId));
  }

  async loadRecording(streamId: string): Promise<RecordingInfo | null> {
    const v = await this.redis.get(this.recordingKey(streamId));
    return v ? (JSON.parse(v) as RecordingInfo) : null;
  }

  async saveSessions(records: SessionRecord[], ttlMs: number): Promise<void> {
    if (records.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const r of records) pipeline.set(this.sessionKey(r.sessionId), JSON.stringify(r), "PX", ttlMs);
    await pipeline.exec();
  }

  async loadSession(sessionId: string): Promise<SessionRecord | null> {
    const v = await this.redis.get(this.sessionKey(sessionId));
    return v ? (JSON.parse(v) as SessionRecord) : null;
  }

  async deleteSession(sessionId: string): Promise<void> {
    await this.redis.del(this.sessionKey(sessionId));
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Redis when a URL is given, else memory. */
export function createClusterStore(redisUrl: string | undefined, namespace: string): ClusterStore {
  return redisUrl ? new RedisStore(redisUrl, namespace) : new MemoryStore();
}
