/**
 * fast-check arbitraries for the auth surface (docs/security.md): tokens (valid, wrong scope, junk
 * claims under a good signature, expired, not yet valid, signed with a wrong key, `alg: none` and
 * other algorithms, odd headers, mutated, truncated, random, over-long, missing), carried in
 * `?token=`, in `Authorization` (with odd schemes, twice), in both, on a publish or listen upgrade
 * followed by a `stream.start`, an `auth.refresh`, nothing, or the client's abort while the token
 * is checked; and `{"type":"auth.refresh","token":…}` messages with junk on live fuzz sockets.
 */
import fc from "fast-check";
import { FUZZ_JWT_SECRET, FUZZ_KID, WRONG_JWT_SECRET, WRONG_KID, claims, signHs256, unsignedToken } from "./auth";
import type { AuthInput } from "./inputs";

/** Fuzz streams the auth upgrades go to; the good stream now and then (a stranger's token must not disturb it). */
const STREAMS = ["fz-a0", "fz-a1", "fz-a2", "fz-a3"];
const streamId = fc.oneof({ arbitrary: fc.constantFrom(...STREAMS), weight: 12 }, { arbitrary: fc.constant("good"), weight: 1 });

const good = (sub: string, scopes: unknown, ttlS: number) => signHs256(FUZZ_JWT_SECRET, { alg: "HS256", kid: FUZZ_KID }, claims(sub, scopes, ttlS));
const sub = fc.oneof({ arbitrary: fc.constantFrom("fuzz-a", "fuzz-b", "alice"), weight: 4 }, { arbitrary: fc.string({ minLength: 1, maxLength: 40 }), weight: 1 });
const action = fc.constantFrom("publish", "listen", "admin");
const pattern = fc.oneof(fc.constantFrom("fz-a*", "fz-*", "*", "fz-a0", "good", "fz", "fz-a0*x", ""), fc.string({ maxLength: 20 }));
const scopes = fc.array(fc.record({ action, streams: fc.array(pattern, { minLength: 1, maxLength: 3 }) }), { minLength: 1, maxLength: 4 });
/** Values of the wrong type, or odd ones, for any claim or header field. */
const odd: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1e300, -0, "", "\u0000", "\ud800", 2 ** 53 + 1, [], {}, "x".repeat(300)),
  fc.string({ maxLength: 40 }),
  fc.double(),
  fc.integer(),
  fc.jsonValue({ maxDepth: 3 }),
);
const ttl = fc.integer({ min: 1, max: 86_400 });

/** A well-signed token: publish (and sometimes more) on fuzz streams, for up to a day. */
const validToken = fc.tuple(sub, fc.constantFrom("fz-a*", "fz-*", "*", "fz-a0"), ttl).map(([s, p, t]) => good(s, [{ action: "publish", streams: [p] }, { action: "listen", streams: ["*"] }], t));

const tokens: fc.Arbitrary<{ how: string; token: string }> = fc.oneof(
  { arbitrary: validToken.map((token) => ({ how: "valid", token })), weight: 3 },
  { arbitrary: fc.tuple(sub, scopes, ttl).map(([s, sc, t]) => ({ how: "any-scope", token: good(s, sc, t) })), weight: 3 },
  {
    // junk claims under a good signature: each field replaced, deleted or added
    arbitrary: fc.tuple(sub, fc.array(fc.tuple(fc.constantFrom("sub", "scopes", "exp", "nbf", "iat", "jti", "iss", "aud", "x"), fc.oneof(odd, fc.constant(undefined))), { minLength: 1, maxLength: 4 })).map(([s, edits]) => {
      const c: Record<string, unknown> = claims(s, [{ action: "publish", streams: ["fz-a*"] }], 600);
      for (const [k, v] of edits) c[k] = v;
      return { how: "claims", token: signHs256(FUZZ_JWT_SECRET, { alg: "HS256", kid: FUZZ_KID }, c) };
    }),
    weight: 3,
  },
  {
    arbitrary: fc.tuple(sub, fc.integer({ min: 1, max: 10_000_000 })).map(([s, ago]) => {
      const c = claims(s, [{ action: "publish", streams: ["fz-a*"] }], 60);
      return { how: "expired", token: signHs256(FUZZ_JWT_SECRET, { alg: "HS256", kid: FUZZ_KID }, { ...c, exp: Number(c.exp) - 60 - ago }) };
    }),
    weight: 2,
  },
  {
    arbitrary: fc.tuple(sub, fc.integer({ min: 6, max: 10_000_000 })).map(([s, ahead]) => {
      const c = claims(s, [{ action: "publish", streams: ["fz-a*"] }], 600);
      return { how: "not-yet-valid", token: signHs256(FUZZ_JWT_SECRET, { alg: "HS256", kid: FUZZ_KID }, { ...c, nbf: Number(c.iat) + ahead }) };
    }),
    weight: 1,
  },
  {
    arbitrary: fc.tuple(sub, fc.constantFrom(FUZZ_KID, WRONG_KID, undefined, "a57QDSmP")).map(([s, kid]) => ({
      how: "wrong-key",
      token: signHs256(WRONG_JWT_SECRET, { alg: "HS256", ...(kid ? { kid } : {}) }, claims(s, [{ action: "publish", streams: ["fz-a*"] }], 600)),
    })),
    weight: 2,
  },
  {
    // alg none (RFC 7519 §6) and algorithms the node has no key for, or never accepts
    arbitrary: fc.tuple(sub, fc.constantFrom("none", "None", "NONE", "nOnE", "HS384", "HS512", "RS256", "ES256", "EdDSA", "PS256", "", "HS256 "), fc.constantFrom("", "AAAA", "x"), fc.boolean()).map(([s, alg, sig, kid]) => ({
      how: alg.toLowerCase() === "none" ? "alg-none" : "alg-other",
      token: unsignedToken({ alg, ...(kid ? { kid: FUZZ_KID } : {}) }, claims(s, [{ action: "publish", streams: ["*"] }], 600), sig),
    })),
    weight: 2,
  },
  {
    // a good signature under odd header fields: crit, jku/x5u/jwk (keys from elsewhere), kid of odd types, b64:false
    arbitrary: fc.tuple(sub, fc.constantFrom("crit", "jku", "x5u", "jwk", "kid", "b64", "typ", "alg", "zip"), odd).map(([s, field, v]) => ({
      how: "header",
      token: signHs256(FUZZ_JWT_SECRET, { alg: "HS256", kid: FUZZ_KID, [field]: field === "jku" || field === "x5u" ? "http://127.0.0.1:1/keys" : v }, claims(s, [{ action: "publish", streams: ["fz-a*"] }], 600)),
    })),
    weight: 2,
  },
  {
    // raw parts that are not JSON objects: a header or payload of `null`, an array, text, nothing
    arbitrary: fc.tuple(fc.constantFrom("raw:", "raw:null", "raw:[]", "raw:{", "raw:\"x\"", "raw:1"), fc.boolean()).map(([raw, inHeader]) => ({
      how: "not-json",
      token: inHeader ? signHs256(FUZZ_JWT_SECRET, raw, claims("fuzz-a", [{ action: "publish", streams: ["*"] }], 600)) : signHs256(FUZZ_JWT_SECRET, { alg: "HS256", kid: FUZZ_KID }, raw),
    })),
    weight: 1,
  },
  {
    // a valid token with 1-4 characters replaced, inserted or deleted anywhere
    arbitrary: fc.tuple(validToken, fc.array(fc.tuple(fc.nat(), fc.constantFrom("replace", "insert", "delete"), fc.constantFrom(..."Aa0-_.=+/ %\u0000é")), { minLength: 1, maxLength: 4 })).map(([t, edits]) => {
      let s = t;
      for (const [at, op, ch] of edits) {
        const i = at % (s.length + 1);
        s = op === "insert" ? s.slice(0, i) + ch + s.slice(i) : op === "delete" ? s.slice(0, i) + s.slice(i + 1) : s.slice(0, i) + ch + s.slice(i + 1);
      }
      return { how: "mutated", token: s };
    }),
    weight: 3,
  },
  { arbitrary: fc.tuple(validToken, fc.nat()).map(([t, n]) => ({ how: "truncated", token: t.slice(0, n % t.length) })), weight: 2 },
  {
    arbitrary: fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.array(fc.base64String({ maxLength: 80 }).map((s) => s.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")), { minLength: 1, maxLength: 6 }).map((p) => p.join(".")),
      fc.constantFrom("..", ".", "a.b.c", "eyJ.eyJ.", "Bearer", "null", "undefined"),
    ).map((token) => ({ how: "random", token })),
    weight: 2,
  },
  {
    // around the verifier's 8 192-character bound, and far past it
    arbitrary: fc.tuple(validToken, fc.oneof(fc.integer({ min: 8180, max: 8200 }), fc.integer({ min: 8200, max: 100_000 }))).map(([t, n]) => ({ how: "long", token: (t + "A".repeat(n)).slice(0, n) })),
    weight: 1,
  },
);

/** `Authorization` values: the Bearer scheme as it should be, odd spellings of it, other schemes. */
const authorization = (token: string) =>
  fc.oneof(
    { arbitrary: fc.constant(`Bearer ${token}`), weight: 6 },
    { arbitrary: fc.constantFrom(`bearer ${token}`, `BEARER ${token}`, `Bearer  ${token}`, `Bearer\t${token}`, `Bearer ${token} extra`, `Bearer`, `Bearer `, `Basic ${Buffer.from(`u:${token}`).toString("base64")}`, `Token ${token}`, token, ` Bearer ${token}`), weight: 2 },
  );

/** The query string carrying a token: encoded, raw, twice, empty. */
const query = (token: string) =>
  fc.oneof(
    { arbitrary: fc.constant(`?token=${encodeURIComponent(token)}`), weight: 6 },
    { arbitrary: fc.constantFrom(`?token=${token.replace(/[\s#&]/g, "")}`, `?token=${encodeURIComponent(token)}&token=junk`, `?token=`, `?token`, `?TOKEN=${encodeURIComponent(token)}`, `?token=%zz${encodeURIComponent(token)}`, `?session=x&token=${encodeURIComponent(token)}`), weight: 2 },
  );

/** A line of a raw request: UTF-8 bytes as a latin1 string (the senders write latin1), CR and LF taken out. */
const headerSafe = (s: string) => Buffer.from(s.replace(/[\r\n]/g, ""), "utf8").toString("latin1");

/** An upgrade carrying a token, then what the client does. */
const upgradeAuth: fc.Arbitrary<AuthInput> = fc
  .tuple(tokens, fc.constantFrom("query", "query", "header", "header", "both", "two-headers", "none"), fc.constantFrom("publish", "publish", "publish", "listen"), streamId, tokens)
  .chain(([t, carrier, role, stream, other]) =>
    fc.record({
      auth: authorization(t.token),
      query: query(t.token),
      then: fc.oneof({ arbitrary: fc.constant<AuthInput["then"]>("start"), weight: 6 }, { arbitrary: fc.constantFrom<AuthInput["then"]>("refresh", "nothing", "abort"), weight: 1 }),
      abortMs: fc.integer({ min: 0, max: 30 }),
      refresh: fc.oneof(tokens.map((r) => r.token), fc.constant(t.token)),
    }).map((r): AuthInput => {
      const lines = [headerSafe(`GET /ws/${role}/${stream}${carrier === "query" || carrier === "both" ? r.query : ""} HTTP/1.1`), "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"];
      if (carrier === "header" || carrier === "both" || carrier === "two-headers") lines.push(`Authorization: ${headerSafe(r.auth)}`);
      if (carrier === "two-headers") lines.push(`Authorization: Bearer ${headerSafe(other.token)}`);
      const message = r.then === "refresh" ? JSON.stringify({ type: "auth.refresh", token: r.refresh }) : role === "publish" ? JSON.stringify({ type: "stream.start", format: "opus", title: "fuzz-auth" }) : "";
      return { kind: "auth", how: `${carrier}:${t.how}`, door: "upgrade", request: lines.join("\r\n") + "\r\n\r\n", then: r.then, abortMs: r.abortMs, message, target: "listen" };
    }),
  );

/** `auth.refresh` messages on a live fuzz broadcaster or listener: a junk token, a token of the wrong type, odd fields. */
const refreshAuth: fc.Arbitrary<AuthInput> = fc
  .tuple(
    fc.oneof(
      { arbitrary: tokens.map((t) => ({ how: t.how, body: { type: "auth.refresh", token: t.token } as Record<string, unknown> })), weight: 6 },
      { arbitrary: odd.map((v) => ({ how: "token-type", body: { type: "auth.refresh", token: v } as Record<string, unknown> })), weight: 2 },
      { arbitrary: fc.tuple(tokens, fc.dictionary(fc.string({ maxLength: 10 }), odd, { maxKeys: 3 })).map(([t, extra]) => ({ how: "extra-fields", body: { ...extra, type: "auth.refresh", token: t.token } as Record<string, unknown> })), weight: 1 },
      { arbitrary: fc.constant({ how: "no-token", body: { type: "auth.refresh" } as Record<string, unknown> }), weight: 1 },
    ),
    fc.constantFrom<AuthInput["target"]>("publish-live", "publish-live", "listen"),
  )
  .map(([m, target]): AuthInput => ({ kind: "auth", how: `refresh:${m.how}`, door: "refresh", request: "", then: "nothing", abortMs: 0, message: JSON.stringify(m.body), target }));

export const authInput: fc.Arbitrary<AuthInput> = fc.oneof({ arbitrary: upgradeAuth, weight: 3 }, { arbitrary: refreshAuth, weight: 2 });
