/**
 * Tokens for tests: every test node runs with {@link TEST_JWT_SECRET} (node-process.ts sets
 * JWT_SECRET to it unless a test gives its own), and the test's clients mint their tokens with it,
 * as an operator's `veza-stream token` would with the configured secret.
 */
import { hsSigningKey } from "../../actors/auth/keys";
import type { Action, Scope } from "../../actors/auth/scopes";
import { mintToken } from "../../actors/auth/tokens";

/** The HS256 secret of test nodes (≥ 32 bytes, RFC 7518 §3.2). Not a real secret: it is in the repository. */
export const TEST_JWT_SECRET = "test-only-secret-0123456789abcdef0123456789";

/** Rate limits of test nodes: every client of a test comes from 127.0.0.1, far past the defaults. Limit tests set their own. */
export const TEST_RATE_LIMITS = "connections:100000/10s,httpApi:100000/60s,publishStarts:100000/60s,listenersPerIp:100000";

/** A token signed with {@link TEST_JWT_SECRET}: `action` on `streams` (default publish on every stream), 1 h, sub `test`. */
export function testToken(action: Action = "publish", streams: string[] = ["*"], o: { sub?: string; ttlS?: number; secret?: string; scopes?: Scope[] } = {}): Promise<string> {
  return mintToken(hsSigningKey(o.secret ?? TEST_JWT_SECRET), { scopes: o.scopes ?? [{ action, streams }], ttlS: o.ttlS ?? 3600, sub: o.sub ?? "test" });
}
