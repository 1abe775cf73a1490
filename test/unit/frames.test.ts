/**
 * Framing of self-delimiting audio frames (media/frames/framer.ts): MPEG audio
 * (media/mp3/mp3-frames.ts) and ADTS AAC (media/aac/adts-frames.ts). Frame lengths and durations
 * from headers, and a framer that, joined mid-stream and fed odd chunk sizes, emits only whole
 * frames, back to back, the source's bytes unchanged (frames made by ffmpeg: libmp3lame, its native
 * AAC encoder).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import ffmpegInstaller from "@ffmpeg-installer/ffmpeg";
import { ADTS, AdtsFramer, adtsFrameLength, adtsFrameMs } from "../../media/aac/adts-frames";
import { framesMs, type Framer } from "../../media/frames/framer";
import { MpegFramer, mpegFrameLength } from "../../media/mp3/mp3-frames";

/** 3 s of a 440 Hz sine encoded by ffmpeg with `args` (codec and muxer included). */
function encoded(args: string[]): Uint8Array {
  const r = spawnSync(ffmpegInstaller.path, ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=f=440:d=3", ...args, "-"], { maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return new Uint8Array(r.stdout);
}

/**
 * Feeds `src` from byte `from` (mid-frame) to `framer` in odd chunk sizes and checks what came out:
 * whole frames back to back, a slice of the source. Returns the output and its frame count.
 */
function cutMidStream(src: Uint8Array, from: number, framer: Framer): { out: Buffer; frames: number } {
  const parts: Uint8Array[] = [];
  const sizes = [1, 7, 333, 1500, 64, 4096];
  for (let at = from, i = 0; at < src.length; i++) {
    const n = sizes[i % sizes.length]!;
    parts.push(framer.push(src.subarray(at, at + n)));
    at += n;
  }
  const out = Buffer.concat(parts);
  assert.ok(out.length > src.length / 2);
  let frames = 0;
  for (let i = 0; i < out.length; frames++) {
    const len = framer.format.length(out, i);
    assert.ok(len > 0, `a frame header at ${i}`);
    i += len;
  }
  const start = Buffer.from(src).indexOf(out.subarray(0, 64));
  assert.ok(start >= from, "output is a slice of the source");
  assert.deepEqual(out, Buffer.from(src.subarray(start, start + out.length)));
  return { out, frames };
}

describe("mp3 frames", () => {
  it("frame lengths: MPEG-1 Layer III 128 kbit/s 44.1 kHz is 417 or 418 bytes; MPEG-2 at 24 kHz 64 kbit/s is 192", () => {
    assert.equal(mpegFrameLength(new Uint8Array([0xff, 0xfb, 0x90, 0x00]), 0), 417);
    assert.equal(mpegFrameLength(new Uint8Array([0xff, 0xfb, 0x92, 0x00]), 0), 418);
    assert.equal(mpegFrameLength(new Uint8Array([0xff, 0xf3, 0x84, 0x00]), 0), 192);
    assert.equal(mpegFrameLength(new Uint8Array([0xff, 0xfb, 0xf0, 0x00]), 0), 0, "bad bit rate index");
    assert.equal(mpegFrameLength(new Uint8Array([0x49, 0x44, 0x33, 0x04]), 0), 0, "ID3");
  });

  for (const [what, args] of [["CBR 128k 44.1 kHz", ["-b:a", "128k"]], ["VBR 24 kHz", ["-q:a", "4", "-ar", "24000"]]] as const) {
    it(`${what}: joined mid-stream, whole frames back to back, bytes unchanged`, () => {
      const { frames } = cutMidStream(encoded([...args, "-c:a", "libmp3lame", "-f", "mp3"]), 1234, new MpegFramer());
      assert.ok(frames > 50, `${frames} frames`);
    });
  }
});

describe("adts frames", () => {
  it("header: length from the 13-bit field (header included), 1024 samples per raw data block; not a header: 0", () => {
    // AAC-LC, 44.1 kHz (index 4), stereo, no CRC, frame length 371, one raw data block
    const h = new Uint8Array([0xff, 0xf1, 0x50, 0x80, 0x2e, 0x7f, 0xfc]);
    assert.equal(adtsFrameLength(h, 0), 371);
    assert.equal(adtsFrameMs(h, 0).toFixed(3), ((1024 / 44_100) * 1000).toFixed(3));
    assert.equal(adtsFrameLength(new Uint8Array([0xff, 0xf7, 0x50, 0x80, 0x2e, 0x7f, 0xfc]), 0), 0, "layer not 00");
    assert.equal(adtsFrameLength(new Uint8Array([0xff, 0xf1, 0x7c, 0x80, 0x2e, 0x7f, 0xfc]), 0), 0, "reserved sampling index 15");
    assert.equal(adtsFrameLength(new Uint8Array([0xff, 0xf1, 0x50, 0x80, 0x00, 0x1f, 0xfc]), 0), 0, "shorter than its header");
    assert.equal(adtsFrameLength(new Uint8Array([0xff, 0xfb, 0x90, 0x00, 0, 0, 0]), 0), 0, "an MP3 header");
  });

  for (const [what, args] of [["44.1 kHz stereo 128k", ["-ac", "2", "-ar", "44100", "-b:a", "128k"]], ["22.05 kHz mono 48k", ["-ac", "1", "-ar", "22050", "-b:a", "48k"]]] as const) {
    it(`${what}: joined mid-stream, whole frames back to back, bytes unchanged, duration from the headers`, () => {
      const { out, frames } = cutMidStream(encoded([...args, "-c:a", "aac", "-f", "adts"]), 777, new AdtsFramer());
      const ms = framesMs(ADTS, out);
      assert.ok(ms > 2500 && ms <= 3100, `${ms} ms of audio in ${frames} frames`);
    });
  }
});
