import assert from "node:assert/strict";
import { allows, matches, parseScope } from "../../actors/auth/scopes";

describe("auth scopes", () => {
  it("matches exact ids, prefixes and everything", () => {
    assert.ok(matches("radio", "radio"));
    assert.ok(!matches("radio", "radio2"));
    assert.ok(matches("news-*", "news-fr"));
    assert.ok(!matches("news-*", "new"));
    assert.ok(matches("*", "anything"));
  });

  it("allows an action only on the streams its scopes name; admin implies the others", () => {
    const scopes = [parseScope("publish:radio,news-*"), parseScope("listen:*")];
    assert.ok(allows(scopes, "publish", "radio"));
    assert.ok(allows(scopes, "publish", "news-de"));
    assert.ok(!allows(scopes, "publish", "other"));
    assert.ok(allows(scopes, "listen", "other"));
    assert.ok(!allows(scopes, "admin"));
    const admin = [parseScope("admin:*")];
    assert.ok(allows(admin, "admin"));
    assert.ok(allows(admin, "publish", "x"));
    assert.ok(!allows([parseScope("admin:radio")], "admin"), "admin of one stream is not cluster admin");
  });

  it("refuses malformed scopes with a message naming them", () => {
    assert.throws(() => parseScope("delete:radio"), /bad scope "delete:radio"/);
    assert.throws(() => parseScope("publish:bad id"), /bad scope/);
    assert.throws(() => parseScope("publish:a*b"), /bad scope/);
  });
});
