/**
 * Restart points for container byte streams. When the encoder's ffmpeg crashes mid-stream, the new
 * one cannot start reading in the middle of an Ogg page or a WebM cluster, and Vorbis or WAV input
 * is undecodable without its headers. A {@link IngestResumer} sits between the broadcaster's bytes
 * and ffmpeg's stdin: it keeps the stream's headers and, after a restart, replays them and resumes
 * at the next clean boundary. Pure: Uint8Array in, Uint8Array out.
 *
 * Boundaries used: Ogg pages (RFC 3533 §6: capture pattern "OggS", 27-byte header, lacing table;
 * header pages are those with granule position 0, RFC 7845 §3 / Vorbis I spec §4.3); WebM clusters
 * (Matroska element ID 0x1F43B675, RFC 9559 §5.1.3); WAV "data" chunk (RIFF) and PCM block
 * alignment; MP3 needs none (ffmpeg resyncs on frame sync words); ADTS AAC resumes at the next
 * ADTS sync word (ISO/IEC 14496-3 §1.A.2.2: 12 bits set, layer 00); FLAC keeps "fLaC" and its
 * metadata blocks as the header and resumes at the next frame sync code (FLAC format, RFC 9639
 * §8.1 and §9.1: 0xFFF8 or 0xFFF9); MPEG-TS resumes at the next of three packets in a row
 * (ISO/IEC 13818-1 §2.4.3: 188 bytes, sync byte 0x47) and needs no header, PAT and PMT repeat.
 *
 * What a restart loses with these: the bytes the crashed ffmpeg had read but not yet turned into
 * output (its pipe and decoder buffers), and for Ogg and WebM the rest of the interrupted page or
 * cluster. The encoder uses them for Ogg, WebM, MP3 and WAV of codecs ffmpeg has no raw demuxer
 * for (ADPCM…); PCM WAV and pcm_s16le restart exactly instead (pcm-replay.ts).
 */
import { tsSyncOffset, TS_PACKET_BYTES } from "../mpegts/packets";
import type { IngestFormat } from "../wire/control";

export interface IngestResumer {
  /** Takes received bytes, returns what to write to the running ffmpeg now. */
  push(chunk: Uint8Array): Uint8Array[];
  /** Call when a new ffmpeg starts: returns the header bytes to write to it first. */
  restart(): Uint8Array[];
  /**
   * At the end of the input: returns the received bytes still held back (an Ogg page whose end
   * never came), so that everything received reaches ffmpeg. Bytes skipped on purpose after a
   * restart (the rest of an interrupted WebM cluster) stay skipped.
   */
  flush(): Uint8Array[];
}

const MAX_HEADER_BYTES = 1 << 20;

/** Builds the resumer for a format. `blockAlign` (bytes per PCM frame) is for pcm_s16le. */
export function createResumer(format: Exclude<IngestFormat, "opus">, blockAlign = 4): IngestResumer {
  switch (format) {
    case "ogg":
      return new OggResumer();
    case "webm":
      return new WebmResumer();
    case "wav":
      return new WavResumer();
    case "pcm_s16le":
      return new PcmResumer(blockAlign);
    case "mp3":
      return { push: (c) => [c], restart: () => [], flush: () => [] };
    case "aac":
      return new SyncWordResumer(new Uint8Array(0), (b0, b1) => b0 === 0xff && (b1 & 0xf6) === 0xf0);
    case "flac":
      return new FlacResumer();
    case "mpegts":
      return new TsResumer();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function indexOf(hay: Uint8Array, needle: readonly number[], from = 0): number {
  outer: for (let i = from; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const OGGS = [0x4f, 0x67, 0x67, 0x53];

/** Emits whole Ogg pages only; keeps the leading pages with granule position 0 as headers. */
class OggResumer implements IngestResumer {
  private pending: Uint8Array = new Uint8Array(0);
  private readonly headers: Uint8Array[] = [];
  private headersDone = false;

  push(chunk: Uint8Array): Uint8Array[] {
    this.pending = concat(this.pending, chunk);
    const pages: Uint8Array[] = [];
    for (;;) {
      const start = indexOf(this.pending, OGGS);
      if (start < 0) {
        this.pending = this.pending.subarray(Math.max(0, this.pending.length - 3));
        break;
      }
      const buf = this.pending.subarray(start);
      if (buf.length < 27) break;
      const segments = buf[26] ?? 0;
      if (buf.length < 27 + segments) break;
      let body = 0;
      for (let i = 0; i < segments; i++) body += buf[27 + i] ?? 0;
      const size = 27 + segments + body;
      if (buf.length < size) break;
      const page = buf.slice(0, size);
      this.pending = buf.subarray(size);
      if (!this.headersDone) {
        const view = new DataView(page.buffer, page.byteOffset, 14);
        const lo = view.getUint32(6, true);
        const hi = view.getUint32(10, true);
        // granule 0: header packets end here; -1: no packet ends here (a header spanning pages)
        const isHeader = (lo === 0 && hi === 0) || (lo === 0xffff_ffff && hi === 0xffff_ffff);
        if (isHeader && this.headers.length < 64) this.headers.push(page);
        else this.headersDone = true;
      }
      pages.push(page);
    }
    return pages;
  }

  restart(): Uint8Array[] {
    return [...this.headers];
  }

  flush(): Uint8Array[] {
    const rest = this.pending;
    this.pending = new Uint8Array(0);
    return rest.length ? [rest] : [];
  }
}

const CLUSTER_ID = [0x1f, 0x43, 0xb6, 0x75];

/** Keeps everything before the first Cluster as the header; after a restart resumes at a Cluster. */
class WebmResumer implements IngestResumer {
  private header: Uint8Array = new Uint8Array(0);
  private headerDone = false;
  private seeking = false;
  private carry: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] {
    if (!this.headerDone) {
      const all = concat(this.header, chunk);
      const at = indexOf(all, CLUSTER_ID, Math.max(0, this.header.length - 3));
      if (at < 0 && all.length < MAX_HEADER_BYTES) {
        this.header = all;
        return [chunk];
      }
      this.headerDone = true;
      this.header = at < 0 ? new Uint8Array(0) : all.slice(0, at);
      return [chunk];
    }
    if (!this.seeking) return [chunk];
    const all = concat(this.carry, chunk);
    const at = indexOf(all, CLUSTER_ID);
    if (at < 0) {
      this.carry = all.slice(Math.max(0, all.length - 3));
      return [];
    }
    this.seeking = false;
    this.carry = new Uint8Array(0);
    return [all.subarray(at)];
  }

  restart(): Uint8Array[] {
    this.seeking = this.headerDone;
    return this.header.length ? [this.header] : [];
  }

  flush(): Uint8Array[] {
    return [];
  }
}

/** Raw PCM: after a restart, skips to the next whole sample frame. */
class PcmResumer implements IngestResumer {
  private total = 0;
  private skip = 0;
  constructor(private blockAlign: number) {}

  setBlockAlign(n: number): void {
    this.blockAlign = Math.max(1, n);
  }

  push(chunk: Uint8Array): Uint8Array[] {
    let out = chunk;
    if (this.skip > 0) {
      const n = Math.min(this.skip, out.length);
      this.skip -= n;
      this.total += n;
      out = out.subarray(n);
    }
    this.total += out.length;
    return out.length ? [out] : [];
  }

  restart(): Uint8Array[] {
    this.skip = (this.blockAlign - (this.total % this.blockAlign)) % this.blockAlign;
    return [];
  }

  flush(): Uint8Array[] {
    return [];
  }
}

/** WAV: keeps RIFF header up to and including the "data" chunk header, then acts as PCM. */
class WavResumer implements IngestResumer {
  private header: Uint8Array = new Uint8Array(0);
  private headerDone = false;
  private readonly pcm = new PcmResumer(4);

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.headerDone) return this.pcm.push(chunk);
    const all = concat(this.header, chunk);
    const end = this.headerEnd(all);
    if (end < 0) {
      if (all.length >= MAX_HEADER_BYTES) this.headerDone = true;
      this.header = all;
      return [chunk];
    }
    this.headerDone = true;
    const seen = this.header.length;
    this.header = all.slice(0, end);
    // bytes of this chunk before the header end go out as they are; after it, as PCM
    const splitInChunk = Math.max(0, end - seen);
    return [chunk.subarray(0, splitInChunk), ...this.pcm.push(chunk.subarray(splitInChunk))];
  }

  restart(): Uint8Array[] {
    this.pcm.restart();
    // before the data chunk arrived, the partial header is all there is: replay it
    return this.header.length ? [this.header] : [];
  }

  flush(): Uint8Array[] {
    return [];
  }

  /** Offset just past the "data" chunk header, or -1; reads blockAlign from "fmt ". */
  private headerEnd(b: Uint8Array): number {
    if (b.length < 12) return -1;
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let at = 12;
    while (at + 8 <= b.length) {
      const id = String.fromCharCode(b[at] ?? 0, b[at + 1] ?? 0, b[at + 2] ?? 0, b[at + 3] ?? 0);
      const size = view.getUint32(at + 4, true);
      if (id === "data") return at + 8;
      if (id === "fmt " && at + 8 + 14 <= b.length) this.pcm.setBlockAlign(view.getUint16(at + 8 + 12, true));
      at += 8 + size + (size & 1);
    }
    return -1;
  }
}

/** After a restart, replays `header` and skips input to the next two bytes that `isSync` accepts. */
class SyncWordResumer implements IngestResumer {
  private seeking = false;
  private carry: Uint8Array = new Uint8Array(0);
  constructor(
    protected header: Uint8Array,
    private readonly isSync: (b0: number, b1: number) => boolean,
  ) {}

  push(chunk: Uint8Array): Uint8Array[] {
    if (!this.seeking) return [chunk];
    const all = concat(this.carry, chunk);
    for (let i = 0; i + 1 < all.length; i++) {
      if (this.isSync(all[i]!, all[i + 1]!)) {
        this.seeking = false;
        this.carry = new Uint8Array(0);
        return [all.subarray(i)];
      }
    }
    this.carry = all.slice(Math.max(0, all.length - 1));
    return [];
  }

  restart(): Uint8Array[] {
    this.seeking = true;
    return this.header.length ? [this.header] : [];
  }

  flush(): Uint8Array[] {
    return [];
  }
}

/** FLAC: "fLaC" and the metadata blocks up to the one flagged last are the header. */
class FlacResumer extends SyncWordResumer {
  private received: Uint8Array = new Uint8Array(0);
  private headerDone = false;

  constructor() {
    super(new Uint8Array(0), (b0, b1) => b0 === 0xff && (b1 === 0xf8 || b1 === 0xf9));
  }

  override push(chunk: Uint8Array): Uint8Array[] {
    if (!this.headerDone) {
      this.received = concat(this.received, chunk);
      const end = flacHeaderEnd(this.received);
      if (end >= 0 || this.received.length >= MAX_HEADER_BYTES) {
        this.headerDone = true;
        this.header = end >= 0 ? this.received.slice(0, end) : new Uint8Array(0);
        this.received = new Uint8Array(0);
      }
    }
    return super.push(chunk);
  }

  override restart(): Uint8Array[] {
    // before the header is complete, what arrived so far is all there is: replay it
    if (!this.headerDone) return this.received.length ? [this.received] : [];
    return super.restart();
  }
}

/** Offset just past the last metadata block of a FLAC stream (RFC 9639 §8.1), or -1 when not all there. */
function flacHeaderEnd(b: Uint8Array): number {
  if (b.length < 4) return -1;
  if (b[0] !== 0x66 || b[1] !== 0x4c || b[2] !== 0x61 || b[3] !== 0x43) return 0; // not "fLaC": no header to keep
  let at = 4;
  while (at + 4 <= b.length) {
    const last = (b[at]! & 0x80) !== 0;
    const size = (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
    at += 4 + size;
    if (at > b.length) return -1;
    if (last) return at;
  }
  return -1;
}

/** MPEG-TS: after a restart, skips to the next point where three packets start in a row. */
class TsResumer implements IngestResumer {
  private seeking = false;
  private carry: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] {
    if (!this.seeking) return [chunk];
    const all = concat(this.carry, chunk);
    const at = tsSyncOffset(all);
    if (at < 0) {
      // keep enough to find three packets that straddle this chunk and the next
      this.carry = all.slice(Math.max(0, all.length - 3 * TS_PACKET_BYTES));
      return [];
    }
    this.seeking = false;
    this.carry = new Uint8Array(0);
    return [all.subarray(at)];
  }

  restart(): Uint8Array[] {
    this.seeking = true;
    return [];
  }

  flush(): Uint8Array[] {
    return [];
  }
}
