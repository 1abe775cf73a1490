/**
 * FfmpegProcess against the real ffmpeg: a stop() that comes before fluent-ffmpeg has spawned the
 * process (it checks capabilities first) must still end it; before the fix the run started after
 * the stop and kept running (the root hook found it).
 */
import assert from "node:assert/strict";
import pino from "pino";
import { FfmpegProcess, type FfmpegGeneration } from "../../transports/ffmpeg/ffmpeg-process";
import { resolveFfmpegPath } from "../../transports/ffmpeg/ffmpeg-path";
import { descendants } from "../support/hooks";

describe("FfmpegProcess", () => {
  it("kills a run that starts after stop() was called", async () => {
    const ffmpeg = new FfmpegProcess({ ffmpegPath: resolveFfmpegPath(), input: "anullsrc", inputOptions: ["-f", "lavfi", "-re"], outputOptions: ["-f", "null"], log: pino({ level: "silent" }) });
    ffmpeg.on("spawn", (g: FfmpegGeneration) => g.stdout.resume());
    ffmpeg.start();
    await ffmpeg.stop(); // at once: the process is not spawned yet
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(descendants().filter((p) => p.command.includes("anullsrc")), []);
  });
});
