/**
 * What an ffmpeg crash costs a container stream (Ogg, WebM, MP3), measured: the stream is
 * broadcast in real time over a real WebSocket, its ffmpeg is killed with SIGKILL mid-stream, the
 * encoder restarts it with the container's headers replayed (media/ingest/resume.ts). The audio
 * after the restart must line up with the input, shifted only by what the crash lost: nothing
 * repeated, and no more lost than the crashed ffmpeg held (its pipe, decoder and encoder buffers;
 * bounded here at 250 ms; measured 50-130 ms).
 */
import assert from "node:assert/strict";
import path from "node:path";
import pino from "pino";
import { startNode, type RunningNode } from "../../actors/node";
import { loadConfig } from "../../config";
import { TEST_JWT_SECRET } from "../support/auth";
import { bestAlignment, decodeFileWithFfmpeg, decodeOpusPackets } from "../support/audio-match";
import { MEDIA } from "../support/node-process";
import { FRAME, KeepingListener, OPUS_RATE, broadcast, ffmpegOutput, removeTemp, writeTemp } from "./ingest-harness";

/** libopus's encoder delay (OpusHead pre-skip), samples at 48 kHz: each ffmpeg run starts with it. */
const PRE_SKIP = 312;
/** Most media a crash may lose, samples at 48 kHz (250 ms). */
const MAX_CRASH_LOSS = 12_000;
const SECONDS = 6;

describe("ingest: an ffmpeg crash in a container stream loses only what ffmpeg held", function () {
  this.timeout(60_000);
  let node: RunningNode;
  let url: string;

  before(async () => {
    node = await startNode(loadConfig({ JWT_SECRET: TEST_JWT_SECRET }, { port: 0, host: "127.0.0.1", logLevel: "silent" }), pino({ level: "silent" }));
    url = `ws://127.0.0.1:${node.port}`;
  });
  after(async () => {
    await node?.stop();
    removeTemp();
  });

  const cases = [
    { format: "ogg", what: "Ogg Vorbis, pages of about 1 s", source: "apex-aleph.ogg", output: ["-ac", "2", "-ar", "48000", "-c:a", "libvorbis", "-q:a", "4", "-f", "ogg"] },
    { format: "webm", what: "WebM Opus, clusters of 100 ms", source: "apex-aleph.ogg", output: ["-ac", "2", "-c:a", "libopus", "-b:a", "96k", "-cluster_time_limit", "100", "-f", "webm"] },
    { format: "mp3", what: "MP3 22.05 kHz", source: "machine-wars.mp3", output: ["-c", "copy", "-f", "mp3"] },
  ] as const;

  for (const c of cases) {
    it(`${c.what}, ffmpeg killed 2.5 s in: the rest lines up, nothing repeated`, async () => {
      const bytes = await ffmpegOutput(path.join(MEDIA, c.source), ["-ss", "30", "-t", String(SECONDS)], [...c.output, "-map_metadata", "-1"]);
      const file = writeTemp(`restart.${c.format}`, bytes);
      const reference = await decodeFileWithFfmpeg(file, { seconds: SECONDS + 2 });
      const streamId = `ingest-restart-${c.format}`;
      const listener = new KeepingListener(url, streamId);
      await listener.listener.opened;
      await broadcast(url, streamId, {
        start: { format: c.format },
        bytes,
        bytesPerSecond: bytes.length / SECONDS,
        at: {
          atMs: 2500,
          run: async () => {
            const encoders = (await node.broker.call("encoder.list")) as Array<{ streamId: string; pid: number | null }>;
            const pid = encoders.find((e) => e.streamId === streamId)?.pid;
            assert.ok(pid, "an ffmpeg runs");
            process.kill(pid, "SIGKILL");
          },
        },
      });
      await listener.untilEnded(10_000);
      listener.listener.close();
      assert.equal(listener.discontinuities, 2, "the first frame and the restart are flagged");

      const received = await decodeOpusPackets(listener.packets, 2);
      // after the restart, received sample t is input sample t - 2 pre-skips + what the crash lost
      const tailAt = received.length - OPUS_RATE - FRAME;
      const tail = bestAlignment(received.subarray(tailAt, tailAt + OPUS_RATE / 2), reference, { maxLagSamples: reference.length });
      const lost = tail.lagSamples - (tailAt - 2 * PRE_SKIP);
      const report = `received ${listener.samples} samples for ${reference.length} of input + 2 × ${PRE_SKIP}; after the restart input sample ${tail.lagSamples} at received ${tailAt} (r ${tail.correlation.toFixed(3)}): lost ${lost} samples (${(lost / 48).toFixed(1)} ms)`;
      console.log(`      ${c.format}: ${report}`);
      assert.ok(tail.correlation >= 0.9, `the audio after the restart is the input's: ${report}`);
      assert.ok(lost >= -48, `nothing repeated: ${report}`);
      assert.ok(lost <= MAX_CRASH_LOSS, `lost at most ${MAX_CRASH_LOSS / 48} ms: ${report}`);
      assert.ok(Math.abs(listener.samples - (reference.length + 2 * PRE_SKIP - lost)) < FRAME, `the received media time accounts for the loss, to the last frame: ${report}`);
    });
  }
});
