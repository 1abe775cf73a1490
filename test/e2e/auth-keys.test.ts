/**
 * The token verifier against real things: a JWKS served by a real local HTTP server (node:http)
 * whose set changes during a key rotation, the machine's Redis (127.0.0.1:6379) as the shared
 * revocation list of two verifiers (two nodes), and the generated key's file on disk.
 */
import { strict as assert } from "node:assert";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import Redis from "ioredis";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import { GENERATED_KEY_FILE, loadOrCreateGeneratedSecret, usesGeneratedKey } from "../../actors/auth/default-key";
import { secretKid, type SigningKey } from "../../actors/auth/keys";
import { RedisRevocations } from "../../actors/auth/revocation";
import { parseScope } from "../../actors/auth/scopes";
import { mintToken, TokenVerifier, type AuthConfig, type TokenVerifierOptions } from "../../actors/auth/tokens";
import { VezaError } from "../../actors/errors";
import { loadConfig } from "../../config";

const SCOPES = [parseScope("publish:radio")];
const REDIS_URL = "redis://127.0.0.1:6379";

async function esKey(kid: string): Promise<{ signer: SigningKey; jwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  return { signer: { alg: "ES256", kid, key: privateKey }, jwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256" } };
}

/** The error `promise` rejects with (fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<VezaError> {
  const err = await promise.then(() => assert.fail("expected a refusal"), (e: unknown) => e);
  assert.ok(err instanceof VezaError, String(err));
  return err;
}

/** Polls `check` every 100 ms until it is true; fails after `timeoutMs`. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  for (const until = Date.now() + timeoutMs; !(await check()); await new Promise((r) => setTimeout(r, 100))) {
    assert.ok(Date.now() < until, `${what} within ${timeoutMs} ms`);
  }
}

describe("auth keys (e2e)", function () {
  this.timeout(60_000);
  let dir: string;
  const verifiers: TokenVerifier[] = [];
  const make = (env: Record<string, string>, options: TokenVerifierOptions = {}) => {
    const v = TokenVerifier.fromConfig(loadConfig({ DATA_DIR: path.join(dir, "data"), ...env }) as AuthConfig, options);
    verifiers.push(v);
    return v;
  };
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "veza-auth-e2e-"))));
  afterEach(async () => {
    await Promise.all(verifiers.splice(0).map((v) => v.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe("JWKS_URL served over HTTP", () => {
    let server: http.Server;
    let served: JWK[] = [];
    let fetches = 0;
    let url = "";
    beforeEach(async () => {
      fetches = 0;
      server = http.createServer((req, res) => {
        fetches++;
        res.writeHead(200, { "content-type": "application/jwk-set+json" }).end(JSON.stringify({ keys: served }));
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
    });
    afterEach(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });

    it("rotation by changing the served set: the new kid verifies once the set is refetched (unknown kid, after the cooldown), the retired one stops after the refresh (max age)", async () => {
      const a = await esKey("2026-11-a");
      const b = await esKey("2026-12-b");
      served = [a.jwk];
      const v = make({ JWKS_URL: url }, { jwksMaxAgeMs: 500, jwksCooldownMs: 200 });
      const tokenA = await mintToken(a.signer, { scopes: SCOPES, ttlS: 600, sub: "a" });
      assert.equal((await v.verify(tokenA)).kid, "2026-11-a");
      assert.equal(fetches, 1);
      served = [a.jwk, b.jwk]; // rotation starts: both keys served
      const tokenB = await mintToken(b.signer, { scopes: SCOPES, ttlS: 600, sub: "b" });
      await eventually("a token of the new kid verifies (an unknown kid refetches after the cooldown)", () => v.verify(tokenB).then(() => true, () => false));
      assert.equal((await v.verify(tokenA)).sub, "a", "the old key still verifies during the rotation");
      served = [b.jwk]; // rotation ends: the old key is retired
      await eventually("the retired kid stops verifying after the refresh", () => v.verify(tokenA).then(() => false, () => true));
      const err = await rejection(v.verify(tokenA));
      assert.equal(err.errorCode, "UNAUTHORIZED");
      assert.equal(err.data?.reason, "unknown_kid");
      assert.equal((await v.verify(tokenB)).sub, "b");
    });

    it("does not fetch again for every unknown kid (cooldown), and reports an unreachable set as AUTH_UNAVAILABLE", async () => {
      const a = await esKey("a");
      served = [a.jwk];
      const v = make({ JWKS_URL: url }, { jwksCooldownMs: 60_000 });
      await v.prefetch();
      const stranger = await mintToken((await esKey("stranger")).signer, { scopes: SCOPES, ttlS: 600, sub: "x" });
      for (let i = 0; i < 20; i++) assert.equal((await rejection(v.verify(stranger))).data?.reason, "unknown_kid");
      assert.equal(fetches, 1, "20 unknown kids within the cooldown: no new fetch");
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      server = http.createServer().listen(0); // for afterEach
      const down = make({ JWKS_URL: url }, {});
      const err = await rejection(down.verify(await mintToken(a.signer, { scopes: SCOPES, ttlS: 600, sub: "a" })));
      assert.equal(err.errorCode, "AUTH_UNAVAILABLE");
      assert.equal(err.retryable, true);
      assert.equal((await rejection(down.prefetch())).errorCode, "AUTH_UNAVAILABLE");
    });
  });

  describe("revocation in Redis", () => {
    let redis: Redis;
    let namespace: string;
    beforeEach(() => {
      namespace = `authtest-${process.pid}-${Date.now().toString(36)}`;
      redis = new Redis(REDIS_URL);
    });
    afterEach(async () => {
      const keys = await redis.keys(`${namespace}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });

    it("a jti revoked on one node is refused on another; the entry lives until the token's exp", async () => {
      const env = { JWT_SECRET: "shared-secret-0123456789abcdefghijklmnopqrstuvwxyz", REDIS_URL, CLUSTER_NAMESPACE: namespace };
      const node1 = make(env);
      const node2 = make(env, { revocations: new RedisRevocations(redis, namespace) }); // on a client it shares (as a node's own)
      assert.equal(node1.revocations.kind, REDIS_URL);
      const token = await node1.mint({ scopes: SCOPES, ttlS: 900, sub: "alice" });
      const other = await node1.mint({ scopes: SCOPES, ttlS: 900, sub: "bob" });
      const { jti, exp } = await node2.verify(token);
      await node1.revoke(jti!, exp);
      const err = await rejection(node2.verify(token));
      assert.equal(err.errorCode, "UNAUTHORIZED");
      assert.equal(err.data?.reason, "revoked");
      assert.equal((await node2.verify(other)).sub, "bob", "other tokens unaffected");
      const ttl = await redis.ttl(`${namespace}:revoked:${jti}`);
      assert.ok(ttl > 900 - 30 && ttl <= 900 + 60, `TTL ${ttl} s: until exp (+60 s grace)`);
      assert.deepEqual(await redis.keys(`${namespace}:*`), [`${namespace}:revoked:${jti}`], "one key, under the namespace");
      await node2.close();
      assert.equal(await redis.ping(), "PONG", "closing a verifier leaves a shared client open");
    });

    it("with Redis unreachable the check refuses with AUTH_UNAVAILABLE (fails closed) instead of accepting", async () => {
      const v = make({ JWT_SECRET: "shared-secret-0123456789abcdefghijklmnopqrstuvwxyz", REDIS_URL: "redis://127.0.0.1:1", CLUSTER_NAMESPACE: namespace });
      const err = await rejection(v.verify(await v.mint({ scopes: SCOPES, ttlS: 60, sub: "a" })));
      assert.equal(err.errorCode, "AUTH_UNAVAILABLE");
    });
  });

  describe("the generated key of a fresh install", () => {
    it("is created once with mode 0600 in a 0700 directory and reused by the next start", () => {
      const data = path.join(dir, "nested", "data");
      const env = { DATA_DIR: data };
      assert.ok(usesGeneratedKey(loadConfig(env)));
      const first = make(env);
      const file = path.join(data, GENERATED_KEY_FILE);
      assert.equal(first.generatedKeyFile, file);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.equal(fs.statSync(data).mode & 0o777, 0o700);
      const secret = fs.readFileSync(file, "utf8").trim();
      assert.match(secret, /^[A-Za-z0-9_-]{43}$/, "32 random bytes, base64url");
      assert.deepEqual(fs.readdirSync(data), [GENERATED_KEY_FILE], "no temporary file left");
      const second = make(env);
      assert.deepEqual(second.secretKids, [secretKid(secret)], "the same key on the next start");
      assert.equal(loadOrCreateGeneratedSecret(data).created, false);
    });

    it("tokens minted with it verify on a later verifier; a configured key (JWT_SECRET or JWKS_URL) turns the generated one off", async () => {
      const first = make({});
      const token = await first.mint({ scopes: SCOPES, ttlS: 60, sub: "a" });
      assert.equal((await make({}).verify(token)).sub, "a");
      for (const env of [{ JWT_SECRET: "configured-secret-0123456789abcdefghijklmno" }, { JWKS_URL: "http://127.0.0.1:9/jwks" }] as Record<string, string>[]) {
        assert.ok(!usesGeneratedKey(loadConfig(env)));
        assert.equal(make(env).generatedKeyFile, null);
      }
      assert.equal((await rejection(make({ JWT_SECRET: "configured-secret-0123456789abcdefghijklmno" }).verify(token))).data?.reason, "unknown_kid");
    });

    it("is refused when others may read it, naming the fix", () => {
      const data = path.join(dir, "data");
      loadOrCreateGeneratedSecret(data);
      fs.chmodSync(path.join(data, GENERATED_KEY_FILE), 0o644);
      assert.throws(() => make({}), /readable by others \(mode 644\): run chmod 600/);
    });

    it("defaults to $XDG_DATA_HOME/veza-stream, else ~/.local/share/veza-stream", () => {
      const xdg = path.join(dir, "xdg");
      const v = TokenVerifier.fromConfig(loadConfig({}) as AuthConfig, { env: { XDG_DATA_HOME: xdg } });
      verifiers.push(v);
      assert.equal(v.generatedKeyFile, path.join(xdg, "veza-stream", GENERATED_KEY_FILE));
    });
  });
});
