/**
 * Muxes Opus packets into an Ogg Opus stream, page by page. Pure: no Node imports.
 * Sources: RFC 3533 (Ogg page format, lacing, flags, CRC) and RFC 7845 (Ogg encapsulation of Opus:
 * ID header "OpusHead" alone on the first page, comment header "OpusTags" on the second, granule
 * positions counted in samples at 48 kHz and including the pre-skip).
 *
 * A packet never spans pages (no continuation): an Opus packet is at most 7650 bytes, well under
 * the 65,024 bytes one page can carry. Usage: `header()` once, then `packet()` per packet (one page
 * each), or `write()` several and `flush()` them into as few pages as fit; `end()` last.
 */
import { concatBytes } from "../bytes";
import { opusPacketInfo } from "../opus/packet";
import { oggCrc32 } from "./crc32";

/** Options of an {@link OggOpusWriter}. */
export interface OggOpusWriterOptions {
  /** Channels of the Opus packets (mapping family 0). */
  channels: 1 | 2;
  /** Ogg bitstream serial number, u32; random by default (RFC 3533 §4 asks for a unique one). */
  serial?: number;
  /** Samples at 48 kHz the decoder drops at the start (RFC 7845 §4.2); default 312, libopus's delay. */
  preSkip?: number;
  /** Sample rate of the original input in Hz, informational only (RFC 7845 §5.1); default 48000. */
  inputSampleRate?: number;
  /** User comments of the OpusTags header, written as KEY=value (RFC 7845 §5.2), e.g. TITLE. */
  tags?: Record<string, string>;
}

/** Vendor string of the OpusTags header. */
export const OGG_OPUS_VENDOR = "veza-stream";

/** Default pre-skip in samples at 48 kHz: the encoder delay of libopus at 48 kHz (RFC 7845 §4.2). */
export const DEFAULT_PRE_SKIP = 312;

/** Header-type flag bits of an Ogg page (RFC 3533 §6). */
export const OggPageFlag = { CONTINUED: 0x01, BOS: 0x02, EOS: 0x04 } as const;

/** Largest number of lacing values, hence segments, in one page (RFC 3533 §6). */
const MAX_SEGMENTS = 255;
const PAGE_HEADER_BYTES = 27;

/** Writes one logical Ogg Opus bitstream. Each method returns whole pages, ready to concatenate. */
export class OggOpusWriter {
  /** Ogg bitstream serial number, u32. */
  readonly serial: number;
  /** Pre-skip written in OpusHead, in samples at 48 kHz. */
  readonly preSkip: number;
  private readonly opts: OggOpusWriterOptions;
  private sequence = 0;
  private granulePosition = 0;
  private pending: { packet: Uint8Array; duration: number }[] = [];
  private ended = false;

  constructor(opts: OggOpusWriterOptions) {
    this.opts = opts;
    this.serial = (opts.serial ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
    this.preSkip = opts.preSkip ?? DEFAULT_PRE_SKIP;
    if (!Number.isInteger(this.preSkip) || this.preSkip < 0 || this.preSkip > 0xffff) {
      throw new RangeError(`preSkip ${this.preSkip} is not an integer in 0..65535`);
    }
  }

  /**
   * Granule position after the packets written so far: samples at 48 kHz decoded from the stream,
   * pre-skip included. Playback time is `granule - preSkip` samples.
   */
  get granule(): number {
    return this.granulePosition;
  }

  /** Pages written so far, which is also the sequence number of the next page. */
  get pageCount(): number {
    return this.sequence;
  }

  /**
   * The two header pages: OpusHead alone on the BOS page (RFC 7845 §5.1, 19 bytes, mapping family
   * 0), then OpusTags with vendor "veza-stream" on its own page (§5.2). Both have granule 0.
   */
  header(): Uint8Array {
    if (this.sequence !== 0) throw new RangeError("header() must come first, once");
    const head = new Uint8Array(19);
    const view = new DataView(head.buffer);
    head.set(ascii("OpusHead"));
    head[8] = 1; // version
    head[9] = this.opts.channels;
    view.setUint16(10, this.preSkip, true);
    view.setUint32(12, this.opts.inputSampleRate ?? 48_000, true);
    view.setInt16(16, 0, true); // output gain, Q7.8 dB
    head[18] = 0; // channel mapping family 0: mono or stereo, one stream
    const utf8 = new TextEncoder();
    const vendor = utf8.encode(OGG_OPUS_VENDOR);
    const comments = Object.entries(this.opts.tags ?? {}).map(([k, v]) => utf8.encode(`${k}=${v}`));
    const tags = new Uint8Array(8 + 4 + vendor.length + 4 + comments.reduce((n, c) => n + 4 + c.length, 0));
    const tagsView = new DataView(tags.buffer);
    tags.set(ascii("OpusTags"));
    tagsView.setUint32(8, vendor.length, true);
    tags.set(vendor, 12);
    let at = 12 + vendor.length;
    tagsView.setUint32(at, comments.length, true);
    at += 4;
    for (const comment of comments) {
      tagsView.setUint32(at, comment.length, true);
      tags.set(comment, at + 4);
      at += 4 + comment.length;
    }
    return concatBytes([this.page([head], 0, OggPageFlag.BOS), this.page([tags], 0, 0)]);
  }

  /**
   * Queues one Opus packet for the next {@link flush}.
   * @param durationSamples48k the packet's duration in samples at 48 kHz; read from its TOC byte
   *   (RFC 6716 §3.1) when omitted.
   * @throws RangeError after {@link end}, or for an empty packet or one too large for one page.
   */
  write(opusPacket: Uint8Array, durationSamples48k?: number): void {
    if (this.sequence === 0 || this.ended) throw new RangeError("write() needs header() first and no end()");
    if (opusPacket.length === 0 || lacingCount(opusPacket.length) > MAX_SEGMENTS) {
      throw new RangeError(`Opus packet of ${opusPacket.length} bytes does not fit one Ogg page`);
    }
    this.pending.push({ packet: opusPacket, duration: durationSamples48k ?? opusPacketInfo(opusPacket).duration });
  }

  /**
   * Returns the queued packets as pages (as few as the 255 lacing values per page allow; empty when
   * nothing is queued and `eos` is false). Each page's granule position counts the samples through
   * its last packet (RFC 7845 §4). With `eos`, the last page gets the EOS flag; if no packet is
   * queued that page is empty, with granule -1 as RFC 3533 §6 asks of a page where no packet ends.
   */
  flush(opts: { eos?: boolean } = {}): Uint8Array {
    const pages: Uint8Array[] = [];
    let batch: Uint8Array[] = [];
    let segments = 0;
    const queue = this.pending;
    this.pending = [];
    for (const [i, item] of queue.entries()) {
      batch.push(item.packet);
      segments += lacingCount(item.packet.length);
      this.granulePosition += item.duration;
      const next = queue[i + 1];
      if (next === undefined || segments + lacingCount(next.packet.length) > MAX_SEGMENTS) {
        const last = next === undefined && opts.eos === true;
        pages.push(this.page(batch, this.granulePosition, last ? OggPageFlag.EOS : 0));
        batch = [];
        segments = 0;
      }
    }
    if (opts.eos === true && queue.length === 0) pages.push(this.page([], -1, OggPageFlag.EOS));
    if (opts.eos === true) this.ended = true;
    return concatBytes(pages);
  }

  /** `write()` then `flush()`: one page holding this packet (after any still queued). */
  packet(opusPacket: Uint8Array, durationSamples48k?: number): Uint8Array {
    this.write(opusPacket, durationSamples48k);
    return this.flush();
  }

  /** The last page(s): queued packets, if any, with the EOS flag on the final page. */
  end(): Uint8Array {
    return this.flush({ eos: true });
  }

  /** Builds one page (RFC 3533 §6) from whole packets; `granule` -1 means no packet ends here. */
  private page(packets: Uint8Array[], granule: number, flags: number): Uint8Array {
    const lacing: number[] = [];
    for (const p of packets) {
      for (let left = p.length; ; left -= 255) {
        lacing.push(Math.min(left, 255));
        if (left < 255) break;
      }
    }
    if (lacing.length > MAX_SEGMENTS) throw new RangeError(`${lacing.length} lacing values exceed one page`);
    const bodyBytes = packets.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(PAGE_HEADER_BYTES + lacing.length + bodyBytes);
    const view = new DataView(out.buffer);
    out.set(ascii("OggS"));
    out[4] = 0; // stream structure version
    out[5] = flags;
    view.setBigInt64(6, BigInt(granule), true);
    view.setUint32(14, this.serial, true);
    view.setUint32(18, this.sequence, true);
    this.sequence = (this.sequence + 1) >>> 0;
    out[26] = lacing.length;
    out.set(lacing, PAGE_HEADER_BYTES);
    let at = PAGE_HEADER_BYTES + lacing.length;
    for (const p of packets) {
      out.set(p, at);
      at += p.length;
    }
    view.setUint32(22, oggCrc32(out), true); // computed with the CRC field still zero
    return out;
  }
}

/** Lacing values for a packet of `bytes` bytes: one per 255 bytes, plus a final one under 255. */
function lacingCount(bytes: number): number {
  return Math.floor(bytes / 255) + 1;
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}
