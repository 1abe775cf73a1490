/**
 * One recording as one Ogg/Opus file (RFC 7845), joined from its segments without decoding: the
 * header pages once, then every segment's data pages as they are, placed in one logical stream
 * (one serial, sequence numbers and granule positions going on: ogg/pages.ts rewriteOggPage), and
 * Opus silence in each gap, so that the file's time is the recording's media time. Pure.
 *
 * The layout comes from the manifest alone (segment sizes, header sizes, page counts), so the
 * file's length and where each byte comes from are known before any segment is read: an HTTP Range
 * request reads only the segments it covers.
 */
import { OggOpusWriter } from "../ogg/ogg-opus-writer";
import { OPUS_SILENCE_SAMPLES, opusSilence } from "../opus/packet";
import { readOggPages, rewriteOggPage } from "../ogg/pages";
import type { RecordingView, SegmentEntry } from "./manifest";

/** Silence packets per page: 1 s. */
const SILENCE_PER_PAGE = 50;

/** A run of the joined file: the header, one segment's data pages, or the silence of a gap. */
export type WholeFilePiece =
  | { kind: "bytes"; offset: number; bytes: Uint8Array }
  | { kind: "segment"; offset: number; length: number; segment: SegmentEntry; firstSequence: number; granuleShift: number; last: boolean };

export interface WholeFileLayout {
  pieces: WholeFilePiece[];
  /** Bytes of the whole file. */
  length: number;
  serial: number;
}

/** A serial number for the recording's stream, the same at every request (so ranges of two requests fit). */
function serialOf(id: string): number {
  let h = 0x811c9dc5; // FNV-1a, 32 bits
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Where every byte of the joined file of `view` comes from. */
export function wholeFileLayout(view: RecordingView): WholeFileLayout {
  const channels = view.info.channels;
  const writer = new OggOpusWriter({ channels, preSkip: 0, serial: serialOf(`${view.info.streamId}/${view.info.id}`), tags: { TITLE: view.info.title || view.info.streamId, DATE: view.info.startedAt } });
  const header = writer.header();
  const pieces: WholeFilePiece[] = [{ kind: "bytes", offset: 0, bytes: header }];
  let offset = header.length;
  let sequence = 2;
  let mediaTime = view.mediaStart;
  const ended = view.info.endedAt !== null;
  view.segments.forEach((segment, i) => {
    if (segment.mediaStart > mediaTime) {
      const silence = silencePages(writer.serial, sequence, mediaTime - view.mediaStart, segment.mediaStart - mediaTime, channels);
      if (silence.bytes.length > 0) {
        pieces.push({ kind: "bytes", offset, bytes: silence.bytes });
        offset += silence.bytes.length;
        sequence += silence.pages;
      }
    }
    const length = segment.bytes - segment.headerBytes;
    pieces.push({ kind: "segment", offset, length, segment, firstSequence: sequence, granuleShift: segment.mediaStart - view.mediaStart, last: ended && i === view.segments.length - 1 });
    offset += length;
    sequence += segment.pages;
    mediaTime = Math.max(mediaTime, segment.mediaEnd);
  });
  return { pieces, length: offset, serial: writer.serial };
}

/** Pages of `samples` of silence (whole 20 ms packets) whose granule positions start at `granuleAt`. */
function silencePages(serial: number, firstSequence: number, granuleAt: number, samples: number, channels: 1 | 2): { bytes: Uint8Array; pages: number } {
  const count = Math.floor(samples / OPUS_SILENCE_SAMPLES);
  if (count === 0) return { bytes: new Uint8Array(0), pages: 0 };
  const w = new OggOpusWriter({ channels, serial, preSkip: 0 });
  w.header();
  const chunks: Uint8Array[] = [];
  const packet = opusSilence(channels);
  for (let i = 0; i < count; i += SILENCE_PER_PAGE) {
    for (let j = i; j < Math.min(count, i + SILENCE_PER_PAGE); j++) w.write(packet, OPUS_SILENCE_SAMPLES);
    chunks.push(w.flush());
  }
  const raw = Buffer.concat(chunks);
  const { pages } = readOggPages(raw);
  const out = Buffer.concat(pages.map((p, k) => rewriteOggPage(raw, p, { serial, sequence: firstSequence + k, granuleShift: granuleAt, flags: 0 })));
  return { bytes: out, pages: pages.length };
}

/**
 * A segment object's data pages placed in the joined file (`piece`).
 * @throws Error when the object is not what its manifest entry says (size, pages): it changed.
 */
export function placeSegment(piece: Extract<WholeFilePiece, { kind: "segment" }>, object: Uint8Array, serial: number): Uint8Array {
  const { pages } = readOggPages(object);
  const data = pages.filter((p) => p.offset >= piece.segment.headerBytes);
  const out = Buffer.concat(
    data.map((p, k) => rewriteOggPage(object, p, { serial, sequence: piece.firstSequence + k, granuleShift: piece.granuleShift, flags: piece.last && k === data.length - 1 ? 0x04 : 0 })),
  );
  if (out.length !== piece.length || data.length !== piece.segment.pages) {
    throw new Error(`segment ${piece.segment.key} holds ${out.length} bytes in ${data.length} pages, its manifest says ${piece.length} in ${piece.segment.pages}`);
  }
  return out;
}
