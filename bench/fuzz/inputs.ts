/**
 * The fuzz inputs: plain data that fast-check generates (bench/fuzz/gen-*.ts) and the senders
 * (bench/fuzz/senders.ts) turn into bytes on a socket. Large payloads are described, not stored
 * (`Big`: a size and a fill), so a batch of inputs stays small in memory, shrinks quickly and can be
 * written to a failure record as JSON.
 */

/** The kinds of input, counted separately in the summary. */
export const KINDS = ["binary", "json", "ping", "http", "upgrade", "auth"] as const;
export type Kind = (typeof KINDS)[number];

/**
 * A payload too large to generate byte by byte: `size` bytes (or UTF-16 code units for text) of
 * `fill` repeated, or, with `random`, of pseudo-random bytes from `fill` as the seed.
 */
export interface Big {
  big: true;
  /** Length, bytes (binary) or characters (text). */
  size: number;
  /** Repeated byte or character code (0..255), or the seed when `random`. */
  fill: number;
  random: boolean;
}

/** Bytes, or a description of many bytes. */
export type Bytes = Uint8Array | Big;

/**
 * Which fuzz WebSocket a message goes to: a broadcaster that sent a valid `stream.start` (opus)
 * and is live, a broadcaster that has sent nothing yet (each of its messages is its first), or a
 * listener (of a fuzz stream or of the good stream).
 */
export type WsTarget = "publish-live" | "publish-fresh" | "listen";

export interface BinaryInput {
  kind: "binary";
  target: WsTarget;
  /** How it was made (`mutated`, `truncated`, `oversize`, `random`, `valid`), for the summary. */
  how: string;
  data: Bytes;
}

export interface JsonInput {
  kind: "json";
  target: WsTarget;
  how: string;
  /** Text sent as one text message; or raw bytes sent as a text message (invalid UTF-8). */
  text: string | Big | { raw: Uint8Array };
}

export interface PingInput {
  kind: "ping";
  how: string;
  /** Text sent on a listener socket. */
  text: string;
}

export interface HttpInput {
  kind: "http";
  how: string;
  /** The whole request as bytes written to a new TCP connection (head, then body). */
  head: string;
  body: Bytes;
}

export interface UpgradeInput {
  kind: "upgrade";
  how: string;
  /** Request bytes written to a new TCP connection. */
  request: string;
  /** Slowloris: write only this many bytes of the request, then hold the connection `holdMs`. */
  partialBytes: number | null;
  /** How long to keep the connection open after writing, ms (bounded by the generator, ≤ 1500). */
  holdMs: number;
  /** Bytes written after a 101 (random frames on an accepted socket), possibly empty. */
  after: Uint8Array;
}

/**
 * A token thrown at the auth surface (bench/fuzz/gen-auth.ts): on an upgrade of its own (door
 * `upgrade`: the raw request carries it in `?token=` and/or `Authorization`), or in an
 * `auth.refresh` message on a pool socket (door `refresh`).
 */
export interface AuthInput {
  kind: "auth";
  /** `<carrier>:<token kind>`, e.g. `query:expired`, `header:alg-none`, `refresh:random`. */
  how: string;
  door: "upgrade" | "refresh";
  /** The upgrade request, written raw to a new TCP connection (door `upgrade`). */
  request: string;
  /** After a 101: send `message` (`start`: a stream.start, `refresh`: an auth.refresh), send nothing, or (`abort`) close the connection `abortMs` after the request, answered or not. */
  then: "start" | "refresh" | "nothing" | "abort";
  /** ms (0-30) after the request at which `abort` closes the connection. */
  abortMs: number;
  /** Text sent after a 101 (door `upgrade`), or on the pool socket (door `refresh`). */
  message: string;
  /** The pool socket of door `refresh`. */
  target: WsTarget;
}

export type FuzzInput = BinaryInput | JsonInput | PingInput | HttpInput | UpgradeInput | AuthInput;

/** Largest `Big` payload, bytes (the generators stay under it). */
const MAX_BIG = 5 * 1024 * 1024;
let noise: Buffer | null = null;

/**
 * Deterministic pseudo-random bytes for `Big` payloads with `random`: a slice, at an offset chosen
 * by `seed`, of one 5 MiB + 64 KiB xorshift32 buffer made once (making megabytes per input in JS
 * would cost the fuzzer more than sending them).
 */
function randomBytes(size: number, seed: number): Buffer {
  if (!noise) {
    noise = Buffer.allocUnsafe(MAX_BIG + 65536);
    let x = 0x9e3779b9;
    for (let i = 0; i < noise.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      noise[i] = x & 0xff;
    }
  }
  const offset = Math.abs(seed | 0) % 65536;
  return noise.subarray(offset, offset + Math.min(size, MAX_BIG));
}

/** The bytes of `b`. */
export function materialize(b: Bytes): Buffer {
  if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return b.random ? randomBytes(b.size, b.fill) : Buffer.alloc(b.size, b.fill);
}

/** The text of a JSON input: a string, a raw byte buffer, or `size` characters of `fill`. */
export function materializeText(t: JsonInput["text"]): string | Buffer {
  if (typeof t === "string") return t;
  if ("raw" in t) return Buffer.from(t.raw);
  // a printable character: a Big text is e.g. a 70 000-character JSON string value
  const ch = String.fromCharCode(0x20 + (t.fill % 0x5f));
  return `{"type":"stream.metadata","title":"${ch === '"' || ch === "\\" ? "x" : ch}${"x".repeat(Math.max(0, t.size - 40))}"}`;
}

/** Length in bytes of a payload, without building it. */
export function sizeOf(b: Bytes): number {
  return b instanceof Uint8Array ? b.byteLength : b.size;
}

/** JSON for a failure record: byte arrays as base64 strings. */
export function inputToJson(input: FuzzInput): unknown {
  return JSON.parse(
    JSON.stringify(input, (_k, v: unknown) => (v instanceof Uint8Array ? { base64: Buffer.from(v).toString("base64") } : v)),
  );
}
