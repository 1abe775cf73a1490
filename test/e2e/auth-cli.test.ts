/**
 * `veza-stream token` run as a user runs it (`node bin/veza-stream token …`, a child process): the
 * token it prints verifies with the verifier a node builds from the same configuration; usage
 * errors exit 2 with the parser's message and print nothing on stdout.
 */
import { strict as assert } from "node:assert";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { exportJWK, generateKeyPair } from "jose";
import { GENERATED_KEY_FILE } from "../../actors/auth/default-key";
import { secretKid } from "../../actors/auth/keys";
import { TokenVerifier, type AuthConfig } from "../../actors/auth/tokens";
import { loadConfig } from "../../config";
import { cli, killAll, type CliRun } from "./cli-harness";

const SECRET = "cli-test-secret-0123456789abcdefghijklmnopqrstuvwxyz";
/** Configuration variables cleared for each child, so the machine's own never leak in. */
const CLEAN = { JWT_SECRET: "", JWKS_FILE: "", JWKS_URL: "", JWT_ISSUER: "", JWT_AUDIENCE: "", REDIS_URL: "", XDG_DATA_HOME: "" };

describe("veza-stream token (the CLI as a child process)", function () {
  this.timeout(60_000);
  let dir: string;
  const verifiers: TokenVerifier[] = [];
  const verifier = (env: Record<string, string>) => {
    const v = TokenVerifier.fromConfig(loadConfig({ DATA_DIR: path.join(dir, "data"), ...env }) as AuthConfig);
    verifiers.push(v);
    return v;
  };
  /** Runs `token ...args` and waits for its exit. */
  const token = async (args: string[], env: Record<string, string> = {}): Promise<CliRun> => {
    const run = cli(["token", ...args], { ...CLEAN, DATA_DIR: path.join(dir, "data"), ...env });
    await run.exit(45_000);
    return run;
  };
  const printed = (run: CliRun) => {
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split("\n");
    assert.equal(lines.length, 2, "one line on stdout");
    assert.equal(lines[1], "");
    assert.match(lines[0]!, /^[\w-]+\.[\w-]+\.[\w-]+$/, "a JWS compact token");
    return lines[0]!;
  };

  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "veza-token-cli-"))));
  afterEach(async () => {
    await killAll();
    await Promise.all(verifiers.splice(0).map((v) => v.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("`token --scope publish:radio --ttl 1h` with no key configured: generates the machine's key once, and the token verifies with it", async () => {
    const [first, second] = await Promise.all([token(["--scope", "publish:radio", "--ttl", "1h"]), token(["--scope", "listen:*", "--ttl", "30s", "--sub", "bob"])]);
    const file = path.join(dir, "data", GENERATED_KEY_FILE);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const secret = fs.readFileSync(file, "utf8").trim();
    const v = verifier({});
    assert.equal(v.generatedKeyFile, file);
    const got = await v.verify(printed(first));
    assert.deepEqual(got.scopes, [{ action: "publish", streams: ["radio"] }]);
    assert.ok(Math.abs(got.exp - (Date.now() / 1000 + 3600)) < 120, `exp about an hour from now: ${got.exp}`);
    assert.equal(got.sub, os.userInfo().username, "sub defaults to the user name");
    assert.equal(got.kid, secretKid(secret));
    const other = await v.verify(printed(second));
    assert.deepEqual([other.sub, other.scopes[0]?.action], ["bob", "listen"], "two processes at once share one generated key");
    assert.ok(other.exp - got.exp < -3000);
    for (const run of [first, second]) {
      assert.ok(!run.stderr.includes(secret), "the secret is never printed");
      assert.match(run.stderr, /^veza-stream token: sub .+, jti [\w-]+, expires \d{4}-.+ signed with HS256 key/);
    }
  });

  it("signs with the first JWT_SECRET, adds JWT_ISSUER and JWT_AUDIENCE, takes several --scope", async () => {
    const env = { JWT_SECRET: `${SECRET},old-secret-0123456789abcdefghijklmnopqrstuvwxyz`, JWT_ISSUER: "veza-ci", JWT_AUDIENCE: "radio" };
    const run = await token(["--scope", "publish:radio", "--scope", "listen:news-*,sport", "--ttl", "15m", "--sub", "alice"], env);
    const got = await verifier(env).verify(printed(run));
    assert.equal(got.kid, secretKid(SECRET));
    assert.deepEqual(got.scopes, [{ action: "publish", streams: ["radio"] }, { action: "listen", streams: ["news-*", "sport"] }]);
    assert.equal(got.sub, "alice");
    assert.ok(!fs.existsSync(path.join(dir, "data")), "no generated key when a secret is configured");
    assert.ok(!run.stderr.includes(SECRET) && !run.stdout.includes(SECRET));
  });

  it("signs with --key, a private EdDSA JWK, verified by the nodes' JWKS_FILE; with only public keys and no --key it exits 2", async () => {
    const { publicKey, privateKey } = await generateKeyPair("EdDSA", { extractable: true });
    const keyFile = path.join(dir, "signing.jwk");
    fs.writeFileSync(keyFile, JSON.stringify({ ...(await exportJWK(privateKey)), kid: "ed-2026" }), { mode: 0o600 });
    const jwks = path.join(dir, "jwks.json");
    fs.writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "ed-2026" }] }));
    const [signed, refused] = await Promise.all([token(["--scope", "publish:radio", "--key", keyFile], { JWKS_FILE: jwks }), token(["--scope", "publish:radio"], { JWKS_FILE: jwks })]);
    const got = await verifier({ JWKS_FILE: jwks }).verify(printed(signed));
    assert.equal(got.kid, "ed-2026");
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /pass --key <private JWK file>/);
    assert.equal(refused.stdout, "");
  });

  it("usage errors exit 2 with one message and nothing on stdout: a bad scope (the parser's message), a bad ttl, no scope, a short JWT_SECRET", async () => {
    const runs = await Promise.all([
      token(["--scope", "delete:radio"]),
      token(["--scope", "publish:a b"]),
      token(["--scope", "publish:radio", "--ttl", "1w"]),
      token([]),
      token(["--scope", "publish:radio"], { JWT_SECRET: "too-short" }),
    ]);
    const expected = [/bad scope "delete:radio": .*publish:<stream>/, /bad scope "publish:a b"/, /'--ttl <duration>' argument '1w' is invalid.*30s, 15m, 1h or 7d/, /required option '--scope/, /JWT_SECRET \(--jwt-secret\): secret #1 is 9 bytes/];
    for (const [i, run] of runs.entries()) {
      assert.equal(run.code, 2, `exit 2: ${run.stderr}`);
      assert.match(run.stderr, expected[i]!);
      assert.equal(run.stdout, "", "no token printed");
    }
    assert.ok(!fs.existsSync(path.join(dir, "data")), "no key generated for a refused command");
  });
});
