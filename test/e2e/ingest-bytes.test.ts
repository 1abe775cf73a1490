/**
 * Ingest loses no byte: a node started in process, a broadcaster sending WAV or raw pcm_s16le in
 * real-time-paced 20 ms chunks over a real WebSocket, a listener. What the listener receives must
 * cover the whole input (its media time, less the encoder delay of each ffmpeg run, within one
 * 20 ms frame of the input's duration) and line up with it (the decoded audio correlates with the
 * input at the lag the encoder delay predicts), from the first byte and across an ffmpeg crash
 * (SIGKILL mid-stream), up to the last byte before stream.stop.
 */
import assert from "node:assert/strict";
import path from "node:path";
import pino from "pino";
import { startNode, type RunningNode } from "../../actors/node";
import { loadConfig } from "../../config";
import { TEST_JWT_SECRET } from "../support/auth";
import { parseWavHeader } from "../../media/ingest/wav-header";
import { bestAlignment, decodeFileWithFfmpeg, decodeOpusPackets } from "../support/audio-match";
import { MEDIA, waitFor } from "../support/node-process";
import { FRAME, KeepingListener, OPUS_RATE, broadcast, ffmpegOutput, fixWavSizes, removeTemp, writeTemp } from "./ingest-harness";

/** libopus's encoder delay (OpusHead pre-skip), samples at 48 kHz: each ffmpeg run starts with it. */
const PRE_SKIP = 312;
const SECONDS = 5;

interface Fixture {
  wavFile: string;
  wav: Buffer;
  dataOffset: number;
  rate: number;
  channels: number;
  /** The input's duration, samples at 48 kHz. */
  samples48k: number;
  /** The input decoded to mono 48 kHz by ffmpeg, for alignment. */
  reference: Float32Array;
}

/** 5 s of music (apex-aleph.ogg from 20 s) as s16 WAV at `rate` Hz with `channels` channels. */
async function makeFixture(rate: number, channels: number): Promise<Fixture> {
  const raw = await ffmpegOutput(path.join(MEDIA, "apex-aleph.ogg"), ["-ss", "20", "-t", String(SECONDS)], [
    "-ac", String(channels), "-ar", String(rate), "-c:a", "pcm_s16le", "-map_metadata", "-1", "-f", "wav",
  ]);
  const info = parseWavHeader(raw);
  assert.ok(info, "ffmpeg wrote a WAV header");
  const wav = fixWavSizes(raw, info.dataOffset);
  const wavFile = writeTemp(`music-${rate}-${channels}.wav`, wav);
  const frames = (wav.length - info.dataOffset) / (2 * channels);
  const reference = await decodeFileWithFfmpeg(wavFile, { seconds: SECONDS + 1 });
  return { wavFile, wav, dataOffset: info.dataOffset, rate, channels, samples48k: (frames * OPUS_RATE) / rate, reference };
}

describe("ingest: WAV and pcm_s16le lose no byte at start, restart or stop", function () {
  this.timeout(60_000);
  let node: RunningNode;
  let url: string;
  const fixtures = new Map<string, Fixture>();

  before(async () => {
    node = await startNode(loadConfig({ JWT_SECRET: TEST_JWT_SECRET }, { port: 0, host: "127.0.0.1", logLevel: "silent" }), pino({ level: "silent" }));
    url = `ws://127.0.0.1:${node.port}`;
    for (const [rate, channels] of [[44_100, 1], [8_000, 1], [48_000, 2]] as const) fixtures.set(`${rate}/${channels}`, await makeFixture(rate, channels));
  });
  after(async () => {
    await node?.stop();
    removeTemp();
  });

  /** Kills the stream's ffmpeg with SIGKILL, as a crash would. */
  async function killFfmpeg(streamId: string): Promise<void> {
    const encoders = (await node.broker.call("encoder.list")) as Array<{ streamId: string; pid: number | null }>;
    const pid = encoders.find((e) => e.streamId === streamId)?.pid;
    assert.ok(pid, `the encoder of ${streamId} runs an ffmpeg`);
    process.kill(pid, "SIGKILL");
  }

  const cases = [
    { format: "wav", rate: 44_100, channels: 1, crashAtMs: null },
    { format: "wav", rate: 8_000, channels: 1, crashAtMs: null },
    { format: "pcm_s16le", rate: 44_100, channels: 1, crashAtMs: null },
    { format: "pcm_s16le", rate: 8_000, channels: 1, crashAtMs: null },
    { format: "wav", rate: 44_100, channels: 1, crashAtMs: 2000 },
    { format: "wav", rate: 8_000, channels: 1, crashAtMs: 2000 },
    { format: "pcm_s16le", rate: 48_000, channels: 2, crashAtMs: 2500 },
    // killed with its last chunk: stream.stop arrives while the encoder waits to restart ffmpeg
    { format: "wav", rate: 44_100, channels: 1, crashAtMs: SECONDS * 1000 },
  ] as const;

  for (const c of cases) {
    const crash = c.crashAtMs === SECONDS * 1000 ? ", ffmpeg killed just before stream.stop" : c.crashAtMs ? `, ffmpeg killed ${c.crashAtMs / 1000} s in` : "";
    const what = `${c.format} ${c.rate / 1000} kHz ${c.channels === 1 ? "mono" : "stereo"}${crash}`;
    it(`${what}: the listener gets the whole input, lined up with it`, async () => {
      const fx = fixtures.get(`${c.rate}/${c.channels}`)!;
      const streamId = `ingest-${c.format}-${c.rate}-${c.channels}-${c.crashAtMs ?? 0}`;
      const listener = new KeepingListener(url, streamId);
      await listener.listener.opened;
      const raw = c.format === "pcm_s16le";
      const firstByteAt = await broadcast(url, streamId, {
        start: raw ? { format: "pcm_s16le", sampleRate: c.rate, channels: c.channels } : { format: "wav" },
        bytes: raw ? fx.wav.subarray(fx.dataOffset) : fx.wav,
        bytesPerSecond: 2 * c.rate * c.channels,
        ...(c.crashAtMs ? { at: { atMs: c.crashAtMs, run: () => killFfmpeg(streamId) } } : {}),
      });
      await listener.untilEnded(10_000);
      listener.listener.close();

      // a live stream starts at once: ffmpeg must not wait for 64 KiB of WAV (8 s at 8 kHz mono) before its first frame
      const startMs = (listener.firstFrameAt ?? Infinity) - firstByteAt;
      assert.ok(startMs < 1500, `first frame ${startMs.toFixed(0)} ms after the first byte`);
      const runs = c.crashAtMs ? 2 : 1;
      const expected = fx.samples48k + runs * PRE_SKIP;
      const report = `received ${listener.samples} samples (${(listener.samples / 48).toFixed(1)} ms) for ${fx.samples48k} of input + ${runs} × ${PRE_SKIP} encoder delay`;
      assert.ok(Math.abs(listener.samples - expected) <= FRAME, `whole input within one frame: ${report}`);
      assert.equal(listener.discontinuities, runs, "the first frame and each restart are flagged as discontinuities");

      // the decoded start lines up with the input: received sample PRE_SKIP + i is input sample i
      const received = await decodeOpusPackets(listener.packets, 2);
      const skip = OPUS_RATE / 2;
      const head = bestAlignment(received.subarray(skip, skip + OPUS_RATE), fx.reference, { maxLagSamples: 3 * OPUS_RATE });
      assert.ok(head.correlation >= 0.9, `start correlates: ${head.correlation.toFixed(3)}`);
      assert.ok(Math.abs(head.lagSamples - (skip - PRE_SKIP)) <= 48, `start lines up: received ${skip} is input ${head.lagSamples}, expected ${skip - PRE_SKIP} ± 48 (${report})`);
      // and so does the end, after the restart if any: nothing lost or repeated in between
      const tailAt = received.length - OPUS_RATE - FRAME;
      const tail = bestAlignment(received.subarray(tailAt, tailAt + OPUS_RATE / 2), fx.reference, { maxLagSamples: fx.reference.length });
      // (a crash with the last chunk restarts after this stretch: one encoder delay before it)
      const tailExpected = tailAt - (c.crashAtMs && c.crashAtMs < SECONDS * 1000 ? 2 : 1) * PRE_SKIP;
      assert.ok(tail.correlation >= 0.9, `end correlates: ${tail.correlation.toFixed(3)}`);
      assert.ok(Math.abs(tail.lagSamples - tailExpected) <= 48, `end lines up: received ${tailAt} is input ${tail.lagSamples}, expected ${tailExpected} ± 48 (${report})`);
      console.log(`      ${what}: first frame after ${startMs.toFixed(0)} ms; ${report}; start lag ${head.lagSamples} (r ${head.correlation.toFixed(3)}), end lag ${tail.lagSamples} (r ${tail.correlation.toFixed(3)})`);
      await waitFor(async () => ((await node.broker.call("encoder.list")) as unknown[]).length === 0, 5000, "the encoder to close");
    });
  }
});
