import { strict as assert } from "node:assert";
import { opusPacketInfo } from "../../media/opus/packet";
import { WireError } from "../../media/wire";
import { encodeOpusWithFfmpeg } from "../support/audio-match";

/** TOC byte (RFC 6716 §3.1): config in bits 7-3, stereo in bit 2, frame-count code in bits 1-0. */
const toc = (config: number, stereo: boolean, code: 0 | 1 | 2 | 3) => (config << 3) | (stereo ? 0x04 : 0) | code;

/** Frame size of each configuration in ms, written out from RFC 6716 Table 2. */
function tableFrameMs(config: number): number {
  if (config < 12) return [10, 20, 40, 60][config % 4]!; // SILK-only NB, MB, WB
  if (config < 16) return [10, 20][config % 2]!; // Hybrid SWB, FB
  return [2.5, 5, 10, 20][config % 4]!; // CELT-only NB, WB, SWB, FB
}

function throwsBadField(packet: number[], what: string): void {
  assert.throws(
    () => opusPacketInfo(new Uint8Array(packet)),
    (err: unknown) => err instanceof WireError && err.reason === "BAD_FIELD",
    what,
  );
}

describe("opusPacketInfo", () => {
  it("reads config 31 (CELT FB 20 ms), code 0, as one frame of 960 samples, mono", () => {
    assert.deepEqual(opusPacketInfo(new Uint8Array([toc(31, false, 0), 0x00, 0x11])), { duration: 960, frameCount: 1, channels: 1 });
  });

  it("reads the stereo bit", () => {
    assert.equal(opusPacketInfo(new Uint8Array([toc(31, true, 0)])).channels, 2);
    assert.equal(opusPacketInfo(new Uint8Array([toc(1, true, 0)])).channels, 2);
    assert.equal(opusPacketInfo(new Uint8Array([toc(1, false, 0)])).channels, 1);
  });

  it("gives every one of the 32 configurations its RFC 6716 Table 2 frame size", () => {
    for (let config = 0; config < 32; config++) {
      const info = opusPacketInfo(new Uint8Array([toc(config, false, 0)]));
      assert.equal(info.duration, tableFrameMs(config) * 48, `config ${config}`);
      assert.equal(info.frameCount, 1);
    }
  });

  it("counts two frames for code 1 (equal sizes) and code 2 (different sizes)", () => {
    assert.deepEqual(opusPacketInfo(new Uint8Array([toc(31, false, 1), 1, 2])), { duration: 1920, frameCount: 2, channels: 1 });
    assert.deepEqual(opusPacketInfo(new Uint8Array([toc(31, true, 2), 1, 2, 3])), { duration: 1920, frameCount: 2, channels: 2 });
    assert.equal(opusPacketInfo(new Uint8Array([toc(16, false, 1)])).duration, 240, "2 × 2.5 ms");
  });

  it("reads the frame count of code 3 from bits 5-0 of the second byte, ignoring the VBR and padding bits", () => {
    assert.deepEqual(opusPacketInfo(new Uint8Array([toc(31, false, 3), 3])), { duration: 2880, frameCount: 3, channels: 1 });
    assert.equal(opusPacketInfo(new Uint8Array([toc(31, false, 3), 0x80 | 3])).frameCount, 3, "VBR bit");
    assert.equal(opusPacketInfo(new Uint8Array([toc(31, false, 3), 0x40 | 3, 0])).frameCount, 3, "padding bit");
    assert.equal(opusPacketInfo(new Uint8Array([toc(31, false, 3), 6])).duration, 5760, "6 × 20 ms = 120 ms");
    assert.deepEqual(opusPacketInfo(new Uint8Array([toc(16, false, 3), 48])), { duration: 5760, frameCount: 48, channels: 1 });
  });

  it("reads SILK 60 ms frames (configs 3, 7, 11), alone and two to a packet", () => {
    for (const config of [3, 7, 11]) {
      assert.equal(opusPacketInfo(new Uint8Array([toc(config, false, 0)])).duration, 2880, `config ${config}`);
      assert.equal(opusPacketInfo(new Uint8Array([toc(config, false, 1)])).duration, 5760, `config ${config} × 2`);
      assert.equal(opusPacketInfo(new Uint8Array([toc(config, true, 3), 2])).duration, 5760, `config ${config} code 3 × 2`);
    }
  });

  it("refuses an empty packet, code 3 without its count byte, code 3 with zero frames", () => {
    throwsBadField([], "empty");
    throwsBadField([toc(31, false, 3)], "code 3 without count byte");
    throwsBadField([toc(31, false, 3), 0x00], "code 3 with zero frames");
    throwsBadField([toc(31, false, 3), 0xc0], "code 3 with zero frames and both flag bits");
  });

  it("refuses packets longer than 120 ms (RFC 6716 §3.2.5)", () => {
    throwsBadField([toc(31, false, 3), 7], "7 × 20 ms");
    throwsBadField([toc(3, false, 3), 3], "3 × 60 ms");
    throwsBadField([toc(16, false, 3), 49], "49 × 2.5 ms");
    throwsBadField([toc(11, true, 3), 63], "63 × 60 ms");
  });
});

describe("opusPacketInfo on packets from libopus (ffmpeg)", function () {
  this.timeout(30000);

  it("reads every packet of front-center.wav (mono, 20 ms frames) as 960 samples, 1 channel", async () => {
    const { packets, head } = await encodeOpusWithFfmpeg("/work/shared/media/front-center.wav", { seconds: 2, channels: 1 });
    assert.ok(head, "OpusHead");
    assert.equal(head[9], 1, "OpusHead channel count");
    // 68545 samples (1.43 s) need at least 72 packets of 960 samples
    assert.ok(packets.length >= 72, `${packets.length} packets`);
    for (const [i, packet] of packets.entries()) {
      const info = opusPacketInfo(packet);
      assert.equal(info.duration, 960, `packet ${i}`);
      assert.equal(info.channels, 1, `packet ${i}`);
      assert.equal(info.frameCount, 1, `packet ${i}`);
    }
  });

  it("reads stereo packets of the same file encoded as 2 channels as stereo", async () => {
    const { packets } = await encodeOpusWithFfmpeg("/work/shared/media/front-center.wav", { seconds: 0.5, channels: 2 });
    assert.ok(packets.length > 10);
    for (const packet of packets) assert.deepEqual(opusPacketInfo(packet), { duration: 960, frameCount: 1, channels: 2 });
  });
});
