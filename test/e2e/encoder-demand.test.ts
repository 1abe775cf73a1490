/**
 * The Opus encoder runs only while a listener needs Opus (actors/stream/encoder-demand.ts): an MP3
 * source pushed by ffmpeg to the Icecast port, heard only by an HTTP listener of its own MP3 bytes,
 * has its encoder's ffmpeg stopped after ENCODER_IDLE_MS; a WebSocket listener that joins brings it
 * back and hears audio; the MP3 listener's audio never stops meanwhile.
 */
import assert from "node:assert/strict";
import { spawnSync, type ChildProcess } from "node:child_process";
import { openListeners } from "../support/broadcast";
import { testToken } from "../support/auth";
import { ffmpegSource, httpListen, icecastPortOf } from "../support/icecast";
import { startNodeProcess, stopChild, waitFor, type NodeProcess } from "../support/node-process";

/** ffmpeg processes of `pid` encoding Opus (the stream's encoder; not a transcoder or the source). */
function opusEncoders(pid: number): number {
  const ps = spawnSync("ps", ["-o", "args=", "--ppid", String(pid)], { encoding: "utf8" });
  return ps.stdout.split("\n").filter((l) => /ffmpeg.*libopus/.test(l)).length;
}

describe("encoder on demand: no Opus encoding while no listener needs it", function () {
  this.timeout(60_000);
  let node: NodeProcess;
  let source: ChildProcess;

  before(async () => {
    node = await startNodeProcess(["--log-format", "json"], { ICECAST_PORT: "0", ENCODER_IDLE_MS: "1500" });
    const token = await testToken("publish", ["radio"]);
    source = ffmpegSource("machine-wars.mp3", `icecast://source:${token}@127.0.0.1:${icecastPortOf(node)}/radio`, ["-c:a", "copy", "-f", "mp3", "-content_type", "audio/mpeg"], 40);
    await waitFor(async () => ((await (await fetch(`${node.http}/api/streams/radio`)).json()) as { state?: string }).state === "live", 15_000, "the source on air");
  });
  after(async () => {
    if (source) await stopChild(source, 2000);
    await node?.stop();
  });

  it("pauses with only an MP3 passthrough listener, resumes for a WebSocket listener, which hears audio; the MP3 listener is fed throughout", async () => {
    assert.ok(node.logs.some((l) => l.msg === "encoder opened" && l.streamId === "radio"), "the encoder starts with the stream");
    const mp3 = await httpListen(`${node.http}/live/radio.mp3`);
    try {
      const paused = () => node.logs.filter((l) => l.msg === "encoder paused: no listener needs Opus" && l.streamId === "radio").length;
      await waitFor(() => paused() === 1 && opusEncoders(node.proc.pid!) === 0, 8000, "the encoder paused, its ffmpeg gone");
      const bytesPaused = mp3.bytes();
      const joinedAt = Date.now();
      // machine-wars.mp3 is 80 kbit/s (22.05 kHz): 10 bytes a ms
      const rate = 80_000 / 8 / 1000;
      const [ws] = await openListeners(node.url, "radio", 1);
      try {
        await waitFor(() => ws!.stats.audioMs >= 1000, 10_000, "the WebSocket listener hears audio");
        console.log(`      WebSocket listener: 1 s of audio ${Date.now() - joinedAt} ms after it joined a paused encoder`);
        assert.equal(opusEncoders(node.proc.pid!), 1, "the encoder runs again");
        assert.ok(node.logs.some((l) => l.msg === "encoder resumed" && l.streamId === "radio"));
        // at least half the rate it had before (writes come every 100 ms of audio)
        const elapsed = Date.now() - joinedAt;
        assert.ok(mp3.bytes() - bytesPaused >= 0.5 * rate * elapsed, `the MP3 listener went on meanwhile: ${mp3.bytes() - bytesPaused} bytes in ${elapsed} ms, ${Math.round(rate * 1000)} bytes/s before`);
      } finally {
        ws!.close();
      }
      await waitFor(() => paused() === 2 && opusEncoders(node.proc.pid!) === 0, 8000, "paused again once the WebSocket listener left");
      const gaps = mp3.arrivals.slice(1).map((t, i) => t - mp3.arrivals[i]!);
      console.log(`      the MP3 listener: ${mp3.bytes()} bytes, longest wait ${Math.max(...gaps)} ms`);
      assert.ok(Math.max(...gaps) < 1000, `the MP3 listener's longest wait for bytes: ${Math.max(...gaps)} ms`);
    } finally {
      mp3.close();
    }
  });
});
