import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { oggCrc32 } from "../../media/ogg/crc32";
import { OggOpusWriter, OggPageFlag } from "../../media/ogg/ogg-opus-writer";
import { demuxOggOpus, encodeOpusWithFfmpeg, ffprobe, type DemuxedOggOpus } from "../support/audio-match";

const MEDIA = "/work/shared/media";

/** One Ogg page as read back by {@link parsePages} (RFC 3533 §6). */
interface Page {
  flags: number;
  granule: bigint;
  serial: number;
  sequence: number;
  crc: number;
  /** The page with its CRC field zeroed, as the CRC is computed. */
  zeroed: Uint8Array;
  packets: Uint8Array[];
}

/** A small independent page reader (complete packets only, which is all the writer makes). */
function parsePages(bytes: Uint8Array): Page[] {
  const pages: Page[] = [];
  for (let at = 0; at < bytes.length; ) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + at);
    assert.equal(String.fromCharCode(...bytes.subarray(at, at + 4)), "OggS", `capture pattern at ${at}`);
    const count = bytes[at + 26]!;
    const lacing = [...bytes.subarray(at + 27, at + 27 + count)];
    const bodyBytes = lacing.reduce((n, l) => n + l, 0);
    const end = at + 27 + count + bodyBytes;
    const zeroed = new Uint8Array(bytes.subarray(at, end)); // a copy, even of a Buffer
    zeroed.fill(0, 22, 26);
    const packets: Uint8Array[] = [];
    let start = at + 27 + count, size = 0;
    for (const l of lacing) {
      size += l;
      if (l < 255) {
        packets.push(bytes.subarray(start, start + size));
        start += size;
        size = 0;
      }
    }
    pages.push({ flags: bytes[at + 5]!, granule: view.getBigInt64(6, true), serial: view.getUint32(14, true),
      sequence: view.getUint32(18, true), crc: view.getUint32(22, true), zeroed, packets });
    at = end;
  }
  return pages;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

describe("oggCrc32", () => {
  it("matches the check value of the Ogg CRC (poly 0x04c11db7, init 0, no reflection, no xor-out)", () => {
    assert.equal(oggCrc32(new TextEncoder().encode("123456789")), 0x89a1897f);
    assert.equal(oggCrc32(new Uint8Array(0)), 0);
    assert.equal(oggCrc32(new TextEncoder().encode("a")), 0xa864db20);
    const text = new TextEncoder().encode("123456789");
    assert.equal(oggCrc32(text.subarray(4), oggCrc32(text.subarray(0, 4))), 0x89a1897f, "continues over parts");
  });

  it("agrees with the CRC of every page ffmpeg writes", async function () {
    this.timeout(30000);
    const { ogg } = await encodeOpusWithFfmpeg(`${MEDIA}/front-center.wav`, { channels: 1 });
    const pages = parsePages(ogg);
    assert.ok(pages.length >= 3);
    for (const page of pages) assert.equal(oggCrc32(page.zeroed), page.crc, `page ${page.sequence}`);
  });
});

describe("OggOpusWriter", function () {
  this.timeout(30000);
  let dir: string;
  let stereo: DemuxedOggOpus;
  let mono: DemuxedOggOpus;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "ogg-opus-writer-"));
    stereo = await encodeOpusWithFfmpeg(`${MEDIA}/apex-aleph.ogg`, { startSeconds: 10, seconds: 4, channels: 2 });
    mono = await encodeOpusWithFfmpeg(`${MEDIA}/front-center.wav`, { channels: 1 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Muxes packets one per page (or `perPage` per page) and returns the file bytes. */
  function mux(source: DemuxedOggOpus, channels: 1 | 2, perPage = 1): Uint8Array {
    const writer = new OggOpusWriter({ channels, serial: 0x1234abcd });
    const parts = [writer.header()];
    source.packets.forEach((p, i) => {
      writer.write(p, 960);
      if ((i + 1) % perPage === 0) parts.push(writer.flush());
    });
    parts.push(writer.end());
    return concat(parts);
  }

  it("writes OpusHead alone on a BOS page and OpusTags with vendor veza-stream on the next", () => {
    const writer = new OggOpusWriter({ channels: 2, serial: 7, preSkip: 312, inputSampleRate: 44_100, tags: { TITLE: "Apex" } });
    const [head, tags, ...rest] = parsePages(writer.header());
    assert.ok(head && tags);
    assert.equal(rest.length, 0);
    assert.equal(head.flags, OggPageFlag.BOS);
    assert.deepEqual([head.granule, head.sequence, head.serial, head.packets.length], [0n, 0, 7, 1]);
    const id = Buffer.from(head.packets[0]!);
    assert.equal(id.length, 19);
    assert.equal(id.toString("latin1", 0, 8), "OpusHead");
    assert.deepEqual([id[8], id[9], id.readUInt16LE(10), id.readUInt32LE(12), id.readInt16LE(16), id[18]], [1, 2, 312, 44_100, 0, 0]);
    assert.deepEqual([tags.flags, tags.granule, tags.sequence, tags.packets.length], [0, 0n, 1, 1]);
    const comment = Buffer.from(tags.packets[0]!);
    assert.equal(comment.toString("latin1", 0, 8), "OpusTags");
    const vendorLength = comment.readUInt32LE(8);
    assert.equal(comment.toString("utf8", 12, 12 + vendorLength), "veza-stream");
    assert.equal(comment.readUInt32LE(12 + vendorLength), 1);
    assert.equal(comment.toString("utf8", 20 + vendorLength), "TITLE=Apex");
  });

  it("numbers pages, counts granules in 48 kHz samples and sets EOS on the last page", () => {
    const pages = parsePages(mux(stereo, 2));
    assert.equal(pages.length, 2 + stereo.packets.length + 1);
    pages.forEach((page, i) => {
      assert.equal(page.sequence, i);
      assert.equal(page.serial, 0x1234abcd);
      assert.equal(oggCrc32(page.zeroed), page.crc);
      assert.equal(page.flags, i === 0 ? OggPageFlag.BOS : i === pages.length - 1 ? OggPageFlag.EOS : 0);
      if (i >= 2 && i < pages.length - 1) assert.equal(page.granule, BigInt((i - 1) * 960));
    });
    assert.equal(pages.at(-1)?.granule, -1n, "an empty EOS page ends no packet");
    assert.equal(pages.at(-1)?.packets.length, 0);
  });

  for (const [name, channels, perPage] of [["stereo, one packet per page", 2, 1], ["stereo, 10 packets per page", 2, 10], ["mono", 1, 1]] as const) {
    it(`${name}: ffprobe reads opus, 48 kHz, ${channels} channel(s), the right duration and no CRC errors`, async () => {
      const source = channels === 2 ? stereo : mono;
      const path = join(dir, `out-${channels}-${perPage}.opus`);
      writeFileSync(path, mux(source, channels, perPage));
      const probe = await ffprobe(path);
      const stream = probe.streams[0];
      assert.ok(stream);
      assert.equal(stream.codec_name, "opus");
      assert.equal(stream.sample_rate, "48000");
      assert.equal(stream.channels, channels);
      assert.equal(Number(stream.nb_read_packets), source.packets.length);
      assert.doesNotMatch(probe.warnings, /CRC|error|invalid/i);
      const expected = (source.packets.length * 960 - 312) / 48_000;
      const duration = Number(probe.format.duration);
      assert.ok(Math.abs(duration - expected) <= 0.06, `duration ${duration} s, expected ${expected} s`);
      assert.ok(Math.abs(duration - (channels === 2 ? 4 : 1.4)) <= 0.06, `duration ${duration} s against the input`);
    });
  }

  it("re-demuxes with prism-media to the same packets, byte for byte", async () => {
    for (const perPage of [1, 10, 300]) {
      const back = await demuxOggOpus(mux(stereo, 2, perPage));
      assert.equal(back.packets.length, stereo.packets.length);
      back.packets.forEach((p, i) => assert.ok(Buffer.from(p).equals(stereo.packets[i]!), `packet ${i}`));
      assert.equal(back.head?.length, 19);
      assert.equal(Buffer.from(back.tags ?? []).toString("latin1", 0, 8), "OpusTags");
    }
  });

  it("laces packet sizes around multiples of 255 and splits a flush past 255 lacing values into pages", async () => {
    const sizes = [1, 254, 255, 256, 509, 510, 511, 7650];
    const packets = sizes.map((n, i) => Uint8Array.from({ length: n }, (_, j) => (j === 0 ? 0xfc : (i * 31 + j) & 0xff)));
    const writer = new OggOpusWriter({ channels: 2 });
    const file = concat([writer.header(), ...packets.map((p) => writer.packet(p)), writer.end()]);
    const pages = parsePages(file);
    assert.deepEqual(pages.slice(2, -1).map((p) => p.packets[0]?.length), sizes);
    assert.deepEqual(pages[4]?.zeroed[26], 2, "255 bytes take lacing values 255, 0");
    const back = await demuxOggOpus(file);
    assert.deepEqual(back.packets.map((p) => Buffer.from(p).toString("hex")), packets.map((p) => Buffer.from(p).toString("hex")));

    const many = new OggOpusWriter({ channels: 2 });
    const head = many.header();
    for (let i = 0; i < 200; i++) many.write(packets[3]!); // 256 bytes: 2 lacing values each
    const flushed = parsePages(many.flush());
    assert.deepEqual(flushed.map((p) => p.packets.length), [127, 73]);
    assert.deepEqual(flushed.map((p) => p.granule), [127n * 960n, 200n * 960n], "duration read from the TOC byte");
    assert.equal(parsePages(concat([head, many.end()])).at(-1)?.flags, OggPageFlag.EOS);
  });

  it("is caught by ffprobe when a page CRC is wrong (the check can fail)", async () => {
    const bytes = mux(stereo, 2);
    const pages = parsePages(bytes);
    const offset = pages.slice(0, 10).reduce((n, p) => n + p.zeroed.length, 0);
    bytes[offset + 22] = bytes[offset + 22]! ^ 0xff;
    const path = join(dir, "corrupt.opus");
    writeFileSync(path, bytes);
    const probe = await ffprobe(path);
    assert.match(probe.warnings, /CRC mismatch/);
    assert.ok(Number(probe.streams[0]?.nb_read_packets) < stereo.packets.length);
  });

  it("rejects writes before the header and after the end", () => {
    const writer = new OggOpusWriter({ channels: 1 });
    assert.throws(() => writer.write(new Uint8Array([0xfc])), RangeError);
    writer.header();
    assert.throws(() => writer.header(), RangeError);
    assert.throws(() => writer.write(new Uint8Array(0)), RangeError);
    writer.end();
    assert.throws(() => writer.write(new Uint8Array([0xfc])), RangeError);
  });
});
