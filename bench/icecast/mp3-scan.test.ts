/**
 * The bench's MP3 frame scanner: the same keys whatever the cuts, starting mid-frame (an Icecast
 * burst) or after garbage. `npx mocha --no-config -r tsx/cjs --extension ts bench/icecast/mp3-scan.test.ts`
 */
import { strict as assert } from "node:assert";
import { frameLength, Mp3Scanner } from "./mp3-scan";

/** n frames of MPEG-1 Layer III 128 kbit/s 44.1 kHz, padding on every third (417/418 bytes), with varied data. */
function frames(n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const pad = i % 3 === 0 ? 1 : 0;
    const f = Buffer.alloc(417 + pad);
    for (let j = 4; j < f.length; j++) f[j] = (i * 31 + j * 7) & 0x7f; // no 0xFF inside
    f.set([0xff, 0xfb, 0x90 | (pad << 1), 0x64]);
    out.push(f);
  }
  return out;
}

function keys(stream: Buffer, cuts: number[]): number[] {
  const got: number[] = [];
  const s = new Mp3Scanner((key) => got.push(key));
  let at = 0;
  for (const c of [...cuts, stream.length]) {
    s.push(stream, at, c);
    at = c;
  }
  return got;
}

describe("bench/icecast mp3-scan", () => {
  it("frame lengths of MPEG-1 and MPEG-2 Layer III headers", () => {
    assert.equal(frameLength(0xff, 0xfb, 0x90), 417);
    assert.equal(frameLength(0xff, 0xfb, 0x92), 418);
    assert.equal(frameLength(0xff, 0xf3, 0x80), 208, "MPEG-2, 64 kbit/s at 22.05 kHz: 72000 × 64 / 22050");
    assert.equal(frameLength(0xff, 0xfd, 0x90), 0, "Layer II");
    assert.equal(frameLength(0xfe, 0xfb, 0x90), 0);
  });

  it("the same keys whatever the cuts, and resyncs after garbage or a mid-frame start", () => {
    const fs = frames(50);
    const stream = Buffer.concat(fs);
    const whole = keys(stream, []);
    assert.equal(whole.length, 50);
    assert.equal(new Set(whole).size, 50, "keys are distinct");
    for (let trial = 0; trial < 50; trial++) {
      const cuts = Array.from({ length: 30 }, () => Math.floor(Math.random() * stream.length)).sort((a, b) => a - b);
      assert.deepEqual(keys(stream, cuts), whole);
    }
    const midStart = stream.subarray(200);
    assert.deepEqual(keys(midStart, [100, 700]), whole.slice(1), "from the next frame on");
    const garbage = Buffer.concat([Buffer.from([0xff, 0x00, 0xff, 0xff, 0x12]), stream]);
    assert.deepEqual(keys(garbage, [3]), whole);
  });
});
