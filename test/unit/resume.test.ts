import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { openSync, readFileSync, readSync, closeSync } from "node:fs";
import ffmpegInstaller from "@ffmpeg-installer/ffmpeg";
import { createResumer, type IngestResumer } from "../../media/ingest/resume";

const MEDIA = "/work/shared/media";

/** The first `n` bytes of a file. */
function head(path: string, n: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const out = new Uint8Array(n);
    const got = readSync(fd, out, 0, n, 0);
    return out.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

const ascii = (b: Uint8Array, at: number, n: number) => Buffer.from(b.buffer, b.byteOffset + at, n).toString("latin1");

/** Cuts `bytes` into chunks whose sizes cycle through `sizes`. */
function chunks(bytes: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** Pushes every chunk, returning all the pieces the resumer handed out. */
function pushAll(r: IngestResumer, parts: readonly Uint8Array[]): Uint8Array[] {
  return parts.flatMap((c) => r.push(c));
}

/** Odd chunk sizes, several smaller than an Ogg page header or a capture pattern. */
const ODD = [1, 3, 7, 26, 101, 997, 2, 4099, 13, 27, 28, 65_537, 5];

describe("createResumer", () => {
  describe("ogg", () => {
    /** An Ogg page as an independent reader sees it (RFC 3533 §6). */
    interface Page {
      offset: number;
      size: number;
      granule: bigint;
      bytes: Uint8Array;
    }

    /** Whole pages at the start of `bytes`; a trailing partial page is left out. */
    function pages(bytes: Uint8Array): Page[] {
      const out: Page[] = [];
      for (let at = 0; at + 27 <= bytes.length; ) {
        assert.equal(ascii(bytes, at, 4), "OggS", `capture pattern at ${at}`);
        const segments = bytes[at + 26]!;
        if (at + 27 + segments > bytes.length) break;
        const body = [...bytes.subarray(at + 27, at + 27 + segments)].reduce((n, l) => n + l, 0);
        const size = 27 + segments + body;
        if (at + size > bytes.length) break;
        const granule = Buffer.from(bytes.buffer, bytes.byteOffset + at, 27).readBigUInt64LE(6);
        out.push({ offset: at, size, granule, bytes: bytes.subarray(at, at + size) });
        at += size;
      }
      return out;
    }

    const input = head(`${MEDIA}/apex-aleph.ogg`, 200_000);
    const whole = pages(input);
    const wholeEnd = whole.at(-1)!.offset + whole.at(-1)!.size;

    it("the fixture is Ogg Vorbis with its three header packets on the two granule-0 pages", () => {
      assert.ok(whole.length > 20);
      assert.ok(wholeEnd < input.length, "the 200 KB prefix ends inside a page");
      assert.deepEqual(whole.slice(0, 3).map((p) => p.granule), [0n, 0n, 15296n]);
      // identification header (type 1) alone on page 0; comment (3) and setup (5) on page 1
      const p0 = whole[0]!, p1 = whole[1]!;
      assert.equal(ascii(p0.bytes, 28, 7), "\x01vorbis");
      const lacing = [...p1.bytes.subarray(27, 27 + p1.bytes[26]!)];
      const sizes: number[] = [];
      let size = 0;
      for (const l of lacing) {
        size += l;
        if (l < 255) sizes.push(size), (size = 0);
      }
      assert.equal(sizes.length, 2, "two packets end on page 1");
      const bodyAt = 27 + lacing.length;
      assert.equal(ascii(p1.bytes, bodyAt, 7), "\x03vorbis");
      assert.equal(ascii(p1.bytes, bodyAt + sizes[0]!, 7), "\x05vorbis");
    });

    it("hands out whole pages only, each its own piece, and exactly the input's whole pages", () => {
      const r = createResumer("ogg");
      const out = pushAll(r, chunks(input, ODD));
      assert.equal(out.length, whole.length, "one piece per whole page");
      out.forEach((piece, i) => {
        assert.equal(ascii(piece, 0, 4), "OggS", `piece ${i} starts with OggS`);
        assert.equal(piece.length, whole[i]!.size, `piece ${i} is one page`);
      });
      assert.deepEqual(Buffer.from(concat(out)), Buffer.from(input.subarray(0, wholeEnd)));
    });

    it("does the same fed one byte at a time", () => {
      const prefix = input.subarray(0, 20_000);
      const expected = pages(prefix);
      const out = pushAll(createResumer("ogg"), chunks(prefix, [1]));
      assert.equal(out.length, expected.length);
      assert.deepEqual(Buffer.from(concat(out)), Buffer.from(prefix.subarray(0, expected.at(-1)!.offset + expected.at(-1)!.size)));
    });

    it("restart() returns the header pages (granule 0): the first two pages of the file", () => {
      const r = createResumer("ogg");
      pushAll(r, chunks(input, ODD));
      const headers = r.restart();
      assert.equal(headers.length, 2);
      assert.deepEqual(Buffer.from(headers[0]!), Buffer.from(whole[0]!.bytes));
      assert.deepEqual(Buffer.from(headers[1]!), Buffer.from(whole[1]!.bytes));
      assert.deepEqual(r.restart().map((h) => h.length), headers.map((h) => h.length), "restart() can be called again");
    });

    it("after a restart mid-page goes on with whole pages from where it was", () => {
      const r = createResumer("ogg");
      const cut = whole[10]!.offset + 1000; // inside page 10
      const before = pushAll(r, chunks(input.subarray(0, cut), ODD));
      assert.equal(before.length, 10);
      r.restart();
      const after = pushAll(r, chunks(input.subarray(cut), ODD));
      assert.equal(ascii(after[0]!, 0, 4), "OggS");
      assert.deepEqual(Buffer.from(after[0]!), Buffer.from(whole[10]!.bytes), "the interrupted page comes out whole");
      assert.deepEqual(Buffer.from(concat([...before, ...after])), Buffer.from(input.subarray(0, wholeEnd)));
    });

    it("flush() hands out the bytes of the page whose end never came, once", () => {
      const r = createResumer("ogg");
      const out = pushAll(r, chunks(input, ODD));
      const rest = r.flush();
      assert.deepEqual(Buffer.from(concat([...out, ...rest])), Buffer.from(input), "every byte received, the partial page last");
      assert.deepEqual(Buffer.from(concat(rest)), Buffer.from(input.subarray(wholeEnd)));
      assert.deepEqual(r.flush(), [], "nothing twice");
    });

    it("restart() before any page returns no headers", () => {
      const r = createResumer("ogg");
      r.push(input.subarray(0, 20));
      assert.deepEqual(r.restart(), []);
    });
  });

  describe("wav", () => {
    const wav = readFileSync(`${MEDIA}/front-center.wav`);
    const input = new Uint8Array(wav.buffer, wav.byteOffset, wav.byteLength);
    const DATA_AT = 44;

    it("the fixture is a canonical 44-byte-header mono s16 WAV", () => {
      assert.equal(ascii(input, 0, 4), "RIFF");
      assert.equal(ascii(input, 8, 8), "WAVEfmt ");
      assert.equal(wav.readUInt16LE(22), 1, "mono");
      assert.equal(wav.readUInt16LE(32), 2, "block align 2");
      assert.equal(ascii(input, 36, 4), "data");
    });

    it("passes the bytes through and captures the header up to the data chunk (44 bytes)", () => {
      for (const sizes of [ODD, [1], [44], [43, 2], [4096]]) {
        const r = createResumer("wav");
        const out = pushAll(r, chunks(input.subarray(0, 5000), sizes));
        assert.deepEqual(Buffer.from(concat(out)), Buffer.from(input.subarray(0, 5000)), `sizes ${sizes.join(",")}: pass-through`);
        const headers = r.restart();
        assert.equal(headers.length, 1);
        assert.equal(headers[0]!.length, DATA_AT, `sizes ${sizes.join(",")}`);
        assert.deepEqual(Buffer.from(headers[0]!), Buffer.from(input.subarray(0, DATA_AT)));
      }
    });

    it("after restart() resumes on a 2-byte sample boundary of the data chunk", () => {
      const r = createResumer("wav");
      const cut = DATA_AT + 1001; // odd number of PCM bytes: mid-sample
      pushAll(r, chunks(input.subarray(0, cut), ODD));
      const headers = r.restart();
      assert.deepEqual(Buffer.from(concat(headers)), Buffer.from(input.subarray(0, DATA_AT)));
      const after = concat(pushAll(r, chunks(input.subarray(cut, cut + 3000), [1, 5, 100])));
      assert.equal((cut + 3000 - after.length - DATA_AT) % 2, 0, "output starts on a sample boundary");
      assert.deepEqual(Buffer.from(after), Buffer.from(input.subarray(cut + 1, cut + 3000)), "one byte skipped, nothing else");
    });

    it("after restart() on a sample boundary skips nothing", () => {
      const r = createResumer("wav");
      const cut = DATA_AT + 1000;
      pushAll(r, chunks(input.subarray(0, cut), ODD));
      r.restart();
      assert.deepEqual(Buffer.from(concat(r.push(input.subarray(cut, cut + 10)))), Buffer.from(input.subarray(cut, cut + 10)));
    });

    it("counts from the data chunk, not the file start, when the header chunk ends mid-sample", () => {
      // header ends inside a chunk: 45 bytes = 44 header + 1 PCM byte, then the rest
      const r = createResumer("wav");
      pushAll(r, [input.subarray(0, 45)]);
      r.restart();
      const after = concat(r.push(input.subarray(45, 101)));
      assert.deepEqual(Buffer.from(after), Buffer.from(input.subarray(46, 101)));
    });
  });

  describe("pcm_s16le", () => {
    const pcm = new Uint8Array(64).map((_, i) => i);

    it("passes the bytes through until a restart", () => {
      const r = createResumer("pcm_s16le", 4);
      assert.deepEqual(Buffer.from(concat(pushAll(r, chunks(pcm, [3, 5, 1])))), Buffer.from(pcm));
      assert.deepEqual(r.restart(), [], "raw PCM has no header");
    });

    it("after restart() skips to the next block of blockAlign bytes (stereo s16: 4)", () => {
      const r = createResumer("pcm_s16le", 4);
      pushAll(r, [pcm.subarray(0, 10)]); // 2.5 blocks
      r.restart();
      assert.deepEqual(r.push(pcm.subarray(10, 11)), [], "the skipped byte yields nothing");
      const out = concat(pushAll(r, [pcm.subarray(11, 16), pcm.subarray(16, 23)]));
      assert.deepEqual([...out], [...pcm.subarray(12, 23)], "resumes at byte 12, a block boundary");
    });

    it("restarting twice without new input does not skip more", () => {
      const r = createResumer("pcm_s16le", 4);
      pushAll(r, [pcm.subarray(0, 7)]);
      r.restart();
      r.restart();
      assert.deepEqual([...concat(r.push(pcm.subarray(7, 16)))], [...pcm.subarray(8, 16)]);
    });

    it("with blockAlign 2 (mono s16)", () => {
      const r = createResumer("pcm_s16le", 2);
      pushAll(r, [pcm.subarray(0, 5)]);
      r.restart();
      assert.deepEqual([...concat(r.push(pcm.subarray(5, 9)))], [...pcm.subarray(6, 9)]);
    });
  });

  describe("webm", function () {
    this.timeout(30000);
    const CLUSTER = [0x1f, 0x43, 0xb6, 0x75];
    let input: Uint8Array;
    let clusters: number[];

    /** Reads an EBML variable-length integer (RFC 8794 §4): its length and value (null: unknown size). */
    function vint(b: Uint8Array, at: number, keepMarker: boolean): { length: number; value: number | null } {
      const first = b[at]!;
      let length = 1;
      while (length <= 8 && !(first & (0x80 >> (length - 1)))) length++;
      let value = keepMarker ? first : first & (0xff >> length);
      let allOnes = value === (0xff >> length);
      for (let i = 1; i < length; i++) {
        value = value * 256 + b[at + i]!;
        if (b[at + i] !== 0xff) allOnes = false;
      }
      return { length, value: !keepMarker && allOnes ? null : value };
    }

    /** Offsets of the Clusters among the Segment's children, found by walking the element tree. */
    function clusterOffsets(b: Uint8Array): number[] {
      let at = 0;
      const ebmlId = vint(b, at, true);
      assert.equal(ebmlId.value, 0x1a45dfa3, "EBML header");
      const ebmlSize = vint(b, at + ebmlId.length, false);
      at += ebmlId.length + ebmlSize.length + ebmlSize.value!;
      const segId = vint(b, at, true);
      assert.equal(segId.value, 0x18538067, "Segment");
      at += segId.length + vint(b, at + segId.length, false).length;
      const found: number[] = [];
      while (at < b.length) {
        const id = vint(b, at, true);
        const size = vint(b, at + id.length, false);
        if (id.value === 0x1f43b675) found.push(at);
        if (size.value === null) {
          // a live Cluster of unknown size: the next Cluster ID marks its end
          const next = Buffer.from(b.buffer, b.byteOffset, b.byteLength).indexOf(Buffer.from(CLUSTER), at + 4);
          if (next < 0) break;
          at = next;
        } else at += id.length + size.length + size.value;
      }
      return found;
    }

    before(function () {
      const run = spawnSync(ffmpegInstaller.path, [
        "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
        "-c:a", "libopus", "-f", "webm", "-cluster_time_limit", "100", "pipe:1",
      ], { maxBuffer: 16 << 20 });
      if (run.status !== 0) {
        // no lavfi in this ffmpeg: use a recording instead
        const rec = spawnSync(ffmpegInstaller.path, [
          "-v", "error", "-t", "3", "-i", `${MEDIA}/apex-aleph.ogg`,
          "-c:a", "libopus", "-f", "webm", "-cluster_time_limit", "100", "pipe:1",
        ], { maxBuffer: 16 << 20 });
        assert.equal(rec.status, 0, rec.stderr.toString());
        input = new Uint8Array(rec.stdout);
      } else input = new Uint8Array(run.stdout);
      clusters = clusterOffsets(input);
    });

    it("the fixture has a header and many short clusters", () => {
      assert.ok(clusters.length >= 10, `${clusters.length} clusters`);
      assert.ok(clusters[0]! > 100);
    });

    it("passes the bytes through and keeps everything before the first Cluster as the header", () => {
      for (const sizes of [ODD, [1], [2], [3], [clusters[0]! - 2, 3], [4096]]) {
        const r = createResumer("webm");
        const out = pushAll(r, chunks(input, sizes));
        assert.deepEqual(Buffer.from(concat(out)), Buffer.from(input), `sizes ${sizes.join(",")}: pass-through`);
        const headers = r.restart();
        assert.equal(headers.length, 1);
        assert.equal(headers[0]!.length, clusters[0], `sizes ${sizes.join(",")}: header length`);
        assert.deepEqual(Buffer.from(headers[0]!), Buffer.from(input.subarray(0, clusters[0])));
      }
    });

    it("after restart() drops the rest of the interrupted cluster and resumes at the next Cluster ID", () => {
      for (const sizes of [ODD, [1], [3], [1000]]) {
        const r = createResumer("webm");
        const cut = clusters[4]! + 10; // inside cluster 4
        pushAll(r, chunks(input.subarray(0, cut), sizes));
        r.restart();
        const after = pushAll(r, chunks(input.subarray(cut), sizes)).filter((p) => p.length > 0);
        assert.deepEqual([...after[0]!.subarray(0, 4)], CLUSTER, `sizes ${sizes.join(",")}: first piece starts with the Cluster ID`);
        assert.deepEqual(Buffer.from(concat(after)), Buffer.from(input.subarray(clusters[5])), `sizes ${sizes.join(",")}: from cluster 5 on`);
      }
    });

    it("after restart() exactly on a Cluster boundary resumes there", () => {
      const r = createResumer("webm");
      pushAll(r, chunks(input.subarray(0, clusters[3]!), ODD));
      r.restart();
      const after = pushAll(r, [input.subarray(clusters[3]!)]);
      assert.deepEqual(Buffer.from(concat(after)), Buffer.from(input.subarray(clusters[3])));
    });

    it("flush() holds nothing back: the rest of an interrupted cluster stays skipped", () => {
      const r = createResumer("webm");
      pushAll(r, chunks(input.subarray(0, clusters[4]! + 10), ODD));
      r.restart();
      assert.deepEqual(r.push(input.subarray(clusters[4]! + 10, clusters[4]! + 50)), []);
      assert.deepEqual(r.flush(), []);
    });

    it("restart() before the first Cluster returns the bytes so far, and the stream goes on unchanged", () => {
      const r = createResumer("webm");
      r.push(input.subarray(0, 100));
      assert.deepEqual(Buffer.from(concat(r.restart())), Buffer.from(input.subarray(0, 100)));
      assert.deepEqual(Buffer.from(concat(pushAll(r, [input.subarray(100)]))), Buffer.from(input.subarray(100)));
    });
  });

  describe("mp3", () => {
    it("passes every chunk through unchanged and has no headers to replay", () => {
      const mp3 = head(`${MEDIA}/machine-wars.mp3`, 10_000);
      const r = createResumer("mp3");
      const parts = chunks(mp3, ODD);
      const out = pushAll(r, parts.slice(0, 5));
      assert.deepEqual(r.restart(), []);
      out.push(...pushAll(r, parts.slice(5)));
      assert.equal(out.length, parts.length);
      out.forEach((piece, i) => assert.equal(piece, parts[i], `chunk ${i} is handed on as is`));
      assert.deepEqual(Buffer.from(concat(out)), Buffer.from(mp3));
      assert.deepEqual(r.flush(), [], "nothing held back");
    });
  });
});
