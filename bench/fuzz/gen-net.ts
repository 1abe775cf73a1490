/**
 * fast-check arbitraries for raw TCP requests to the gateway's port: HTTP requests (random methods,
 * paths on every route, headers, query strings and bodies) and WebSocket upgrades (bad versions and
 * keys, huge headers, odd paths, slowloris-style partial requests held for a bounded time).
 */
import fc from "fast-check";
import type { Big, HttpInput, UpgradeInput } from "./inputs";

/** Every route of docs/protocol.md "HTTP endpoints" and of the pages, plus WebSocket paths without an upgrade. */
const ROUTES = [
  "/health", "/ready", "/api/streams", "/api/streams/fz-0", "/api/streams/good", "/api/streams/", "/api/streams/a/b",
  "/metrics", "/", "/listen/x", "/listen/good", "/broadcast/x", "/assets/x", "/assets/../../etc/passwd",
  "/ws/publish/x", "/ws/listen/x", "/ws/", "/ws/listen/good", "*", "//", "/%00", "/%ff%fe",
];

const token = fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!$&'()*+,;=:@%/"), maxLength: 40 });
/** Any byte but CR and LF, as a latin1 string (header values, path junk). */
const latin1 = fc.string({ unit: fc.integer({ min: 0, max: 255 }).filter((c) => c !== 10 && c !== 13).map((c) => String.fromCharCode(c)), maxLength: 60 });

const method = fc.oneof(
  { arbitrary: fc.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"), weight: 8 },
  { arbitrary: fc.constantFrom("get", "G\u0000T", "", "GET GET", "PRI"), weight: 1 },
  { arbitrary: token.filter((s) => !s.includes(" ")), weight: 1 },
);

const path = fc.oneof(
  { arbitrary: fc.constantFrom(...ROUTES), weight: 6 },
  { arbitrary: fc.tuple(fc.constantFrom(...ROUTES), token).map(([r, t]) => r + t), weight: 2 },
  { arbitrary: fc.tuple(fc.constantFrom("/api/streams/", "/listen/", "/assets/", "/ws/listen/", "/ws/publish/"), fc.oneof(token, fc.string({ maxLength: 70 }).map(encodeURIComponent), fc.constant("a".repeat(65)))).map(([r, t]) => r + t), weight: 3 },
  { arbitrary: latin1.map((s) => "/" + s.replace(/ /g, "")), weight: 1 },
  { arbitrary: fc.integer({ min: 1000, max: 20000 }).map((n) => "/" + "a".repeat(n)), weight: 1 },
);

const query = fc.oneof(
  { arbitrary: fc.constant(""), weight: 4 },
  { arbitrary: fc.array(fc.tuple(token, token), { maxLength: 6 }).map((kv) => "?" + kv.map(([k, v]) => `${k}=${v}`).join("&")), weight: 3 },
  { arbitrary: fc.constantFrom("?", "??", "?session=" + "x".repeat(100), "?decoder=wasm&target=-1", "?a=%zz", "?token=abc", "#frag"), weight: 1 },
);

/** A header line; the name may be empty or odd, the value any latin1 byte but CR/LF. */
const header = fc.oneof(
  { arbitrary: fc.tuple(fc.constantFrom("Accept", "Connection", "Content-Type", "User-Agent", "Accept-Encoding"), fc.constantFrom("*/*", "keep-alive", "close", "application/json", "gzip", "text/html")), weight: 12 },
  { arbitrary: fc.tuple(fc.constantFrom("Host", "Content-Length", "Transfer-Encoding", "Connection", "Content-Type", "Upgrade", "Expect", "Cookie", "X-Forwarded-For", "Authorization"), latin1), weight: 3 },
  { arbitrary: fc.tuple(fc.constantFrom("Content-Length", "Transfer-Encoding", "Expect"), fc.constantFrom("-1", "99999999999999999999", "0", "5", "chunked", "chunked, gzip", " 3", "1,2", "100-continue")), weight: 2 },
  { arbitrary: fc.tuple(token, latin1), weight: 2 },
  { arbitrary: fc.tuple(fc.constant("X-Big"), fc.integer({ min: 1000, max: 70000 }).map((n) => "b".repeat(n))), weight: 1 },
);

/** Request bodies: none, small random bytes, or up to 256 KiB described (Big). */
const body = fc.oneof(
  { arbitrary: fc.constant(new Uint8Array(0) as Uint8Array | Big), weight: 6 },
  { arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => b as Uint8Array | Big), weight: 3 },
  { arbitrary: fc.record({ big: fc.constant(true as const), size: fc.integer({ min: 1, max: 256 * 1024 }), fill: fc.nat(), random: fc.boolean() }).map((b) => b as Uint8Array | Big), weight: 1 },
);

/** Mostly a well-formed request (a real route, HTTP/1.1, Host, a matching Content-Length), one field in four odd. */
export const httpInput: fc.Arbitrary<HttpInput> = fc
  .record({
    method: fc.oneof({ arbitrary: fc.constantFrom("GET", "GET", "HEAD"), weight: 3 }, { arbitrary: method, weight: 1 }),
    path,
    query,
    version: fc.oneof({ arbitrary: fc.constant("HTTP/1.1"), weight: 6 }, { arbitrary: fc.constantFrom("HTTP/1.0", "HTTP/2.0", "HTTP/9", "", "http/1.1"), weight: 1 }),
    headers: fc.oneof({ arbitrary: fc.constant([] as Array<[string, string]>), weight: 2 }, { arbitrary: fc.array(header, { maxLength: 5 }), weight: 1 }),
    host: fc.oneof({ arbitrary: fc.constant(true), weight: 6 }, { arbitrary: fc.constant(false), weight: 1 }),
    length: fc.oneof({ arbitrary: fc.constant(true), weight: 6 }, { arbitrary: fc.constant(false), weight: 1 }),
    body,
    eol: fc.oneof({ arbitrary: fc.constant("\r\n"), weight: 8 }, { arbitrary: fc.constantFrom("\n", "\r"), weight: 1 }),
  })
  .map((r): HttpInput => {
    const lines = [`${r.method} ${r.path}${r.query} ${r.version}`.trimEnd()];
    if (r.host) lines.push("Host: 127.0.0.1");
    const size = r.body instanceof Uint8Array ? r.body.length : r.body.size;
    if (r.length && size > 0) lines.push(`Content-Length: ${size}`);
    for (const [k, v] of r.headers) lines.push(`${k}: ${v}`);
    const plain = r.headers.length === 0 && r.version === "HTTP/1.1" && r.host && r.eol === "\r\n" && (size === 0 || r.length);
    return { kind: "http", how: plain ? "well-formed" : "mutated", head: lines.join(r.eol) + r.eol + r.eol, body: r.body };
  });

/** Base64 of 16 bytes, a valid Sec-WebSocket-Key. */
const goodKey = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString("base64"));
const badKey = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).filter((b) => b.length !== 16).map((b) => Buffer.from(b).toString("base64")),
  fc.constantFrom("", "!!!!", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ===", "x".repeat(5000)),
  latin1,
);
const wsVersion = fc.oneof(fc.constant("13"), fc.constantFrom("8", "0", "", "13, 8", "-13", "1e1", "99999999999", "13\u0000"), latin1);
const wsPath = fc.oneof(
  { arbitrary: fc.constantFrom("/ws/publish/fz-9", "/ws/listen/fz-9", "/ws/listen/good", "/ws/publish/good", "/ws/listen/fz-0?session=abc"), weight: 4 },
  { arbitrary: fc.tuple(fc.constantFrom("/ws/publish/", "/ws/listen/"), fc.oneof(token, fc.constant("a".repeat(65)), fc.constant(""))).map(([p, t]) => p + t), weight: 3 },
  { arbitrary: fc.tuple(fc.constantFrom("/ws/listen/fz-1?session=", "/ws/listen/fz-1?"), fc.string({ maxLength: 300 }).map(encodeURIComponent)).map(([p, t]) => p + t), weight: 1 },
  { arbitrary: fc.constantFrom("/health", "/", "/metrics", "/ws", "/api/streams"), weight: 1 },
);

export const upgradeInput: fc.Arbitrary<UpgradeInput> = fc
  .record({
    path: wsPath,
    key: fc.oneof({ arbitrary: goodKey, weight: 4 }, { arbitrary: badKey, weight: 1 }, { arbitrary: fc.constant(null), weight: 1 }),
    version: fc.oneof({ arbitrary: fc.constant("13"), weight: 4 }, { arbitrary: wsVersion, weight: 1 }, { arbitrary: fc.constant(null), weight: 1 }),
    upgrade: fc.oneof({ arbitrary: fc.constant("websocket" as string | null), weight: 6 }, { arbitrary: fc.constantFrom("WebSocket", "h2c", "", null), weight: 1 }),
    connection: fc.oneof({ arbitrary: fc.constant("Upgrade" as string | null), weight: 6 }, { arbitrary: fc.constantFrom("keep-alive, Upgrade", "close", null), weight: 1 }),
    extra: fc.oneof({ arbitrary: fc.constant([] as Array<[string, string]>), weight: 3 }, { arbitrary: fc.array(header, { maxLength: 4 }), weight: 1 }),
    protocol: fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, { arbitrary: latin1, weight: 1 }),
    extensions: fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, { arbitrary: fc.constantFrom("permessage-deflate", "permessage-deflate; client_max_window_bits", "x-junk; a=1"), weight: 1 }),
    hugeHeader: fc.oneof({ arbitrary: fc.constant(null), weight: 10 }, { arbitrary: fc.integer({ min: 1000, max: 200_000 }), weight: 1 }),
    slow: fc.oneof(
      { arbitrary: fc.constant(null), weight: 10 },
      { arbitrary: fc.record({ fraction: fc.double({ min: 0, max: 0.99, noNaN: true }), holdMs: fc.integer({ min: 50, max: 1500 }) }), weight: 1 },
    ),
    after: fc.oneof({ arbitrary: fc.constant(new Uint8Array(0)), weight: 3 }, { arbitrary: fc.uint8Array({ maxLength: 200 }), weight: 1 }),
  })
  .map((r): UpgradeInput => {
    const lines = [`GET ${r.path} HTTP/1.1`, "Host: 127.0.0.1"];
    if (r.upgrade !== null) lines.push(`Upgrade: ${r.upgrade}`);
    if (r.connection !== null) lines.push(`Connection: ${r.connection}`);
    if (r.key !== null) lines.push(`Sec-WebSocket-Key: ${r.key}`);
    if (r.version !== null) lines.push(`Sec-WebSocket-Version: ${r.version}`);
    if (r.protocol !== null) lines.push(`Sec-WebSocket-Protocol: ${r.protocol}`);
    if (r.extensions !== null) lines.push(`Sec-WebSocket-Extensions: ${r.extensions}`);
    for (const [k, v] of r.extra) lines.push(`${k}: ${v}`);
    if (r.hugeHeader !== null) lines.push(`X-Huge: ${"h".repeat(r.hugeHeader)}`);
    const request = lines.join("\r\n") + "\r\n\r\n";
    const how = r.slow ? "slowloris" : r.hugeHeader !== null ? "huge-header" : r.key === null || r.version !== "13" ? "bad-handshake" : "handshake";
    return {
      kind: "upgrade",
      how,
      request,
      partialBytes: r.slow ? Math.floor(request.length * r.slow.fraction) : null,
      holdMs: r.slow ? r.slow.holdMs : 0,
      after: r.after,
    };
  });
