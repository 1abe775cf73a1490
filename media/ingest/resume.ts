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
 * alignment; MP3 needs none (ffmpeg resyncs on frame sync words).
 */
import type { IngestFormat } from "../wire/control";

export interface IngestResumer {
  /** Takes received bytes, returns what to write to the running ffmpeg now. */
  push(chunk: Uint8Array): Uint8Array[];
  /** Call when a new ffmpeg starts: returns the header bytes to write to it first. */
  restart(): Uint8Array[];
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
      return { push: (c) => [c], restart: () => [] };
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
