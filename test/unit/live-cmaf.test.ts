/**
 * media/cmaf/live-cmaf.ts on a real recording: Opus packets from ffmpeg's libopus are muxed into
 * CMAF parts, and ffprobe and ffmpeg read the init segment and the parts back (as a player reads
 * an LL-HLS or DASH stream, joining at any part).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LiveCmaf, type CmafPart } from "../../media/cmaf/live-cmaf";
import { bestAlignment, decodeFileWithFfmpeg, encodeOpusWithFfmpeg, ffprobe } from "../support/audio-match";
import { MEDIA } from "../support/node-process";

const FRAME = 960;

describe("LiveCmaf: a stream's Opus frames as CMAF parts", function () {
  this.timeout(30_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "veza-cmaf-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function mux(packets: Uint8Array[], startMediaTime: number, skipFrames = new Set<number>()): Promise<{ cmaf: LiveCmaf; parts: CmafPart[] }> {
    const parts: CmafPart[] = [];
    const cmaf = new LiveCmaf({ codec: "opus", channels: 2, sampleRate: 48_000, partMs: 200, onPart: (p) => parts.push(p) });
    packets.forEach((p, i) => {
      if (!skipFrames.has(i)) cmaf.push(p, startMediaTime + i * FRAME, FRAME);
    });
    await cmaf.flush();
    assert.equal(cmaf.error, null);
    return { cmaf, parts };
  }

  it("cuts 200 ms parts on the media clock, each at its frame's media time, and ffmpeg decodes init + parts as the input", async () => {
    const source = path.join(MEDIA, "apex-aleph.ogg");
    const { packets } = await encodeOpusWithFfmpeg(source, { startSeconds: 20, seconds: 3, channels: 2 });
    const start = 48_000 * 3600; // an hour into a stream
    const { cmaf, parts } = await mux(packets, start);
    assert.ok(cmaf.init && cmaf.init.length > 0, "an init segment");
    assert.equal(parts.length, Math.ceil(packets.length / 10));
    parts.forEach((p, i) => {
      assert.equal(p.index, i);
      assert.equal(p.mediaTime, start + i * 10 * FRAME, `part ${i} starts on its frame`);
      const frames = i < parts.length - 1 ? 10 : packets.length - 10 * i;
      assert.equal(p.frames, frames);
      assert.equal(p.duration, frames * FRAME);
    });
    const file = path.join(dir, "all.mp4");
    fs.writeFileSync(file, Buffer.concat([cmaf.init!, ...parts.map((p) => p.bytes)]));
    const probe = await ffprobe(file);
    assert.equal(probe.streams[0]?.codec_name, "opus");
    assert.equal(Number(probe.streams[0]?.nb_read_packets), packets.length);
    assert.equal(probe.warnings, "");
    const reference = await decodeFileWithFfmpeg(source, { startSeconds: 20, seconds: 3 });
    const decoded = await decodeFileWithFfmpeg(file, { seconds: 3 });
    const match = bestAlignment(decoded.subarray(48_000, 48_000 + 24_000), reference, { maxLagSamples: reference.length / 2 });
    assert.ok(match.correlation >= 0.9, `r ${match.correlation.toFixed(3)}`);
  });

  it("a player joining at a later part gets audio from there: init + the parts from the 5th on", async () => {
    const { packets } = await encodeOpusWithFfmpeg(path.join(MEDIA, "apex-aleph.ogg"), { startSeconds: 40, seconds: 2, channels: 2 });
    const { cmaf, parts } = await mux(packets, 0);
    const file = path.join(dir, "joined.mp4");
    fs.writeFileSync(file, Buffer.concat([cmaf.init!, ...parts.slice(4).map((p) => p.bytes)]));
    const probe = await ffprobe(file);
    assert.equal(Number(probe.streams[0]?.nb_read_packets), packets.length - 40);
  });

  it("a gap in media time is kept: the part before it lasts until the next frame", async () => {
    const { packets } = await encodeOpusWithFfmpeg(path.join(MEDIA, "apex-aleph.ogg"), { startSeconds: 10, seconds: 1, channels: 2 });
    // frames 10 to 14 never arrive (100 ms lost upstream)
    const { parts } = await mux(packets, 0, new Set([10, 11, 12, 13, 14]));
    assert.equal(parts[0]!.frames, 10);
    assert.equal(parts[1]!.mediaTime, 15 * FRAME, "the next part starts at the next frame's media time");
    assert.equal(parts.reduce((n, p) => n + p.frames, 0), packets.length - 5);
  });

  it("frames pushed after flush are ignored", async () => {
    const { packets } = await encodeOpusWithFfmpeg(path.join(MEDIA, "apex-aleph.ogg"), { startSeconds: 10, seconds: 0.5, channels: 2 });
    const { cmaf, parts } = await mux(packets, 0);
    const before = parts.length;
    cmaf.push(packets[0]!, 10 * 48_000, FRAME);
    await cmaf.flush();
    assert.equal(parts.length, before);
  });
});
