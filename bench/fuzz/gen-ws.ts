/**
 * fast-check arbitraries for what goes over an open WebSocket (docs/protocol.md): binary
 * `audio.data` messages (valid, mutated bit by bit, truncated, oversize, random), broadcaster JSON
 * (valid messages with mutated fields, wrong types, huge and deep values, non-finite numbers,
 * invalid UTF-8 sent as a text frame) and listener clock pings.
 */
import fc from "fast-check";
import { encodeAudioData } from "../../media/wire";
import type { BinaryInput, Big, JsonInput, PingInput, WsTarget } from "./inputs";

const target: fc.Arbitrary<WsTarget> = fc.constantFrom<WsTarget>("publish-live", "publish-live", "publish-fresh", "listen");

/** Opus TOC bytes worth hitting: 20 ms CELT stereo, code 3 (frame count byte), 2.5 ms, 60 ms SILK. */
const tocByte = fc.oneof(fc.constantFrom(0xfc, 0xff, 0xfb, 0x03, 0x0b, 0x83, 0xe3), fc.integer({ min: 0, max: 255 }));

/** A well-formed audio.data message: any header values, a 1-300 byte packet (sizes: bytes). */
const validFrame = fc
  .record({
    rendition: fc.integer({ min: 0, max: 255 }),
    flags: fc.integer({ min: 0, max: 255 }),
    seq: fc.integer({ min: 0, max: 0xffffffff }),
    mediaTime: fc.oneof(fc.integer({ min: 0, max: 2 ** 32 }), fc.constant(2 ** 48 - 1)),
    duration: fc.oneof(fc.constant(960), fc.integer({ min: 1, max: 65535 })),
    toc: tocByte,
    rest: fc.uint8Array({ minLength: 0, maxLength: 300 }),
  })
  .map((f) => encodeAudioData({ ...f, packet: Uint8Array.of(f.toc, ...f.rest) }));

/** A valid frame with 1-8 bits flipped (bit positions anywhere in the message). */
const mutatedFrame = fc
  .tuple(validFrame, fc.array(fc.nat(), { minLength: 1, maxLength: 8 }))
  .map(([frame, bits]) => {
    const out = Uint8Array.from(frame);
    for (const b of bits) {
      const bit = b % (out.length * 8);
      out[bit >> 3]! ^= 1 << (bit & 7);
    }
    return out;
  });

/** A valid frame cut to 0..length-1 bytes (0..16: a header without a packet). */
const truncatedFrame = fc.tuple(validFrame, fc.nat()).map(([frame, n]) => frame.subarray(0, n % frame.length));

/** Over a limit: just over 7666 bytes (the largest audio.data), 1 MiB (the publish limit), or up to 4.5 MiB (past the transport limit). */
const oversizeFrame: fc.Arbitrary<Big> = fc.record({
  big: fc.constant(true as const),
  size: fc.oneof(
    fc.integer({ min: 7667, max: 9000 }),
    fc.integer({ min: 1024 * 1024 - 2, max: 1024 * 1024 + 2 }),
    fc.integer({ min: 64 * 1024 - 2, max: 64 * 1024 + 2 }),
    fc.integer({ min: 9000, max: 4.5 * 1024 * 1024 }),
  ),
  fill: fc.integer({ min: 0, max: 255 }),
  random: fc.boolean(),
});

/** An oversize message that starts like audio.data (version 1, type 1) so it passes the first checks. */
const headedOversize = fc.tuple(validFrame, fc.integer({ min: 7667, max: 20000 })).map(([frame, size]) => {
  const out = new Uint8Array(size);
  out.set(frame.subarray(0, 16));
  return out;
});

export const binaryInput: fc.Arbitrary<BinaryInput> = fc.oneof(
  { arbitrary: validFrame.map((data) => ({ how: "valid", data })), weight: 2 },
  { arbitrary: mutatedFrame.map((data) => ({ how: "mutated", data })), weight: 5 },
  { arbitrary: truncatedFrame.map((data) => ({ how: "truncated", data })), weight: 2 },
  { arbitrary: fc.uint8Array({ maxLength: 200 }).map((data) => ({ how: "random", data })), weight: 2 },
  { arbitrary: headedOversize.map((data) => ({ how: "oversize", data: data as Uint8Array | Big })), weight: 1 },
  { arbitrary: oversizeFrame.filter((b) => b.size < 1.2 * 1024 * 1024).map((data) => ({ how: "oversize", data: data as Uint8Array | Big })), weight: 1 },
).chain((b) => target.map((t): BinaryInput => ({ kind: "binary", target: t, how: b.how, data: b.data })));

/** Values of the wrong type, or odd ones: for any field. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e308, -0, "", "opus", [], {}, "\u0000", "\ud800", 2 ** 53 + 1),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.double(),
  fc.integer(),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Valid broadcaster messages (docs/protocol.md "Broadcaster → server"). */
const validStart = fc.record(
  {
    type: fc.constant("stream.start"),
    format: fc.constantFrom("opus", "opus", "opus", "ogg", "webm", "mp3", "wav", "pcm_s16le", "flac"),
    title: fc.string({ maxLength: 256 }),
    sampleRate: fc.integer({ min: 8000, max: 192000 }),
    channels: fc.constantFrom(1, 2),
    metadata: fc.dictionary(fc.string({ maxLength: 64 }), fc.string({ maxLength: 100 }), { maxKeys: 32 }),
    playoutDelayMs: fc.integer({ min: 20, max: 10000 }),
    resume: fc.string({ maxLength: 64 }),
  },
  { requiredKeys: ["type", "format"] },
);
const validMetadata = fc.record(
  {
    type: fc.constant("stream.metadata"),
    title: fc.string({ maxLength: 256 }),
    metadata: fc.dictionary(fc.string({ maxLength: 64 }), fc.string({ maxLength: 1024 }), { maxKeys: 32 }),
  },
  { requiredKeys: ["type"] },
);
const validMessage: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { arbitrary: validStart, weight: 3 },
  { arbitrary: validMetadata, weight: 4 },
  { arbitrary: fc.constant({ type: "stream.stop" }), weight: 1 },
);

/** A valid message with 1-3 fields replaced by odd values, deleted, or added. */
const mutatedMessage = fc
  .tuple(validMessage, fc.array(fc.tuple(fc.constantFrom("set", "delete", "add"), fc.nat(), oddValue, fc.string({ maxLength: 20 })), { minLength: 1, maxLength: 3 }))
  .map(([msg, edits]) => {
    const out: Record<string, unknown> = { ...msg };
    for (const [op, i, value, name] of edits) {
      const keys = Object.keys(out);
      const key = keys[i % keys.length] ?? "type";
      if (op === "set") out[key] = value;
      else if (op === "delete") delete out[key];
      else out[name] = value;
    }
    return JSON.stringify(out);
  });

/** Nesting `depth` levels deep in one field (arrays or objects), as JSON text. */
const deepMessage = fc.tuple(fc.integer({ min: 10, max: 20000 }), fc.boolean(), fc.constantFrom("metadata", "title", "format", "type")).map(([depth, arrays, field]) => {
  const [open, close] = arrays ? ["[", "]"] : ['{"a":', "}"];
  return `{"type":"stream.start","format":"opus","${field}":${open.repeat(depth)}1${close.repeat(depth)}}`;
});

/** Non-finite numbers and number edge cases JSON cannot or can barely carry, as raw JSON text. */
const numberText = fc.constantFrom("NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "-0", "0x10", "1_000", "9007199254740993", "01", ".5");
const nonFiniteMessage = fc.tuple(fc.constantFrom("sampleRate", "channels", "playoutDelayMs", "title", "type"), numberText).map(
  ([field, num]) => `{"type":"stream.start","format":"pcm_s16le","sampleRate":48000,"channels":2,"${field}":${num}}`,
);

/** Text frames whose bytes are not UTF-8 (sent raw: the server must fail the connection, nothing else). */
const invalidUtf8 = fc
  .tuple(fc.string({ maxLength: 40 }), fc.constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80]), fc.string({ maxLength: 40 }))
  .map(([a, bad, b]) => ({ raw: Uint8Array.from([...Buffer.from(`{"type":"stream.metadata","title":"${a}`), ...bad, ...Buffer.from(`${b}"}`)]) }));

/** Huge text: up to 70 000 characters (over the 64 KiB publish limit and the 4 KiB listen limit). */
const hugeText: fc.Arbitrary<Big> = fc.record({
  big: fc.constant(true as const),
  size: fc.oneof(fc.integer({ min: 4000, max: 4200 }), fc.integer({ min: 65000, max: 70000 }), fc.integer({ min: 100, max: 70000 })),
  fill: fc.integer({ min: 0, max: 255 }),
  random: fc.constant(false),
});

export const jsonInput: fc.Arbitrary<JsonInput> = fc
  .oneof(
    { arbitrary: validMessage.map((m) => ({ how: "valid", text: JSON.stringify(m) as JsonInput["text"] })), weight: 2 },
    { arbitrary: mutatedMessage.map((text) => ({ how: "mutated", text: text as JsonInput["text"] })), weight: 6 },
    { arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => ({ how: "wrong-type", text: JSON.stringify(v) as JsonInput["text"] })), weight: 2 },
    { arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ how: "random", text: text as JsonInput["text"] })), weight: 2 },
    { arbitrary: deepMessage.map((text) => ({ how: "deep", text: text as JsonInput["text"] })), weight: 1 },
    { arbitrary: nonFiniteMessage.map((text) => ({ how: "non-finite", text: text as JsonInput["text"] })), weight: 1 },
    { arbitrary: invalidUtf8.map((text) => ({ how: "invalid-utf8", text: text as JsonInput["text"] })), weight: 1 },
    { arbitrary: hugeText.map((text) => ({ how: "huge", text: text as JsonInput["text"] })), weight: 1 },
  )
  .chain((j) => target.map((t): JsonInput => ({ kind: "json", target: t, how: j.how, text: j.text })));

/** Listener clock pings: valid, with odd `id`/`t0`, non-finite numbers as text, or bursts past the rate limit (many sent by the runner anyway). */
export const pingInput: fc.Arbitrary<PingInput> = fc.oneof(
  fc.record({ id: fc.integer(), t0: fc.double({ noNaN: true, noDefaultInfinity: true }) }).map((p) => ({ kind: "ping" as const, how: "valid", text: JSON.stringify({ type: "clock.ping", ...p }) })),
  fc.tuple(oddValue, oddValue).map(([id, t0]) => ({ kind: "ping" as const, how: "odd-fields", text: JSON.stringify({ type: "clock.ping", id, t0 }) ?? "null" })),
  fc.tuple(numberText, numberText).map(([id, t0]) => ({ kind: "ping" as const, how: "non-finite", text: `{"type":"clock.ping","id":${id},"t0":${t0}}` })),
  fc.string({ maxLength: 120 }).map((s) => ({ kind: "ping" as const, how: "random", text: s })),
);
