/**
 * actors/encoder/rung-encoder.ts with real ffmpeg on a real recording: rendition 0 (the recording
 * encoded to Opus 128k, stamped as the stream actor stamps it, starting mid-stream) goes in on a
 * local bus; the Opus 32k rung's frames come out on the same 20 ms grid, one for each input frame,
 * and decode to the same audio at the same media time (correlation at lag 0, not merely at some
 * lag); the AAC rung's frames carry the same audio at their media times too (decoded by ffmpeg).
 */
import assert from "node:assert/strict";
import path from "node:path";
import pino from "pino";
import { RungEncoder } from "../../actors/encoder/rung-encoder";
import { decodeAudioData, encodeAudioData, type AudioFrame } from "../../media/wire";
import { subjects } from "../../transports";
import { LocalBus } from "../../transports/bus/local-bus";
import { resolveFfmpegPath } from "../../transports/ffmpeg/ffmpeg-path";
import { bestAlignment, decodeOpusPackets, encodeOpusWithFfmpeg } from "../support/audio-match";
import { MEDIA, sleep, waitFor } from "../support/node-process";
import { spawn } from "node:child_process";

const log = pino({ level: "silent" });
/** Media time of the first frame: a stream already 100 s in. */
const M0 = 100 * 48_000;

/** Decodes ADTS bytes with ffmpeg to mono 48 kHz PCM. */
function decodeAdts(adts: Buffer): Promise<Float32Array> {
  return new Promise((resolve) => {
    const p = spawn(resolveFfmpegPath(), ["-v", "error", "-f", "aac", "-i", "pipe:0", "-ac", "1", "-ar", "48000", "-f", "f32le", "pipe:1"]);
    const out: Buffer[] = [];
    p.stdout.on("data", (d: Buffer) => out.push(d));
    p.on("close", () => {
      const b = Buffer.concat(out);
      resolve(new Float32Array(b.buffer, b.byteOffset, Math.floor(b.length / 4)));
    });
    p.stdin.end(adts);
  });
}

/** An ADTS header (ISO/IEC 14496-3 §1.A.2.2) for a raw AAC-LC access unit, 48 kHz stereo. */
function adts(au: Uint8Array): Buffer {
  const len = au.length + 7;
  const h = Buffer.from([0xff, 0xf1, (1 << 6) | (3 << 2) | 0, (2 << 6) | ((len >> 11) & 3), (len >> 3) & 0xff, ((len & 7) << 5) | 0x1f, 0xfc]);
  return Buffer.concat([h, au]);
}

describe("rung encoder: a ladder rung made from rendition 0, on its media clock", function () {
  this.timeout(60_000);

  it("Opus 32k and AAC 128k rungs: frames on rendition 0's media time, the same audio at lag 0", async () => {
    const source = await encodeOpusWithFfmpeg(path.join(MEDIA, "machine-wars.mp3"), { startSeconds: 30, seconds: 6, channels: 2 });
    const bus = new LocalBus(log);
    const out = new Map<number, AudioFrame[]>([[1, []], [2, []]]);
    for (const r of [1, 2]) bus.subscribe(subjects.audio("s", r), (m) => out.get(r)!.push({ ...decodeAudioData(m), packet: Uint8Array.from(decodeAudioData(m).packet) }));
    const rungs = [
      new RungEncoder({ streamId: "s", rung: { id: 1, codec: "opus", bitrate: 32_000, channels: 2 }, ffmpegPath: resolveFfmpegPath(), bus, log }),
      new RungEncoder({ streamId: "s", rung: { id: 2, codec: "aac", bitrate: 128_000, channels: 2 }, ffmpegPath: resolveFfmpegPath(), bus, log }),
    ];
    for (const r of rungs) r.start();
    await sleep(300); // ffmpeg started: frames sent before are dropped, as for a rung started mid-stream
    const packets = source.packets;
    for (let i = 0; i < packets.length; i++) {
      bus.publish(subjects.audio("s", 0), encodeAudioData({ rendition: 0, flags: 0, seq: i, mediaTime: M0 + i * 960, duration: 960, packet: packets[i]! }));
      if (i % 10 === 9) await sleep(5);
    }
    await waitFor(() => out.get(1)!.length >= packets.length - 10 && out.get(2)!.length >= (packets.length * 960) / 1024 - 20, 20_000, "the rungs' frames");
    await Promise.all(rungs.map((r) => r.stop()));

    const opusOut = out.get(1)!;
    assert.equal(opusOut[0]!.mediaTime, M0, "the first rung frame carries the first input frame's media time");
    assert.ok(opusOut[0]!.flags & 1, "and starts with a discontinuity");
    opusOut.forEach((f, i) => {
      assert.equal(f.mediaTime, M0 + i * 960, "on rendition 0's grid, frame for frame");
      assert.equal(f.seq, i);
      assert.equal(f.rendition, 1);
    });
    const bytes = opusOut.reduce((n, f) => n + f.packet.length, 0);
    const kbps = (bytes * 8) / (opusOut.length * 0.02) / 1000;
    assert.ok(kbps > 20 && kbps < 45, `about 32 kbit/s (${kbps.toFixed(1)})`);

    // the same audio at the same media time: decode both from the first rung frame's media time, compare at lag 0
    const reference = await decodeOpusPackets(packets.slice(0, opusOut.length), 2);
    const rung = await decodeOpusPackets(opusOut.map((f) => f.packet), 2);
    const at0 = bestAlignment(rung.subarray(48_00, 48_00 + 4 * 48_000), reference.subarray(48_00), { maxLagSamples: 0 });
    const best = bestAlignment(rung.subarray(48_00, 48_00 + 4 * 48_000), reference);
    console.log(`      Opus 32k rung: ${opusOut.length} frames, ${kbps.toFixed(1)} kbit/s, r at lag 0 ${at0.correlation.toFixed(3)} (best lag ${best.lagSamples - 4800} samples)`);
    assert.ok(at0.correlation >= 0.9, `lag 0: r = ${at0.correlation}`);

    const aacOut = out.get(2)!;
    aacOut.slice(1).forEach((f, i) => assert.equal(f.mediaTime - aacOut[0]!.mediaTime, (i + 1) * 1024, "AAC frames of 1024 samples, back to back"));
    const aacStart = aacOut[0]!.mediaTime - M0;
    const aac = await decodeAdts(Buffer.concat(aacOut.map((f) => adts(f.packet))));
    // ffmpeg's AAC decoder outputs every frame (no priming dropped): sample j is media time of frame 0 + j
    const fromRef = aacStart;
    const aacMatch = bestAlignment(aac.subarray(9600, 9600 + 3 * 48_000), reference.subarray(fromRef + 9600 - 2400), { maxLagSamples: 4800 });
    console.log(`      AAC 128k rung: ${aacOut.length} frames from media time +${aacStart}, best lag ${aacMatch.lagSamples - 2400} samples, r ${aacMatch.correlation.toFixed(3)}`);
    assert.ok(aacMatch.correlation >= 0.9, `AAC: r = ${aacMatch.correlation}`);
    assert.ok(Math.abs(aacMatch.lagSamples - 2400) <= 48, `AAC on the media clock within 1 ms (lag ${aacMatch.lagSamples - 2400})`);
  });
});
