/**
 * PcmReplay and coveredOffset: what a restarted ffmpeg is fed again. The bytes are numbered so
 * every assertion checks exactly which input bytes come back.
 */
import assert from "node:assert/strict";
import { PcmReplay, coveredOffset } from "../../media/ingest/pcm-replay";

/** `n` bytes numbered from `from` (mod 256): byte i of the stream is i & 0xff. */
const bytes = (from: number, n: number) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
const joined = (pieces: Uint8Array[]) => [...Buffer.concat(pieces)];

describe("coveredOffset", () => {
  it("maps published Opus samples (48 kHz) less the pre-skip to input sample frames, rounded down", () => {
    // 10 frames of 960 less 312: 9288 samples at 48 kHz = 8533.65 at 44.1 kHz -> 8533 mono s16 frames
    assert.equal(coveredOffset(0, 9600, 312, 44_100, 2), 8533 * 2);
    // 8 kHz stereo s16: 9288 / 6 = 1548 frames of 4 bytes, after a run that started at byte 1000
    assert.equal(coveredOffset(1000, 9600, 312, 8000, 4), 1000 + 1548 * 4);
    // 48 kHz: one to one
    assert.equal(coveredOffset(0, 960, 312, 48_000, 4), 648 * 4);
  });

  it("covers nothing while only the encoder delay is out", () => {
    assert.equal(coveredOffset(500, 0, 312, 48_000, 2), 500);
    assert.equal(coveredOffset(500, 300, 312, 48_000, 2), 500);
  });
});

describe("PcmReplay", () => {
  it("hands back, from an offset, exactly the bytes received since", () => {
    const r = new PcmReplay(2, 1 << 20);
    for (const [at, n] of [[0, 7], [7, 100], [107, 1], [108, 893]] as const) assert.deepEqual([...r.append(bytes(at, n))], [...bytes(at, n)]);
    assert.equal(r.received, 1001);
    const { offset, pieces } = r.from(600);
    assert.equal(offset, 600);
    assert.deepEqual(joined(pieces), [...bytes(600, 401)]);
  });

  it("lets go of released bytes: a later replay starts no earlier than the release", () => {
    const r = new PcmReplay(4, 1 << 20);
    r.append(bytes(0, 400));
    r.release(200);
    assert.equal(r.heldLength, 200);
    const { offset, pieces } = r.from(40);
    assert.equal(offset, 200);
    assert.deepEqual(joined(pieces), [...bytes(200, 200)]);
  });

  it("resumes on the next sample-frame boundary (stereo s16: 4 bytes)", () => {
    const r = new PcmReplay(4, 1 << 20);
    r.append(bytes(0, 100));
    const { offset, pieces } = r.from(41);
    assert.equal(offset, 44);
    assert.deepEqual(joined(pieces), [...bytes(44, 56)]);
  });

  it("a resume point beyond the bytes received skips the incoming bytes up to it, then passes all", () => {
    const r = new PcmReplay(4, 1 << 20);
    r.append(bytes(0, 10));
    const { offset, pieces } = r.from(13); // boundary 16: 6 bytes not here yet
    assert.equal(offset, 16);
    assert.deepEqual(pieces, []);
    assert.deepEqual([...r.append(bytes(10, 3))], [], "bytes 10-12: before the resume point");
    assert.deepEqual([...r.append(bytes(13, 7))], [...bytes(16, 4)], "bytes 13-19: from 16 on");
    assert.deepEqual([...r.append(bytes(20, 5))], [...bytes(20, 5)]);
    assert.deepEqual(joined(r.from(0).pieces), [...bytes(16, 9)], "held from the resume point");
  });

  it("holds at most its capacity: the oldest bytes go and are counted", () => {
    const r = new PcmReplay(2, 64);
    r.append(bytes(0, 50));
    r.append(bytes(50, 50));
    assert.equal(r.heldLength, 64);
    assert.equal(r.overflowBytes, 36);
    const { offset, pieces } = r.from(0);
    assert.equal(offset, 36);
    assert.deepEqual(joined(pieces), [...bytes(36, 64)]);
  });

  it("refuses a block alignment under 1 byte", () => {
    assert.throws(() => new PcmReplay(0, 10), /blockAlign must be at least 1/);
  });
});
