/**
 * Tokens for the fuzz run (docs/security.md): the node under test verifies with a known HS256
 * secret, the good pair and the fuzz pool's sockets carry tokens minted with it, and the auth
 * generators (bench/fuzz/gen-auth.ts) sign junk claims with it, or with a wrong key, synchronously.
 * The secrets are for this harness only: the node runs on 127.0.0.1 for the duration of a run.
 */
import { createHmac } from "node:crypto";
import { hsSigningKey, secretKid } from "../../actors/auth/keys";
import { mintToken } from "../../actors/auth/tokens";

/** JWT_SECRET of the fuzzed node (≥ 32 bytes, RFC 7518 §3.2). */
export const FUZZ_JWT_SECRET = "veza-fuzz-harness-only-hs256-secret-0123456789";
/** A secret the node does not know: tokens signed with it must be refused (`unknown_kid`, `signature`). */
export const WRONG_JWT_SECRET = "another-secret-the-fuzzed-node-never-heard-of-42";
export const FUZZ_KID = secretKid(FUZZ_JWT_SECRET);
export const WRONG_KID = secretKid(WRONG_JWT_SECRET);

/**
 * RATE_LIMITS of the node (config/index.ts) for `--limits high`: every rate and quota far above
 * what the fuzzer produces, so that its inputs reach the code behind the limits instead of a 429
 * (the fuzz sockets come from 253 addresses, its junk tokens would lock them all out within
 * seconds). `--limits default` leaves the limits as shipped, to fuzz the refusals themselves.
 */
export const HIGH_RATE_LIMITS = "connections:1000000/1s,authFailures:1000000/1s,publishStarts:1000000/1s,httpApi:1000000/1s,listenersPerIp:1000000,listenersPerStream:1000000";

export type LimitsMode = "high" | "default";

/**
 * The node's environment for auth: the known secret, and the limits of `mode` (empty RATE_LIMITS
 * for `default`: test/support/node-process.ts would otherwise give the node the tests' raised limits).
 */
export function authEnvironment(mode: LimitsMode): NodeJS.ProcessEnv {
  return { JWT_SECRET: FUZZ_JWT_SECRET, RATE_LIMITS: mode === "high" ? HIGH_RATE_LIMITS : "" };
}

/** Lifetime of the harness's own tokens, s: longer than any run's fuzzing and settle time. */
const TTL_S = 3600;

/** The good pair's tokens: `publish` on the good stream (as the brief of issue 11 mints it), `listen` on it. */
export async function goodPairTokens(stream: string): Promise<{ publish: string; listen: string }> {
  const key = hsSigningKey(FUZZ_JWT_SECRET);
  return {
    publish: await mintToken(key, { scopes: [{ action: "publish", streams: [stream] }], ttlS: TTL_S, sub: "fuzz-good" }),
    listen: await mintToken(key, { scopes: [{ action: "listen", streams: [stream] }], ttlS: TTL_S, sub: "fuzz-good-listener" }),
  };
}

/**
 * The fuzz pool's token for one socket slot: `publish` on the fuzz streams (`fz-*`), `listen` on
 * every stream; one `sub` per slot so that per-user limits are spread like the addresses are.
 */
export function poolToken(slot: string): string {
  return signHs256(FUZZ_JWT_SECRET, { alg: "HS256", kid: FUZZ_KID }, claims(`fuzz-pool-${slot}`, [{ action: "publish", streams: ["fz-*"] }, { action: "listen", streams: ["*"] }], TTL_S));
}

/** Claims like mintToken's (`sub`, `scopes`, `iat`, `exp` now + `ttlS`, a `jti`). */
export function claims(sub: string, scopes: unknown, ttlS: number): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { scopes, sub, iat: now, exp: now + ttlS, jti: `fz${(jtiCounter++).toString(36).padStart(14, "0")}` };
}
let jtiCounter = 0;

const b64url = (v: string | Buffer) => Buffer.from(v).toString("base64url");

/**
 * A JWS compact token over any header and payload (JSON values, or raw text for either part),
 * HMAC-SHA256 signed with `secret` (RFC 7515 §7.1, RFC 7518 §3.2), synchronously: the fast-check
 * generators cannot wait for jose's async signing.
 */
export function signHs256(secret: string, header: unknown, payload: unknown): string {
  const part = (v: unknown) => b64url(typeof v === "string" && v.startsWith("raw:") ? v.slice(4) : (JSON.stringify(v) ?? "null"));
  const input = `${part(header)}.${part(payload)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

/** An unsigned token (`alg: none` and friends): header and payload, and `signature` as given (RFC 7519 §6). */
export function unsignedToken(header: unknown, payload: unknown, signature: string): string {
  return `${b64url(JSON.stringify(header) ?? "null")}.${b64url(JSON.stringify(payload) ?? "null")}.${signature}`;
}
