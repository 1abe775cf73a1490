/**
 * Just enough of WebSocket framing (RFC 6455 §5.2) for the raw auth upgrades of
 * bench/fuzz/senders.ts: a client's masked frame, and the server's unmasked frames read back.
 */
import { randomBytes } from "node:crypto";

/** One masked client frame, FIN set, of `opcode` (1 text, 2 binary, 8 close) carrying `payload`. */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const size = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const head = Buffer.alloc(size + 4);
  head[0] = 0x80 | opcode;
  if (n < 126) head[1] = 0x80 | n;
  else if (n < 65536) (head[1] = 0x80 | 126), head.writeUInt16BE(n, 2);
  else (head[1] = 0x80 | 127), head.writeBigUInt64BE(BigInt(n), 2);
  const mask = randomBytes(4);
  mask.copy(head, size);
  const body = Buffer.from(payload);
  for (let i = 0; i < n; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat([head, body]);
}

/** A frame from the server: its opcode and (unmasked) payload. */
export interface Frame {
  opcode: number;
  payload: Buffer;
}

/** The whole frames at the start of `buf`, and the bytes of an incomplete one after them. */
export function readFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) break;
    const opcode = buf[at]! & 0x0f;
    const masked = (buf[at + 1]! & 0x80) !== 0;
    let n = buf[at + 1]! & 0x7f;
    let p = at + 2;
    if (n === 126) {
      if (buf.length < p + 2) break;
      n = buf.readUInt16BE(p);
      p += 2;
    } else if (n === 127) {
      if (buf.length < p + 8) break;
      n = Number(buf.readBigUInt64BE(p));
      p += 8;
    }
    const mask = masked ? buf.subarray(p, p + 4) : null;
    if (masked) p += 4;
    if (buf.length < p + n) break;
    const payload = Buffer.from(buf.subarray(p, p + n));
    if (mask) for (let i = 0; i < n; i++) payload[i]! ^= mask[i & 3]!;
    frames.push({ opcode, payload });
    at = p + n;
  }
  return { frames, rest: buf.subarray(at) };
}
