/**
 * Bugs bench/fuzz found (run D, 2026-12-01), each pinned: a well-signed token whose nbf or exp is
 * no date answered INTERNAL (1011) instead of UNAUTHORIZED, and the memory store kept every
 * listener session nobody resumed.
 */
import { strict as assert } from "node:assert";
import { SignJWT } from "jose";
import { TokenVerifier, type AuthConfig } from "../../actors/auth/tokens";
import { MemoryStore } from "../../actors/cluster/store";
import { errorCodeOf } from "../../actors/errors";
import { loadConfig } from "../../config";

const SECRET = "fuzz-findings-secret-0123456789abcdefghij";

async function signed(payload: Record<string, unknown>): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(SECRET));
}

describe("bench/fuzz findings", () => {
  const v = TokenVerifier.fromConfig(loadConfig({ JWT_SECRET: SECRET }) as AuthConfig);
  after(() => v.close());
  const scopes = [{ action: "publish", streams: ["x"] }];
  const exp = Math.floor(Date.now() / 1000) + 600;

  for (const [what, payload, reason] of [
    ["nbf a string", { sub: "a", scopes, exp, nbf: "x" }, "claims"],
    ["nbf past year 275760", { sub: "a", scopes, exp, nbf: 1e13 }, "not_yet_valid"],
    ["exp before any date", { sub: "a", scopes, exp: -1e20 }, undefined],
  ] as const) {
    it(`a signed token with ${what} is refused as such, never INTERNAL`, async () => {
      const err = await v.verify(await signed(payload)).then(() => assert.fail("verified"), (e: unknown) => e);
      const code = errorCodeOf(err);
      assert.ok(code === "UNAUTHORIZED" || code === "TOKEN_EXPIRED", `${code}: ${(err as Error).message}`);
      if (reason) assert.equal((err as { data?: { reason?: string } }).data?.reason, reason);
    });
  }

  it("the memory store drops sessions nobody reads once they expire", async () => {
    const store = new MemoryStore();
    const realNow = Date.now;
    let t = realNow();
    Date.now = () => t;
    try {
      for (let i = 0; i < 100; i++) await store.saveSessions([{ sessionId: `s${i}`, streamId: "x", connectedAt: t, framesSent: 0, framesDropped: 0, reconnects: 0 }], 30_000);
      assert.equal(store.size, 100);
      t += 60_000; // all expired, none read
      await store.saveSessions([{ sessionId: "late", streamId: "x", connectedAt: t, framesSent: 0, framesDropped: 0, reconnects: 0 }], 30_000);
      assert.equal(store.size, 1, "the expired ones were swept on a write");
    } finally {
      Date.now = realNow;
    }
  });
});
