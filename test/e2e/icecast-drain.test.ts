/**
 * A drain (SIGTERM) closes the Icecast port's sources and HTTP listeners at once, so that they
 * reconnect to another node (an Icecast source cannot resume: its stream goes offline), and the
 * node exits 0 without waiting out DRAIN_TIMEOUT_MS for them.
 */
import assert from "node:assert/strict";
import { testToken } from "../support/auth";
import { ffmpegSource, icecastPortOf } from "../support/icecast";
import { startNodeProcess, stopChild, waitFor } from "../support/node-process";

describe("icecast: drain", function () {
  this.timeout(30_000);

  it("SIGTERM closes the source (ffmpeg stops) and the HTTP listener; the node exits 0", async () => {
    const node = await startNodeProcess(["--log-format", "json"], { ICECAST_PORT: "0", DRAIN_TIMEOUT_MS: "5000" });
    const port = icecastPortOf(node);
    const token = await testToken("publish", ["drained"]);
    const source = ffmpegSource("machine-wars.mp3", `icecast://source:${token}@127.0.0.1:${port}/drained`, ["-c:a", "libmp3lame", "-f", "mp3", "-content_type", "audio/mpeg"]);
    try {
      await waitFor(async () => ((await (await fetch(`${node.http}/api/streams/drained`)).json()) as { state?: string }).state === "live", 15_000, "the source on air");
      const res = await fetch(`http://127.0.0.1:${port}/drained`);
      const body = res.body!.getReader();
      let bytes = 0;
      let ended = false;
      const pump = (async () => {
        for (;;) {
          const r = await body.read().catch(() => ({ done: true, value: undefined }));
          if (r.done) return void (ended = true);
          bytes += r.value?.length ?? 0;
        }
      })();
      await waitFor(() => bytes > 4000, 5000, "listener bytes");
      const sourceExit = new Promise<number | null>((r) => source.once("exit", r));
      const nodeExit = new Promise<number | null>((r) => node.proc.once("exit", r));
      const t0 = Date.now();
      node.proc.kill("SIGTERM");
      await sourceExit;
      const sourceGoneMs = Date.now() - t0;
      await pump;
      assert.ok(ended, "the HTTP listener's answer ended");
      assert.equal(await nodeExit, 0);
      const exitMs = Date.now() - t0;
      console.log(`      source closed after ${sourceGoneMs} ms; node exited after ${exitMs} ms`);
      assert.ok(exitMs < 4000, `the node did not wait out the drain timeout (${exitMs} ms)`);
      assert.ok(node.output().includes('"event":"publish.stop"'), "the source's stop is audited");
    } finally {
      await stopChild(source, 1000);
      await node.stop();
    }
  });
});
