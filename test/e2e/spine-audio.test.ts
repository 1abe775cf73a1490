/**
 * The main job on real recordings: a node started as a user would, a broadcaster pushing a real
 * recording in real time, 50 listeners that must each receive every frame in order, and proof
 * that what they hear is the recording (decoded Opus vs the source decoded by ffmpeg).
 */
import assert from "node:assert/strict";
import path from "node:path";
import type { Listener } from "../../bin/commands/listen";
import { bestAlignment, decodeFileWithFfmpeg, decodeOpusPackets } from "../support/audio-match";
import { openListeners, startBroadcast, waitForAudio } from "../support/broadcast";
import { MEDIA, startNodeProcess, type NodeProcess } from "../support/node-process";

const LISTENERS = 50;
const AUDIO_MS = 5000;
const START_S = 20;

describe("spine: broadcast of real recordings to 50 listeners", function () {
  this.timeout(60_000);
  let node: NodeProcess;

  before(async () => {
    node = await startNodeProcess();
  });
  after(async () => {
    await node?.stop();
  });

  const cases = [
    { file: "apex-aleph.ogg", send: "opus", what: "Opus encoded by the broadcaster, passed through" },
    { file: "apex-aleph.ogg", send: "ogg", what: "Ogg Vorbis 48 kHz transcoded by the server's encoder" },
    { file: "machine-wars.mp3", send: "mp3", what: "MP3 22.05 kHz resampled and transcoded by the server's encoder" },
  ] as const;

  for (const c of cases) {
    it(`${c.file} as ${c.send}: ${c.what}`, async () => {
      const streamId = `music-${c.send}`;
      const listeners: Listener[] = await openListeners(node.url, streamId, LISTENERS);
      for (const l of listeners) assert.equal(l.last("stream.status")?.state, "offline", "listener before the broadcaster sees offline");
      const packets: Uint8Array[] = [];
      listeners[0]!.onFrame = (frame) => packets.push(frame.packet.slice());
      // from 20 s in (the opening of apex-aleph is a near-silent fade-in); stream copy seeks to a page
      // boundary, so the source is decoded from 3 s earlier and the alignment finds where it starts
      const broadcast = await startBroadcast(node.url, streamId, c.file, c.send, { startSeconds: START_S });
      try {
        await waitForAudio(listeners, AUDIO_MS, 20_000);
      } finally {
        await broadcast.stop();
      }
      for (const [i, l] of listeners.entries()) {
        assert.equal(l.stats.firstSeq, 0, `listener ${i} got the first frame`);
        assert.equal(l.stats.seqGaps, 0, `listener ${i} has no sequence gap`);
        assert.ok(l.stats.frames >= AUDIO_MS / 20, `listener ${i} got ${l.stats.frames} frames`);
        assert.equal(l.stats.lastSeq, l.stats.frames - 1, `listener ${i}: frames in order, none missing`);
      }
      const received = await decodeOpusPackets(packets.slice(0, 250), 2);
      const source = await decodeFileWithFfmpeg(path.join(MEDIA, c.file), { startSeconds: START_S - 3, seconds: 12 });
      const match = bestAlignment(received.subarray(4800), source);
      assert.ok(match.correlation >= 0.9, `decoded audio matches ${c.file}: correlation ${match.correlation.toFixed(3)} at lag ${match.lagSamples}`);
      for (const l of listeners) l.close();
    });
  }
});
