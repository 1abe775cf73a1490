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
import { StreamEncoder } from "../../actors/encoder/stream-encoder";
import { startNode, type RunningNode } from "../../actors/node";
import { decodeAudioData } from "../../media/wire";
import { LocalBus } from "../../transports/bus/local-bus";
import { resolveFfmpegPath } from "../../transports/ffmpeg/ffmpeg-path";
import { loadConfig } from "../../config";
import { TEST_JWT_SECRET } from "../support/auth";
import { bestAlignment, decodeFileWithFfmpeg, decodeOpusPackets } from "../support/audio-match";
import { MEDIA } from "../support/node-process";
import { ensureNats, NATS_URL } from "../support/services";
import { subjects, type BusHandler, type MediaBus } from "../../transports";
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

/** A networked bus as a loaded NATS may behave: every message arrives `delayMs` after it was published. */
class LateBus implements MediaBus {
  readonly kind = "nats://late";
  private readonly bus = new LocalBus(pino({ level: "silent" }));
  constructor(private readonly delayMs: number) {}
  publish(subject: string, data: Uint8Array): void {
    setTimeout(() => this.bus.publish(subject, data), this.delayMs);
  }
  subscribe(subject: string, handler: BusHandler): () => void {
    return this.bus.subscribe(subject, handler);
  }
  close(): Promise<void> {
    return this.bus.close();
  }
}

describe("ingest: the encoder waits for the bytes the gateway says it sent", function () {
  this.timeout(30_000);
  after(() => removeTemp());

  it("an MP3 whose last bytes arrive 400 ms after the stop is encoded whole", async () => {
    const seconds = 1.5;
    const bytes = await ffmpegOutput(path.join(MEDIA, "machine-wars.mp3"), ["-ss", "30", "-t", String(seconds)], ["-c", "copy", "-f", "mp3", "-map_metadata", "-1"]);
    const reference = await decodeFileWithFfmpeg(writeTemp("late.mp3", bytes), { seconds: seconds + 2 });
    const bus = new LateBus(400);
    let samples = 0;
    bus.subscribe(subjects.encoded("late", 0), (m) => (samples += decodeAudioData(m).duration));
    const encoder = new StreamEncoder({
      streamId: "late", format: "mp3", bitrate: 64_000, ffmpegPath: resolveFfmpegPath(), bus, log: pino({ level: "silent" }),
      onRestart: () => undefined, onFailed: (err) => assert.fail(err),
    });
    encoder.start();
    const half = Math.floor(bytes.length / 2);
    bus.publish(subjects.ingest("late"), bytes.subarray(0, half));
    await new Promise((r) => setTimeout(r, 500)); // the first half has arrived; the second is on its way
    bus.publish(subjects.ingest("late"), bytes.subarray(half));
    // the stop reaches the encoder by another path, ahead of the input's tail (a 50 ms lull after
    // the first half: without the byte count, close would end ffmpeg's input there)
    await encoder.close(2000, bytes.length);
    await new Promise((r) => setTimeout(r, 450)); // anything published after close would have come by now
    const expected = reference.length + PRE_SKIP;
    assert.ok(Math.abs(samples - expected) <= FRAME, `received ${samples} samples for ${reference.length} of input + ${PRE_SKIP}`);
    await bus.close();
  });
});
