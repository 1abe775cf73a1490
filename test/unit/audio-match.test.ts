import { strict as assert } from "node:assert";
import { bestAlignment, decodeFileWithFfmpeg, decodeOpusPackets, encodeOpusWithFfmpeg, PCM_RATE } from "../support/audio-match";

const APEX = "/work/shared/media/apex-aleph.ogg";
const AWAKENING = "/work/shared/media/awakening.ogg";

/** Deterministic white noise in [-0.5, 0.5) (mulberry32), so a failure can be replayed. */
function whiteNoise(samples: number, seed: number): Float32Array {
  const out = new Float32Array(samples);
  let a = seed >>> 0;
  for (let i = 0; i < samples; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 32 - 0.5;
  }
  return out;
}

/** Runs `fn`, returning its result and the CPU time it took in ms (user + system). */
function cpuTimed<T>(fn: () => T): { result: T; cpuMs: number } {
  const start = process.cpuUsage();
  const result = fn();
  const used = process.cpuUsage(start);
  return { result, cpuMs: (used.user + used.system) / 1000 };
}

describe("audio-match", function () {
  this.timeout(30000);
  let source: Float32Array; // apex-aleph seconds 0-20
  let excerpt: Float32Array; // apex-aleph seconds 10-14 through libopus, pre-skip dropped
  let excerptRaw: Float32Array; // the same, pre-skip kept
  let preSkip: number;

  before(async () => {
    source = await decodeFileWithFfmpeg(APEX, { seconds: 20 });
    const encoded = await encodeOpusWithFfmpeg(APEX, { startSeconds: 10, seconds: 4, channels: 2 });
    assert.ok(encoded.head, "OpusHead");
    preSkip = Buffer.from(encoded.head).readUInt16LE(10);
    excerpt = await decodeOpusPackets(encoded.packets, 2, { preSkip });
    excerptRaw = await decodeOpusPackets(encoded.packets, 2);
  });

  it("decodes 20 s of the source and 4 s of Opus to mono 48 kHz PCM", () => {
    assert.equal(source.length, 20 * PCM_RATE);
    assert.equal(excerptRaw.length, excerpt.length + preSkip);
    assert.ok(Math.abs(excerpt.length - 4 * PCM_RATE) <= 960, `${excerpt.length} samples`);
    const rms = Math.sqrt(excerpt.reduce((s, x) => s + x * x, 0) / excerpt.length);
    assert.ok(rms > 0.01, `excerpt is not silent (rms ${rms})`);
  });

  it("finds the Opus excerpt of seconds 10-14 at 10 s with correlation ≥ 0.9, in well under 5 s of CPU", () => {
    const { result, cpuMs } = cpuTimed(() => bestAlignment(excerpt, source));
    console.log(`      lag ${result.lagSamples} samples, correlation ${result.correlation.toFixed(4)}, ${cpuMs.toFixed(0)} ms CPU`);
    assert.ok(Math.abs(result.lagSamples - 10 * PCM_RATE) <= 0.02 * PCM_RATE, `lag ${result.lagSamples}`);
    assert.ok(result.correlation >= 0.9, `correlation ${result.correlation}`);
    assert.ok(cpuMs < 2500, `${cpuMs} ms CPU`);
  });

  it("sees the decoder delay when pre-skip is kept, and moves the lag with the source", () => {
    const raw = bestAlignment(excerptRaw, source);
    assert.ok(Math.abs(raw.lagSamples - (10 * PCM_RATE - preSkip)) <= 48, `lag ${raw.lagSamples}`);
    const later = bestAlignment(excerpt, source.subarray(2 * PCM_RATE));
    assert.ok(Math.abs(later.lagSamples - 8 * PCM_RATE) <= 0.02 * PCM_RATE, `lag ${later.lagSamples}`);
    assert.ok(later.correlation >= 0.9);
  });

  it("agrees at full rate (decimate 1) with the decimated search", () => {
    const fine = bestAlignment(excerpt, source, { decimate: 1 });
    const coarse = bestAlignment(excerpt, source);
    assert.equal(fine.lagSamples, coarse.lagSamples);
    assert.ok(Math.abs(fine.correlation - coarse.correlation) < 1e-6);
  });

  it("finds a partial overlap at the end of the source, and honours maxLagSamples", () => {
    const shortSource = source.subarray(0, 12.5 * PCM_RATE); // only 2.5 s of the 4 s excerpt overlap
    const partial = bestAlignment(excerpt, shortSource);
    assert.ok(Math.abs(partial.lagSamples - 10 * PCM_RATE) <= 0.02 * PCM_RATE, `lag ${partial.lagSamples}`);
    assert.ok(partial.overlapSamples <= 2.5 * PCM_RATE && partial.correlation >= 0.9);
    const capped = bestAlignment(excerpt, source, { maxLagSamples: 5 * PCM_RATE });
    assert.ok(capped.lagSamples <= 5 * PCM_RATE);
    assert.ok(capped.correlation < 0.5, `nothing matches before 5 s (${capped.correlation})`);
  });

  it("rejects white noise", () => {
    const result = bestAlignment(whiteNoise(4 * PCM_RATE, 42), source);
    assert.ok(result.correlation < 0.5, `correlation ${result.correlation}`);
  });

  it("rejects silence, and a silent source, with correlation 0", () => {
    assert.equal(bestAlignment(new Float32Array(4 * PCM_RATE), source).correlation, 0);
    assert.equal(bestAlignment(excerpt, new Float32Array(20 * PCM_RATE)).correlation, 0);
  });

  it("rejects an excerpt of a different recording", async () => {
    const other = await encodeOpusWithFfmpeg(AWAKENING, { startSeconds: 30, seconds: 4, channels: 2 });
    const received = await decodeOpusPackets(other.packets, 2);
    const result = bestAlignment(received, source);
    console.log(`      other recording: correlation ${result.correlation.toFixed(4)}`);
    assert.ok(result.correlation < 0.5, `correlation ${result.correlation}`);
  });
});
