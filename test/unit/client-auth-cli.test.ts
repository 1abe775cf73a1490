/**
 * The command line's pieces for tokens, as pure functions: the `--token` parser (inline, `@file`,
 * an empty VEZA_TOKEN), the verdicts of bin/commands/failure.ts for the auth and rate-limit codes
 * (final or retried, and after how long), the Retry-After header, and the hint printed when the
 * server refuses a token.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { InvalidArgumentError } from "commander";
import { authHint, closeFailure, ConnectionFailure, describeWithHint, errorMessageFailure, retryAfterMs } from "../../bin/commands/failure";
import { token, TokenArgumentError } from "../../bin/options";
import { RATE_LIMITED_DELAY_MS } from "../../client/core/socket";

const JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";

describe("command line: token parsing and auth failures", () => {
  describe("--token", () => {
    let dir: string;
    before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "veza-token-"))));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("takes a JWT as it is (trimmed), and a blank value as no token", () => {
      assert.equal(token(` ${JWT}\n`), JWT);
      assert.equal(token(""), undefined);
      assert.equal(token("  "), undefined);
    });

    it("@file reads the file, trimmed", () => {
      const file = path.join(dir, "t.jwt");
      fs.writeFileSync(file, `\r\n${JWT}  \n`);
      assert.equal(token(`@${file}`), JWT);
    });

    it("refuses an inline non-JWT without quoting it, and a bad @file naming the file", () => {
      assert.throws(() => token("s3cret value"), (err: Error) => err instanceof TokenArgumentError && !err.message.includes("s3cret") && /not a JWT/.test(err.message));
      assert.throws(() => token("a.b"), TokenArgumentError);
      assert.throws(() => token("@"), InvalidArgumentError);
      assert.throws(() => token(`@${path.join(dir, "missing")}`), (err: Error) => err instanceof InvalidArgumentError && /ENOENT/.test(err.message));
      const empty = path.join(dir, "empty");
      fs.writeFileSync(empty, "\n");
      assert.throws(() => token(`@${empty}`), /is empty/);
      const notJwt = path.join(dir, "notjwt");
      fs.writeFileSync(notJwt, "hello world\n");
      assert.throws(() => token(`@${notJwt}`), (err: Error) => /does not hold a JWT/.test(err.message) && !err.message.includes("hello"));
    });
  });

  describe("verdicts", () => {
    it("UNAUTHORIZED, TOKEN_EXPIRED (4401) and FORBIDDEN (4403) are final, before and after being on air", () => {
      for (const [code, close] of [["UNAUTHORIZED", 4401], ["TOKEN_EXPIRED", 4401], ["FORBIDDEN", 4403]] as const) {
        for (const fresh of [true, false]) {
          const f = closeFailure(close, code, { fresh, lastError: { code, message: "m" } });
          assert.equal(f.code, code);
          assert.equal(f.retryable, false, `${code} fresh=${fresh}`);
        }
        assert.equal(errorMessageFailure(code, "m").retryable, false);
      }
    });

    it("4429: RATE_LIMITED is retried after at least RATE_LIMITED_DELAY_MS, BROADCASTER_TOO_FAST and a bare 4429 are final", () => {
      const limited = closeFailure(4429, "RATE_LIMITED", { lastError: { code: "RATE_LIMITED", message: "slow down" } });
      assert.equal(limited.retryable, true);
      assert.equal(limited.retryAfterMs, RATE_LIMITED_DELAY_MS);
      assert.equal(closeFailure(4429, "BROADCASTER_TOO_FAST").retryable, false);
      assert.equal(closeFailure(4429, "").retryable, false);
      assert.equal(closeFailure(4429, "BROADCASTER_TOO_FAST").retryAfterMs, null);
    });

    it("AUTH_UNAVAILABLE (1013) is retried", () => {
      assert.equal(closeFailure(1013, "AUTH_UNAVAILABLE", { lastError: { code: "AUTH_UNAVAILABLE", message: "jwks down" } }).retryable, true);
    });

    it("Retry-After: seconds, an HTTP date, or nothing usable", () => {
      const now = Date.parse("2026-12-01T10:00:00Z");
      assert.equal(retryAfterMs("5", now), 5000);
      assert.equal(retryAfterMs(["3"], now), 3000);
      assert.equal(retryAfterMs("Tue, 01 Dec 2026 10:00:07 GMT", now), 7000);
      assert.equal(retryAfterMs("Tue, 01 Dec 2026 09:00:00 GMT", now), 0);
      assert.equal(retryAfterMs(undefined, now), null);
      assert.equal(retryAfterMs("soon", now), null);
    });
  });

  describe("hints", () => {
    it("say how to pass and mint a token of the right scope, and nothing for other codes", () => {
      assert.equal(authHint("UNAUTHORIZED", "publish", "radio"), "pass a token with --token or VEZA_TOKEN; mint one with `veza-stream token --scope publish:radio`");
      assert.match(authHint("TOKEN_EXPIRED", "listen", "news") ?? "", /expired.*--scope listen:news/);
      assert.match(authHint("FORBIDDEN", "publish", "radio") ?? "", /does not allow publish on stream radio/);
      assert.equal(authHint("BROADCASTER_EXISTS", "publish", "radio"), null);
      const f = new ConnectionFailure("UNAUTHORIZED", "no valid token", false, 4401);
      assert.equal(describeWithHint(f, "publish", "radio"), "UNAUTHORIZED: no valid token (close 4401) — pass a token with --token or VEZA_TOKEN; mint one with `veza-stream token --scope publish:radio`");
      assert.equal(describeWithHint(new ConnectionFailure("NO_WORKER", "x", true, 1013), "publish", "radio"), "NO_WORKER: x (close 1013)");
    });
  });
});
