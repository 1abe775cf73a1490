/**
 * Ingest loses nothing at the end of a container stream: a short MP3 (under 32 KiB, less than
 * ffmpeg used to probe) and an Ogg Vorbis stream (pages of about 1 s) are broadcast in real time
 * over a real WebSocket and ended with stream.stop; the listener must receive their whole
 * duration, the last page included, lined up with the input. Once with the in-process media bus,
 * once with NATS (where the ingest bytes and the stop reach the encoder by different paths).
 */
import assert from "node:assert/strict";
import path from "node:path";
import pino from "pino";
import { startNode, type RunningNode } from "../../actors/node";
import { loadConfig } from "../../config";
import { TEST_JWT_SECRET } from "../support/auth";
import { bestAlignment, decodeFileWithFfmpeg, decodeOpusPackets } from "../support/audio-match";
import { MEDIA } from "../support/node-process";
import { ensureNats, NATS_URL } from "../support/services";
import { FRAME, KeepingListener, OPUS_RATE, broadcast, ffmpegOutput, removeTemp, writeTemp } from "./ingest-harness";

/** libopus's encoder delay (OpusHead pre-skip), samples at 48 kHz. */
const PRE_SKIP = 312;

for (const bus of ["in-process", "NATS"] as const) describe(`ingest: a container stream ended by stream.stop arrives whole (${bus} media bus)`, function () {
  this.timeout(60_000);
  let node: RunningNode;
  let url: string;

  before(async () => {
    if (bus === "NATS") await ensureNats();
    const namespace = `ingest${process.pid}`;
    const flags = { port: 0, host: "127.0.0.1", logLevel: "silent", ...(bus === "NATS" ? { natsUrl: NATS_URL, namespace } : {}) };
    node = await startNode(loadConfig({ JWT_SECRET: TEST_JWT_SECRET }, flags), pino({ level: "silent" }));
    url = `ws://127.0.0.1:${node.port}`;
  });
  after(async () => {
    await node?.stop();
    removeTemp();
  });

  const cases = [
    {
      what: "an MP3 of 1.5 s (15 KB, under ffmpeg's old 32 KiB probe)",
      format: "mp3",
      source: "machine-wars.mp3",
      output: ["-c", "copy", "-f", "mp3"],
      seconds: 1.5,
      maxBytes: 32 * 1024,
    },
    {
      what: "an Ogg Vorbis stream of 4 s in pages of about 1 s",
      format: "ogg",
      source: "apex-aleph.ogg",
      output: ["-ac", "2", "-ar", "48000", "-c:a", "libvorbis", "-q:a", "4", "-f", "ogg"],
      seconds: 4,
      maxBytes: Infinity,
    },
  ] as const;

  for (const c of cases) {
    it(`${c.what}: the listener gets all of it`, async () => {
      const bytes = await ffmpegOutput(path.join(MEDIA, c.source), ["-ss", "30", "-t", String(c.seconds)], [...c.output, "-map_metadata", "-1"]);
      assert.ok(bytes.length < c.maxBytes, `fixture of ${bytes.length} bytes`);
      const file = writeTemp(`stop.${c.format}`, bytes);
      // the input as ffmpeg decodes the whole file, at 48 kHz: its duration and what it sounds like
      const reference = await decodeFileWithFfmpeg(file, { seconds: c.seconds + 2 });
      const streamId = `ingest-stop-${c.format}-${bus === "NATS" ? "nats" : "local"}`;
      const listener = new KeepingListener(url, streamId);
      await listener.listener.opened;
      await broadcast(url, streamId, { start: { format: c.format }, bytes, bytesPerSecond: bytes.length / c.seconds });
      await listener.untilEnded(10_000);
      listener.listener.close();

      const received = await decodeOpusPackets(listener.packets, 2);
      // the first 0.25 s after the encoder delay: the input's start, where it belongs
      const head = bestAlignment(received.subarray(PRE_SKIP, PRE_SKIP + OPUS_RATE / 4), reference, { maxLagSamples: reference.length / 2 });
      assert.ok(head.correlation >= 0.9 && Math.abs(head.lagSamples) <= 48, `the start is the input's start: lag ${head.lagSamples} (r ${head.correlation.toFixed(3)}), ${listener.packets.length} frames`);
      const expected = reference.length + PRE_SKIP;
      const report = `received ${listener.samples} samples (${(listener.samples / 48).toFixed(1)} ms) in ${listener.packets.length} frames for ${reference.length} of input + ${PRE_SKIP} encoder delay`;
      assert.ok(listener.packets.length > 0, `frames: ${report}`);
      assert.ok(Math.abs(listener.samples - expected) <= FRAME, `whole input within one frame: ${report}`);
      // the last 0.5 s before the encoder's final frame: the end of the last page, where it belongs
      const tailAt = Math.max(0, received.length - OPUS_RATE / 2 - FRAME);
      const tail = bestAlignment(received.subarray(tailAt, tailAt + OPUS_RATE / 2), reference, { maxLagSamples: reference.length });
      assert.ok(tail.correlation >= 0.9, `end correlates: ${tail.correlation.toFixed(3)} (${report})`);
      assert.ok(Math.abs(tail.lagSamples - (tailAt - PRE_SKIP)) <= 48, `end lines up: received ${tailAt} is input ${tail.lagSamples}, expected ${tailAt - PRE_SKIP} ± 48 (${report})`);
      console.log(`      ${c.format} (${bus}): ${report}; end lag ${tail.lagSamples} (r ${tail.correlation.toFixed(3)})`);
    });
  }
});
