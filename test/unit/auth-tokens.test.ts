import { strict as assert } from "node:assert";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import util from "node:util";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK } from "jose";
import { parseScope } from "../../actors/auth/scopes";
import { secretKid, type SigningKey } from "../../actors/auth/keys";
import { mintToken, TokenVerifier, type AuthConfig } from "../../actors/auth/tokens";
import { VezaError } from "../../actors/errors";
import { loadConfig } from "../../config";

const OLD = "old-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const NEW = "new-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const PUBLISH_RADIO = [parseScope("publish:radio")];
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

/** A real asymmetric key pair as a signing key, and its public JWK (with kid and alg). */
async function keyPair(alg: "ES256" | "EdDSA" | "RS256", kid: string): Promise<{ signer: SigningKey; publicJwk: JWK; privateJwk: JWK; spki: string }> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { signer: { alg, kid, key: privateKey }, publicJwk: { ...(await exportJWK(publicKey)), kid, alg }, privateJwk: { ...(await exportJWK(privateKey)), kid, alg }, spki: await exportSPKI(publicKey) };
}

let dir: string;
const verifiers: TokenVerifier[] = [];
/** A verifier from environment variables, as a node would build it (DATA_DIR in the test's folder). */
function verifierFrom(env: Record<string, string>, options: Parameters<typeof TokenVerifier.fromConfig>[1] = {}): TokenVerifier {
  const v = TokenVerifier.fromConfig(loadConfig({ DATA_DIR: path.join(dir, "data"), ...env }) as AuthConfig, options);
  verifiers.push(v);
  return v;
}

/** Asserts that verify refuses `token` with `code` and, for UNAUTHORIZED, `reason`. */
async function refused(v: TokenVerifier, token: string, code: string, reason?: string): Promise<VezaError> {
  const err = await v.verify(token).then(
    () => assert.fail(`expected ${code}${reason ? ` (${reason})` : ""}, the token verified`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof VezaError, `a VezaError, got ${String(err)}`);
  assert.equal(err.errorCode, code, err.message);
  if (reason) assert.equal(err.data?.reason, reason, err.message);
  if (token) assert.ok(!err.message.includes(token), "the message never quotes the token");
  return err;
}

describe("auth tokens", () => {
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "veza-auth-"))));
  afterEach(async () => {
    await Promise.all(verifiers.splice(0).map((v) => v.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe("HS256 secrets (JWT_SECRET)", () => {
    it("mints and verifies: sub, scopes, exp, jti, and the kid derived from the secret", async () => {
      const v = verifierFrom({ JWT_SECRET: NEW });
      const token = await v.mint({ scopes: [...PUBLISH_RADIO, parseScope("listen:news-*")], ttlS: 600, sub: "alice" });
      const header = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()) as { alg: string; kid: string };
      assert.deepEqual(header, { alg: "HS256", kid: secretKid(NEW) });
      assert.match(secretKid(NEW), /^[A-Za-z0-9_-]{8}$/);
      const got = await v.verify(token);
      assert.equal(got.sub, "alice");
      assert.deepEqual(got.scopes, [{ action: "publish", streams: ["radio"] }, { action: "listen", streams: ["news-*"] }]);
      assert.ok(Math.abs(got.exp - (now() + 600)) <= 2, `exp ${got.exp}`);
      assert.match(got.jti ?? "", /^[A-Za-z0-9_-]{16}$/);
      assert.equal(v.generatedKeyFile, null, "a configured secret: no generated key");
      assert.ok(!fs.existsSync(path.join(dir, "data")), "and no data directory");
    });

    it("rotates: during the rotation tokens of the old and the new secret verify, the new one signs; after it only the new", async () => {
      const before = verifierFrom({ JWT_SECRET: OLD });
      const oldToken = await before.mint({ scopes: PUBLISH_RADIO, ttlS: 600, sub: "a" });
      const during = verifierFrom({ JWT_SECRET: `${NEW}, ${OLD}` });
      assert.deepEqual(during.secretKids, [secretKid(NEW), secretKid(OLD)]);
      const newToken = await during.mint({ scopes: PUBLISH_RADIO, ttlS: 600, sub: "a" });
      assert.equal((await during.verify(oldToken)).kid, secretKid(OLD));
      assert.equal((await during.verify(newToken)).kid, secretKid(NEW), "the first secret signs");
      const after = verifierFrom({ JWT_SECRET: NEW });
      assert.equal((await after.verify(newToken)).sub, "a");
      const err = await refused(after, oldToken, "UNAUTHORIZED", "unknown_kid");
      assert.match(err.message, /unknown key id/);
    });

    it("accepts a kid-less HS256 token from any configured secret (tokens of other tools), and refuses one from another secret", async () => {
      const v = verifierFrom({ JWT_SECRET: `${NEW},${OLD}` });
      const sign = (secret: string) => new SignJWT({ scopes: PUBLISH_RADIO }).setProtectedHeader({ alg: "HS256" }).setSubject("x").setExpirationTime("5m").sign(new TextEncoder().encode(secret));
      assert.equal((await v.verify(await sign(OLD))).sub, "x");
      await refused(v, await sign("another-secret-0123456789abcdefghijklmnop"), "UNAUTHORIZED", "signature");
    });

    it("refuses a JWT_SECRET shorter than 32 bytes (RFC 7518 §3.2), and never shows a secret in JSON, inspect or strings", () => {
      assert.throws(() => loadConfig({ JWT_SECRET: `${NEW},short` }), /JWT_SECRET \(--jwt-secret\): secret #2 is 5 bytes/);
      const config = loadConfig({ JWT_SECRET: `${NEW},${OLD}` });
      assert.deepEqual(config.jwtSecret?.reveal(), [NEW, OLD]);
      for (const shown of [JSON.stringify(config), util.inspect(config, { depth: 5, showHidden: true }), String(config.jwtSecret), `${JSON.stringify({ config })}`]) {
        assert.ok(!shown.includes("secret-0123"), `no secret in ${shown.slice(0, 200)}`);
      }
      assert.match(JSON.stringify(config), /"jwtSecret":"\[redacted\]"/);
    });

    it("refuses a JWKS_URL that is not http(s) and an empty secret list", () => {
      for (const url of ["ftp://idp/jwks", "idp/jwks", "file:///etc/jwks.json"]) assert.throws(() => loadConfig({ JWKS_URL: url }), /JWKS_URL \(--jwks-url\): must be an http/, url);
      assert.throws(() => loadConfig({ JWT_SECRET: " , " }), /JWT_SECRET \(--jwt-secret\): no secret in the list/);
    });
  });

  describe("public keys from a JWKS file (JWKS_FILE)", () => {
    it("verifies ES256, EdDSA and RS256 tokens chosen by kid; a key removed from the file stops verifying after the re-read", async () => {
      const keys = { es: await keyPair("ES256", "es-1"), ed: await keyPair("EdDSA", "ed-1"), rs: await keyPair("RS256", "rs-1") };
      const file = path.join(dir, "jwks.json");
      // private JWKs in the file: the verifier keeps their public half only
      fs.writeFileSync(file, JSON.stringify({ keys: [keys.es.publicJwk, keys.ed.privateJwk, keys.rs.publicJwk] }));
      const v = verifierFrom({ JWKS_FILE: file }, { jwksFilePollMs: 100 });
      assert.equal(v.generatedKeyFile, null);
      const tokens = Object.fromEntries(await Promise.all(Object.entries(keys).map(async ([n, k]) => [n, await mintToken(k.signer, { scopes: PUBLISH_RADIO, ttlS: 300, sub: n })] as const)));
      for (const [n, t] of Object.entries(tokens)) assert.equal((await v.verify(t)).sub, n, n);
      fs.writeFileSync(file, JSON.stringify({ keys: [keys.es.publicJwk, keys.ed.publicJwk] }));
      for (const until = Date.now() + 20_000; await v.verify(tokens.rs!).then(() => true, () => false); await new Promise((r) => setTimeout(r, 100))) {
        assert.ok(Date.now() < until, "the removed key stops verifying within 20 s (checked every 100 ms)");
      }
      await refused(v, tokens.rs!, "UNAUTHORIZED", "unknown_kid");
      assert.equal((await v.verify(tokens.es!)).sub, "es");
      await refused(v, tokens.es!.slice(0, -4) + (tokens.es!.endsWith("AAAA") ? "BBBB" : "AAAA"), "UNAUTHORIZED", "signature");
      await refused(v, await v.mint({ scopes: PUBLISH_RADIO, ttlS: 60, sub: "x" }).catch(() => "x.y.z"), "UNAUTHORIZED", "malformed");
    });

    it("re-reads the file on its timer: a key added later verifies, an invalid version keeps the previous keys", async function () {
      this.timeout(30_000);
      const a = await keyPair("ES256", "a");
      const b = await keyPair("ES256", "b");
      const file = path.join(dir, "jwks.json");
      fs.writeFileSync(file, JSON.stringify({ keys: [a.publicJwk] }));
      const v = verifierFrom({ JWKS_FILE: file }, { jwksFilePollMs: 100 });
      const tokenB = await mintToken(b.signer, { scopes: PUBLISH_RADIO, ttlS: 300, sub: "b" });
      fs.writeFileSync(file, "{ not json");
      await new Promise((r) => setTimeout(r, 400));
      assert.equal((await v.verify(await mintToken(a.signer, { scopes: PUBLISH_RADIO, ttlS: 300, sub: "a" }))).sub, "a", "an invalid file keeps the last good set");
      fs.writeFileSync(file, JSON.stringify({ keys: [a.publicJwk, b.publicJwk] }));
      for (const until = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 100))) {
        const ok = await v.verify(tokenB).then(() => true, () => false);
        if (ok) break;
        assert.ok(Date.now() < until, "key b verifies within 20 s of being added");
      }
    });

    it("refuses a JWKS file that is not a key set at start", () => {
      const file = path.join(dir, "bad.json");
      fs.writeFileSync(file, JSON.stringify({ kty: "EC" }));
      assert.throws(() => verifierFrom({ JWKS_FILE: file }), /not a JSON Web Key Set/);
      assert.throws(() => verifierFrom({ JWKS_FILE: path.join(dir, "missing.json") }), /ENOENT/);
    });
  });

  describe("refusals", () => {
    let v: TokenVerifier;
    let es: Awaited<ReturnType<typeof keyPair>>;
    let rs: Awaited<ReturnType<typeof keyPair>>;
    beforeEach(async () => {
      es = await keyPair("ES256", "es-1");
      rs = await keyPair("RS256", "rs-1");
      const file = path.join(dir, "jwks.json");
      fs.writeFileSync(file, JSON.stringify({ keys: [es.publicJwk, rs.publicJwk] }));
      v = verifierFrom({ JWT_SECRET: NEW, JWKS_FILE: file });
    });
    const hs = () => new TextEncoder().encode(NEW);
    const signHs = (claims: object, header: object = { alg: "HS256", kid: secretKid(NEW) }) => new SignJWT({ ...claims }).setProtectedHeader(header as { alg: string }).sign(hs());

    it("an expired token: TOKEN_EXPIRED, naming when", async () => {
      const err = await refused(v, await signHs({ sub: "a", scopes: PUBLISH_RADIO, exp: now() - 60 }), "TOKEN_EXPIRED", "expired");
      assert.match(err.message, /expired at \d{4}-/);
      assert.equal(err.code, 401);
    });

    it("a token not yet valid (nbf in the future)", async () => {
      await refused(v, await signHs({ sub: "a", scopes: PUBLISH_RADIO, exp: now() + 600, nbf: now() + 300 }), "UNAUTHORIZED", "not_yet_valid");
      assert.equal((await v.verify(await signHs({ sub: "a", scopes: PUBLISH_RADIO, exp: now() + 600, nbf: now() + 2 }))).sub, "a", "within the 5 s clock tolerance");
    });

    it("a bad signature, an unknown kid, garbage, an empty token", async () => {
      const good = await signHs({ sub: "a", scopes: PUBLISH_RADIO, exp: now() + 600 });
      const [h, p] = good.split(".");
      await refused(v, `${h}.${b64({ sub: "a", scopes: [{ action: "admin", streams: ["*"] }], exp: now() + 600 })}.${good.split(".")[2]}`, "UNAUTHORIZED", "signature");
      await refused(v, await signHs({ sub: "a", scopes: PUBLISH_RADIO, exp: now() + 600 }, { alg: "HS256", kid: "nope1234" }), "UNAUTHORIZED", "unknown_kid");
      await refused(v, await mintToken({ ...es.signer, kid: "es-9" }, { scopes: PUBLISH_RADIO, ttlS: 60, sub: "a" }), "UNAUTHORIZED", "unknown_kid");
      await refused(v, `${h}.${p}`, "UNAUTHORIZED", "malformed");
      await refused(v, "hello", "UNAUTHORIZED", "malformed");
      await refused(v, "", "UNAUTHORIZED", "missing");
      await refused(v, "a".repeat(10_000), "UNAUTHORIZED", "malformed");
    });

    it("alg none, and algorithms outside the list (HS512, PS256)", async () => {
      const claims = b64({ sub: "a", scopes: [{ action: "admin", streams: ["*"] }], exp: now() + 600 });
      await refused(v, `${b64({ alg: "none" })}.${claims}.`, "UNAUTHORIZED", "algorithm");
      await refused(v, `${b64({ alg: "none", kid: secretKid(NEW) })}.${claims}.`, "UNAUTHORIZED", "algorithm");
      await refused(v, await new SignJWT({ scopes: PUBLISH_RADIO }).setProtectedHeader({ alg: "HS512", kid: secretKid(NEW) }).setSubject("a").setExpirationTime("5m").sign(new TextEncoder().encode(NEW + NEW)), "UNAUTHORIZED", "algorithm");
      await refused(v, await new SignJWT({ scopes: PUBLISH_RADIO }).setProtectedHeader({ alg: "PS256", kid: "rs-1" }).setSubject("a").setExpirationTime("5m").sign((await generateKeyPair("PS256")).privateKey), "UNAUTHORIZED", "algorithm");
    });

    it("key confusion: HS256 signed with a public key (PEM or JWK) as the secret, and ES256 naming an RSA key", async () => {
      const claims = { sub: "a", scopes: [{ action: "admin", streams: ["*"] }], exp: now() + 600 };
      for (const [kid, secret] of [["rs-1", rs.spki], ["es-1", es.spki], ["rs-1", JSON.stringify(rs.publicJwk)]] as const) {
        const forged = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid }).sign(new TextEncoder().encode(secret));
        await refused(v, forged, "UNAUTHORIZED", "unknown_kid");
        const kidless = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(secret));
        await refused(v, kidless, "UNAUTHORIZED", "signature");
      }
      await refused(v, await mintToken({ ...es.signer, kid: "rs-1" }, { scopes: PUBLISH_RADIO, ttlS: 60, sub: "a" }), "UNAUTHORIZED", "unknown_kid");
      const onlyHs = verifierFrom({ JWT_SECRET: NEW });
      await refused(onlyHs, await mintToken(es.signer, { scopes: PUBLISH_RADIO, ttlS: 60, sub: "a" }), "UNAUTHORIZED", "algorithm");
    });

    it("scopes: missing, empty, or not matching the schema; sub and exp required", async () => {
      const exp = now() + 600;
      await refused(v, await signHs({ sub: "a", exp }), "UNAUTHORIZED", "scopes");
      await refused(v, await signHs({ sub: "a", exp, scopes: [] }), "UNAUTHORIZED", "scopes");
      await refused(v, await signHs({ sub: "a", exp, scopes: [{ action: "delete", streams: ["radio"] }] }), "UNAUTHORIZED", "scopes");
      await refused(v, await signHs({ sub: "a", exp, scopes: [{ action: "publish", streams: ["a*b"] }] }), "UNAUTHORIZED", "scopes");
      await refused(v, await signHs({ sub: "a", exp, scopes: "publish:radio" }), "UNAUTHORIZED", "scopes");
      await refused(v, await signHs({ scopes: PUBLISH_RADIO, exp }), "UNAUTHORIZED", "claims");
      await refused(v, await signHs({ sub: "a", scopes: PUBLISH_RADIO }), "UNAUTHORIZED", "claims");
    });

    it("a revoked jti (memory list without REDIS_URL), until then it verifies", async () => {
      assert.equal(v.revocations.kind, "memory");
      const token = await v.mint({ scopes: PUBLISH_RADIO, ttlS: 600, sub: "a" });
      const { jti, exp } = await v.verify(token);
      await v.revoke(jti!, exp);
      await refused(v, token, "UNAUTHORIZED", "revoked");
      assert.equal((await v.verify(await v.mint({ scopes: PUBLISH_RADIO, ttlS: 600, sub: "a" }))).sub, "a", "other tokens still verify");
    });
  });

  describe("issuer and audience (JWT_ISSUER, JWT_AUDIENCE)", () => {
    it("checked when configured, put in by mint; ignored when not configured", async () => {
      const v = verifierFrom({ JWT_SECRET: NEW, JWT_ISSUER: "veza-test", JWT_AUDIENCE: "radio-cluster" });
      const token = await v.mint({ scopes: PUBLISH_RADIO, ttlS: 60, sub: "a" });
      assert.equal((await v.verify(token)).sub, "a");
      const key = { alg: "HS256", kid: secretKid(NEW), key: new TextEncoder().encode(NEW) };
      await refused(v, await mintToken(key, { scopes: PUBLISH_RADIO, ttlS: 60, sub: "a", aud: "radio-cluster" }), "UNAUTHORIZED", "issuer");
      await refused(v, await mintToken(key, { scopes: PUBLISH_RADIO, ttlS: 60, sub: "a", iss: "other", aud: "radio-cluster" }), "UNAUTHORIZED", "issuer");
      await refused(v, await mintToken(key, { scopes: PUBLISH_RADIO, ttlS: 60, sub: "a", iss: "veza-test", aud: "elsewhere" }), "UNAUTHORIZED", "audience");
      const open = verifierFrom({ JWT_SECRET: NEW });
      assert.equal((await open.verify(await mintToken(key, { scopes: PUBLISH_RADIO, ttlS: 60, sub: "a", iss: "anyone" }))).sub, "a");
    });
  });

  describe("token size (SRT streamid holds 512 bytes)", () => {
    it("a typical token (publish one stream, 16-character sub, jti) fits with room to spare for each algorithm", async () => {
      const sizes: Record<string, number> = {};
      const small = { scopes: PUBLISH_RADIO, ttlS: 3600, sub: "cli" };
      sizes["ES256 publish:radio sub cli"] = (await mintToken((await keyPair("ES256", "k1")).signer, small)).length;
      sizes["HS256 publish:radio sub cli"] = (await mintToken({ alg: "HS256", kid: secretKid(NEW), key: new TextEncoder().encode(NEW) }, small)).length;
      const claims = { scopes: [parseScope("publish:radio-station-1")], ttlS: 3600, sub: "broadcaster-0001" };
      sizes.HS256 = (await mintToken({ alg: "HS256", kid: secretKid(NEW), key: new TextEncoder().encode(NEW) }, claims)).length;
      for (const alg of ["ES256", "EdDSA", "RS256"] as const) sizes[alg] = (await mintToken((await keyPair(alg, `${alg.toLowerCase()}-2026-11`)).signer, claims)).length;
      process.stdout.write(`      token sizes, characters: ${JSON.stringify(sizes)}\n`);
      for (const alg of ["HS256", "ES256", "EdDSA"]) assert.ok(sizes[alg]! <= 400, `${alg} ${sizes[alg]} characters leaves ≥ 112 for the rest of an SRT streamid`);
      assert.ok(sizes["ES256 publish:radio sub cli"]! <= 300);
      assert.ok(sizes.RS256! > 512, "RS256 signatures (256 bytes) do not fit: use ES256 or EdDSA for SRT");
    });
  });
});
