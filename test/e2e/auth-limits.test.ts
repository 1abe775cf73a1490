/**
 * The limits module (actors/auth/limits.ts) against the machine's real Redis: two Limits instances
 * on one Redis client each stand for two nodes of a cluster, on a fresh namespace per run. Limits
 * are lowered by overrides so that each case takes a handful of checks; no case bounds how fast
 * anything is, only what is answered (the machine may be loaded).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import net from "node:net";
import Redis from "ioredis";
import { Registry } from "prom-client";
import { Limits, RATE_LIMITED_METRIC, type LimitsOverrides } from "../../actors/auth/limits";
import { NodeMetrics } from "../../actors/metrics";
import { ensureRedis, isListening, REDIS_URL } from "../support/services";

const OVERRIDES: LimitsOverrides = {
  connections: { points: 5, durationS: 60 },
  httpApi: { points: 3, durationS: 30 },
  publishStarts: { points: 2, durationS: 60 },
  authFailures: { points: 3, durationS: 60, lockoutS: 2, maxLockoutS: 100 },
  listenersPerIp: { max: 3 },
  listenersPerStream: { max: 2 },
  // the cases below are about counts shared through Redis: a check that a loaded machine delays past
  // the default 500 ms would be answered from one node's memory instead; the time-out itself is
  // tested on its own with the default
  redisTimeoutMs: 5000,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not ${what} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** A client as a node would hold it: no offline queue, errors absorbed (ioredis reconnects by itself). */
function client(url = REDIS_URL): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: (n) => Math.min(n * 100, 1000) });
  redis.on("error", () => undefined);
  return redis;
}

/** A TCP port on 127.0.0.1 that nothing listens on (taken, then freed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** The value of `veza_rate_limited_total{limit}` on a registry. */
async function refusals(registry: Registry, limit: string): Promise<number> {
  const metric = (await registry.getSingleMetric(RATE_LIMITED_METRIC)!.get()).values;
  return metric.find((v) => v.labels.limit === limit)?.value ?? NaN;
}

describe("auth limits: rate limits and quotas on real Redis", function () {
  this.timeout(60_000);
  const namespace = `t-limits-${randomUUID().slice(0, 8)}`;
  const clients: Redis[] = [];
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  let a: Limits, b: Limits, metricsA: NodeMetrics, metricsB: NodeMetrics;

  /** A "node": its own Redis client (or a dead one), registry and limits, in the shared namespace. */
  function node(redis: Redis | null, registry = new Registry(), overrides = OVERRIDES): Limits {
    if (redis) clients.push(redis);
    return new Limits({ namespace, redis, registry, overrides });
  }

  before(async function () {
    await ensureRedis();
    process.on("unhandledRejection", onRejection);
    metricsA = new NodeMetrics();
    metricsB = new NodeMetrics();
    a = node(client(), metricsA.registry);
    b = node(client(), metricsB.registry);
    await until("Redis clients ready", () => clients.every((c) => c.status === "ready"));
  });

  after(async function () {
    process.off("unhandledRejection", onRejection);
    const cleaner = client();
    await until("cleaner ready", () => cleaner.status === "ready").catch(() => undefined);
    const keys = await cleaner.keys(`${namespace}:*`).catch(() => []);
    if (keys.length > 0) await cleaner.del(...keys).catch(() => undefined);
    for (const c of [...clients, cleaner]) c.disconnect();
  });

  afterEach(function () {
    assert.deepEqual(rejections, [], "no unhandled rejection");
  });

  it("every limit's counter exists at 0 on a new node's /metrics registry", async function () {
    const m = new NodeMetrics();
    const text = await m.registry.metrics();
    for (const limit of ["connections", "authFailures", "publishStarts", "httpApi", "listenersPerIp", "listenersPerStream"]) {
      assert.match(text, new RegExp(`^${RATE_LIMITED_METRIC}\\{limit="${limit}"\\} 0$`, "m"));
    }
    new Limits({ namespace, registry: m.registry }); // reuses the counter NodeMetrics registered
  });

  it("a limit holds across two nodes sharing Redis; another IP is not affected", async function () {
    assert.equal(a.store, "redis");
    const ip = "198.51.100.1";
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await (i % 2 === 0 ? a : b).connection(ip)); // 5 allowed in all
    assert.deepEqual(answers.slice(0, 5).map((r) => r.ok), [true, true, true, true, true]);
    const sixth = answers[5]!;
    assert.ok(!sixth.ok && sixth.limit === "connections");
    assert.equal((await a.connection(ip)).ok, false, "refused on the other node too");
    assert.equal((await a.connection("198.51.100.2")).ok, true, "another IP");
    assert.equal(await refusals(metricsB.registry, "connections"), 1);
    assert.equal(await refusals(metricsA.registry, "connections"), 1);
    // publish starts count per user, across nodes
    assert.equal((await a.publishStart("alice")).ok, true);
    assert.equal((await b.publishStart("alice")).ok, true);
    assert.equal((await a.publishStart("alice")).ok, false);
    assert.equal((await b.publishStart("bob")).ok, true);
  });

  it("Retry-After is the rest of the window, in whole seconds", async function () {
    const ip = "198.51.100.3";
    for (let i = 0; i < 3; i++) assert.equal((await a.httpRequest(ip)).ok, true);
    const refused = await b.httpRequest(ip);
    assert.ok(!refused.ok);
    assert.ok(Number.isInteger(refused.retryAfterS));
    // a 30 s window that opened moments ago: at most 30 s, and not nearly over (even on a loaded machine)
    assert.ok(refused.retryAfterS <= 30 && refused.retryAfterS >= 15, `retryAfterS ${refused.retryAfterS}`);
    const ttlMs = await clients[0]!.pttl(`${namespace}:limit:httpApi:${ip}`);
    assert.ok(Math.abs(ttlMs / 1000 - refused.retryAfterS) <= 2, `Redis TTL ${ttlMs} ms`);
  });

  it("repeated auth failures lock the IP out on every node, longer each time", async function () {
    const ip = "198.51.100.4";
    assert.equal((await a.authAllowed(ip)).ok, true);
    assert.equal((await a.authFailure(ip)).ok, true);
    assert.equal((await b.authFailure(ip)).ok, true);
    const locked = await a.authFailure(ip); // the 3rd: lock-out of 2 s
    assert.ok(!locked.ok && locked.limit === "authFailures");
    assert.ok(locked.retryAfterS >= 1 && locked.retryAfterS <= 2, `first lock-out ${locked.retryAfterS} s`);
    const onB = await b.authAllowed(ip);
    assert.ok(!onB.ok && onB.retryAfterS <= 2, "locked out on the other node");
    assert.equal((await b.authFailure(ip)).ok, false, "a failure while locked out is refused");
    assert.equal((await b.authAllowed("198.51.100.5")).ok, true, "another IP");
    await until("lock-out over", async () => (await b.authAllowed(ip)).ok);
    assert.equal((await b.authFailure(ip)).ok, true);
    assert.equal((await a.authFailure(ip)).ok, true);
    const again = await b.authFailure(ip); // second lock-out: doubled
    assert.ok(!again.ok && again.retryAfterS >= 3 && again.retryAfterS <= 4, `second lock-out ${JSON.stringify(again)}`);
    assert.ok((await refusals(metricsA.registry, "authFailures")) >= 1);
  });

  it("concurrent listeners per IP and per stream count down on close", async function () {
    const ip = "198.51.100.6";
    const slots = [];
    for (const [n, stream] of [[a, "s1"], [b, "s2"], [a, "s3"]] as const) {
      const slot = await n.openListener(ip, stream);
      assert.ok(slot.ok);
      slots.push(slot);
    }
    const fourth = await b.openListener(ip, "s4");
    assert.ok(!fourth.ok && fourth.limit === "listenersPerIp" && fourth.retryAfterS === 10);
    assert.equal(await a.listenersOpen("listenersPerIp", ip), 3, "a refusal leaves no count");
    await slots[0]!.release();
    await slots[0]!.release(); // twice: counted once
    assert.equal(await b.listenersOpen("listenersPerIp", ip), 2);
    const back = await b.openListener(ip, "s4");
    assert.ok(back.ok, "a slot freed by a close is taken again");
    // per stream, from other IPs: 2 at once
    const s = await Promise.all([a.openListener("198.51.100.7", "busy"), b.openListener("198.51.100.8", "busy")]);
    const third = await a.openListener("198.51.100.9", "busy");
    assert.ok(!third.ok && third.limit === "listenersPerStream");
    assert.equal(await a.listenersOpen("listenersPerIp", "198.51.100.9"), 0, "per-IP count undone");
    const ttlS = await clients[0]!.ttl(`${namespace}:limit:listenersPerStream:busy`);
    assert.ok(ttlS > 3000 && ttlS <= 3600, `a count in Redis lives idleTtlS (1 h) from its last change: ${ttlS} s`);
    for (const slot of [...slots.slice(1), back, ...s]) if (slot.ok) await slot.release();
    assert.equal(await a.listenersOpen("listenersPerIp", ip), 0);
    assert.equal(await b.listenersOpen("listenersPerStream", "busy"), 0);
    assert.equal(await refusals(metricsB.registry, "listenersPerIp"), 1);
  });

  it("without Redis (no client), the same limits hold in memory", async function () {
    const mem = node(null);
    assert.equal(mem.store, "memory");
    for (let i = 0; i < 5; i++) assert.equal((await mem.connection("203.0.113.1")).ok, true);
    const refused = await mem.connection("203.0.113.1");
    assert.ok(!refused.ok && refused.retryAfterS >= 15 && refused.retryAfterS <= 60);
    const slot = await mem.openListener("203.0.113.1", "m");
    assert.ok(slot.ok);
    await slot.release();
    assert.equal(await mem.listenersOpen("listenersPerIp", "203.0.113.1"), 0);
  });

  it("a node whose Redis is unreachable (closed port) answers from its in-memory insurance", async function () {
    const dead = node(client(`redis://127.0.0.1:${await closedPort()}`));
    assert.equal(dead.store, "redis");
    const ip = "203.0.113.2";
    for (let i = 0; i < 5; i++) assert.equal((await dead.connection(ip)).ok, true);
    assert.equal((await dead.connection(ip)).ok, false, "the limit holds in memory");
    assert.equal((await dead.connection("203.0.113.3")).ok, true, "another IP");
    for (let i = 0; i < 2; i++) await dead.authFailure(ip);
    assert.equal((await dead.authFailure(ip)).ok, false, "lock-out in memory");
    assert.equal((await dead.authAllowed(ip)).ok, false);
    const slot = await dead.openListener(ip, "x");
    assert.ok(slot.ok);
    await slot.release();
    assert.equal((await dead.httpRequest(ip)).ok, true);
    // the live nodes never saw these counts
    assert.equal((await a.connection(ip)).ok, true);
  });

  it("a Redis that hangs (CLIENT PAUSE) delays a check by the 500 ms time-out, not by the hang", async function () {
    const admin = client();
    clients.push(admin);
    // two nodes with the default time-out (500 ms)
    const { redisTimeoutMs: _shared, ...defaultTimeout } = OVERRIDES;
    const [c, d] = [node(client(), new Registry(), defaultTimeout), node(client(), new Registry(), defaultTimeout)];
    await until("admin and nodes ready", () => clients.slice(-3).every((r) => r.status === "ready"));
    await admin.call("CLIENT", "PAUSE", "3000", "WRITE"); // the limiters' scripts write: they wait
    try {
      const t0 = Date.now();
      // openListener is two checks in a row (per IP, then per stream): up to 2 time-outs
      const answers = await Promise.all([c.connection("203.0.113.7"), d.httpRequest("203.0.113.7"), c.openListener("203.0.113.7", "p")]);
      const elapsedMs = Date.now() - t0;
      assert.ok(answers.every((r) => r.ok), JSON.stringify(answers));
      assert.ok(elapsedMs < 2500, `answered from memory after ${elapsedMs} ms (the pause is 3 000 ms)`);
    } finally {
      await admin.call("CLIENT", "UNPAUSE");
    }
  });

  it("with the Redis server stopped, both nodes keep answering from memory, then share again once it is back", async function () {
    const ip = "203.0.113.4";
    try {
      execFileSync("redis-cli", ["-p", "6379", "shutdown", "nosave"], { stdio: "ignore" });
    } catch {
      // redis-cli exits non-zero when the server closes the connection as it shuts down
    }
    try {
      await until("Redis down", async () => !(await isListening(6379)));
      // each node now counts alone: 5 each, not 5 in all
      for (const n of [a, b]) {
        for (let i = 0; i < 5; i++) assert.equal((await n.connection(ip)).ok, true);
        const refused = await n.connection(ip);
        assert.ok(!refused.ok && refused.retryAfterS >= 1);
      }
      assert.equal((await a.connection("203.0.113.5")).ok, true, "another IP");
      const locked = [await a.authFailure(ip), await a.authFailure(ip), await a.authFailure(ip)];
      assert.equal(locked[2]!.ok, false);
      const slot = await b.openListener(ip, "down");
      assert.ok(slot.ok);
      await slot.release();
      assert.equal(await b.listenersOpen("listenersPerIp", ip), 0);
    } finally {
      await ensureRedis();
    }
    await until("clients reconnected", () => clients.slice(0, 2).every((c) => c.status === "ready"));
    const after = "203.0.113.6";
    for (let i = 0; i < 5; i++) assert.equal((await (i % 2 ? a : b).connection(after)).ok, true);
    assert.equal((await a.connection(after)).ok, false, "shared through Redis again");
  });
});
