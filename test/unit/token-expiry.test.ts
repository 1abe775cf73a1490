/**
 * The gateway's token expiry timers (gateway/auth.ts TokenExpiry): notice before exp, expiry at
 * exp, and tokens valid longer than setTimeout's limit (2^31 − 1 ms, 24.8 days) not expired at
 * once (Node fires a longer timer after 1 ms: the demo's 366-day token was closed on open).
 */
import assert from "node:assert/strict";
import { TokenExpiry } from "../../gateway/auth";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("TokenExpiry", () => {
  it("sends auth.expiring, then expires within a second after exp", async () => {
    const sent: string[] = [];
    let expired = 0;
    const e = new TokenExpiry((t) => sent.push(t), () => expired++);
    const exp = Date.now() / 1000 + 0.3;
    e.renew(exp);
    await sleep(1300); // delays are whole seconds: the end comes within 1 s after exp
    assert.equal(expired, 1);
    assert.deepEqual(sent.map((t) => JSON.parse(t).type), ["auth.expiring"]);
    e.stop();
  });

  it("does not expire a token valid for a year (past setTimeout's 24.8-day limit)", async () => {
    let expired = 0;
    const sent: string[] = [];
    const e = new TokenExpiry((t) => sent.push(t), () => expired++);
    e.renew(Date.now() / 1000 + 366 * 86_400);
    await sleep(100);
    assert.equal(expired, 0);
    assert.deepEqual(sent, []);
    e.stop();
  });

  it("a renewal moves the expiry; stop cancels it", async () => {
    let expired = 0;
    const e = new TokenExpiry(() => undefined, () => expired++);
    e.renew(Date.now() / 1000 + 0.2);
    e.renew(Date.now() / 1000 + 3600);
    await sleep(400);
    assert.equal(expired, 0);
    e.renew(Date.now() / 1000 + 0.1);
    e.stop();
    await sleep(300);
    assert.equal(expired, 0);
  });
});
