/**
 * Reads Ogg pages back, and rewrites one page's place in a stream, pure. Source: RFC 3533 §6 (page
 * header: "OggS", version 0, flags, granule position i64, serial u32, sequence u32, CRC u32 over
 * the page with the CRC field zero, lacing values). For our own recordings: a demuxer (prism-media,
 * mediabunny) yields packets, while joining segments into one stream keeps their pages as they
 * are, so a byte offset in the joined file is known from the segments' sizes alone.
 */
import { oggCrc32 } from "./crc32";

const HEADER_BYTES = 27;
const CAPTURE = [0x4f, 0x67, 0x67, 0x53]; // "OggS"

export interface OggPage {
  /** Offset of the page in the bytes read, and its length (header, lacing and body). */
  offset: number;
  length: number;
  flags: number;
  /** Granule position; -1 when no packet ends on the page. */
  granule: number;
  serial: number;
  sequence: number;
  /** Packets that end on this page (a lacing value under 255 ends one). */
  packetsEnded: number;
  /** Bytes of the page body. */
  bodyBytes: number;
}

/**
 * The whole pages at the start of `bytes` whose CRC is right, in order, up to the first one that is
 * not (a file cut mid-write ends there). `validBytes` is where they end.
 */
export function readOggPages(bytes: Uint8Array): { pages: OggPage[]; validBytes: number } {
  const pages: OggPage[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + HEADER_BYTES <= bytes.length) {
    if (CAPTURE.some((b, i) => bytes[at + i] !== b) || bytes[at + 4] !== 0) break;
    const segments = bytes[at + 26] ?? 0;
    if (at + HEADER_BYTES + segments > bytes.length) break;
    let bodyBytes = 0;
    let packetsEnded = 0;
    for (let i = 0; i < segments; i++) {
      const lace = bytes[at + HEADER_BYTES + i] ?? 0;
      bodyBytes += lace;
      if (lace < 255) packetsEnded++;
    }
    const length = HEADER_BYTES + segments + bodyBytes;
    if (at + length > bytes.length) break;
    // a copy (Buffer#slice would be a view: zeroing its CRC field would change `bytes`)
    const page = new Uint8Array(bytes.subarray(at, at + length));
    const crc = view.getUint32(at + 22, true);
    page.fill(0, 22, 26);
    if (oggCrc32(page) !== crc) break;
    pages.push({
      offset: at, length, flags: bytes[at + 5] ?? 0, granule: Number(view.getBigInt64(at + 6, true)),
      serial: view.getUint32(at + 14, true), sequence: view.getUint32(at + 18, true), packetsEnded, bodyBytes,
    });
    at += length;
  }
  return { pages, validBytes: at };
}

/**
 * A copy of the page at `bytes[offset..offset+length)` placed in another stream: its serial,
 * sequence number, granule position (unchanged when -1) and flags replaced, the CRC recomputed.
 */
export function rewriteOggPage(bytes: Uint8Array, page: Pick<OggPage, "offset" | "length" | "granule">, to: { serial: number; sequence: number; granuleShift: number; flags: number }): Uint8Array {
  const out = new Uint8Array(bytes.subarray(page.offset, page.offset + page.length));
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[5] = to.flags;
  if (page.granule !== -1) view.setBigInt64(6, BigInt(page.granule + to.granuleShift), true);
  view.setUint32(14, to.serial, true);
  view.setUint32(18, to.sequence >>> 0, true);
  view.setUint32(22, 0, true);
  view.setUint32(22, oggCrc32(out), true);
  return out;
}

/**
 * The packets of the pages that start at or after `fromOffset` (e.g. past the header pages), in
 * order; a packet continued on the next page (lacing value 255 at a page's end) is joined.
 */
export function readOggPackets(bytes: Uint8Array, fromOffset = 0): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  for (const page of readOggPages(bytes).pages) {
    if (page.offset < fromOffset) continue;
    const lacingAt = page.offset + HEADER_BYTES;
    const segments = page.length - HEADER_BYTES - page.bodyBytes;
    let at = lacingAt + segments;
    let start = at;
    for (let i = 0; i < segments; i++) {
      const lace = bytes[lacingAt + i] ?? 0;
      at += lace;
      if (lace < 255) {
        pending.push(bytes.subarray(start, at));
        packets.push(pending.length === 1 ? pending[0]! : Buffer.concat(pending));
        pending = [];
        start = at;
      }
    }
    if (start < at) pending.push(bytes.subarray(start, at));
  }
  return packets;
}
