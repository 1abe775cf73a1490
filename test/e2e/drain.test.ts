/**
 * Graceful drain (issue 16): on a 2-gateway cluster, SIGTERM to the gateway that holds both the
 * broadcaster and a listener: /ready turns 503, the clients are told NODE_DRAINING and closed with
 * 1012, they move to the other gateway (the listener resuming its session, the broadcaster its
 * stream), and the listener loses at most 1 s of audio; the drained node exits 0.
 */
import assert from "node:assert/strict";
import WebSocket from "ws";
import { openListeners, startBroadcast } from "../support/broadcast";
import { startCluster } from "../support/cluster";
import { sleep, waitFor } from "../support/node-process";

describe("graceful drain", function () {
  this.timeout(90_000);

  it("a drained gateway's listener and broadcaster move to the other gateway; the listener loses at most 1 s of audio", async () => {
    const cluster = await startCluster([
      { name: "ga", services: "gateway,relay" },
      { name: "gb", services: "gateway,relay" },
      { name: "wk", services: "stream,encoder" },
    ]);
    const { ga, gb } = cluster.nodes;
    let broadcast: Awaited<ReturnType<typeof startBroadcast>> | undefined;
    let listener: Awaited<ReturnType<typeof openListeners>>[number] | undefined;
    try {
      broadcast = await startBroadcast([ga!.url, gb!.url], "drained", "apex-aleph.ogg", "opus", { reconnect: true, loop: true });
      [listener] = await openListeners([ga!.url, gb!.url], "drained", 1, { reconnect: true });
      await waitFor(() => listener!.stats.audioMs > 2000, 10_000, "2 s of audio");
      // a raw listener on ga sees what the protocol says: NODE_DRAINING, then close 1012
      const raw = new WebSocket(`${ga!.url}/ws/listen/drained`);
      const rawTexts: string[] = [];
      raw.on("message", (d, isBinary) => !isBinary && rawTexts.push(d.toString()));
      const rawClosed = new Promise<number>((r) => raw.once("close", (code) => r(code)));
      await new Promise((r) => raw.once("open", r));

      const before = { audioMs: listener!.stats.audioMs, at: Date.now(), reconnects: broadcast.reconnects };
      const exited = new Promise<number | null>((r) => ga!.proc.once("exit", (code) => r(code)));
      ga!.proc.kill("SIGTERM");
      assert.equal(await rawClosed, 1012);
      assert.ok(rawTexts.some((t) => JSON.parse(t).code === "NODE_DRAINING"), "told NODE_DRAINING before the close");
      assert.equal(await exited, 0, "the drained node exits 0");
      await sleep(4000);
      const s = listener!.stats;
      const elapsedMs = Date.now() - before.at;
      const heardMs = s.audioMs - before.audioMs;
      console.log(`      after the drain: listener reconnects ${s.reconnects}, missed frames ${s.missedFrames}, heard ${heardMs} ms of audio in ${elapsedMs} ms; broadcaster reconnects ${broadcast.reconnects - before.reconnects}`);
      // one reconnection, or two when the first try did not take (seen once in a full run: 2
      // reconnections, 15 frames missed); what counts is the audio lost, below
      assert.ok(s.reconnects >= 1 && s.reconnects <= 3, `the listener reconnected (${s.reconnects} times)`);
      assert.ok(broadcast.reconnects - before.reconnects >= 1, "the broadcaster reconnected to the other gateway");
      assert.ok(s.missedFrames * 20 <= 1000, `missed ${s.missedFrames} frames`);
      assert.ok(elapsedMs - heardMs <= 1000, `audio lost: ${elapsedMs - heardMs} ms`);
      const info = (await (await fetch(`${gb!.http}/api/streams/drained`)).json()) as { state: string };
      assert.equal(info.state, "live", "the stream stayed live");
    } finally {
      listener?.close();
      await broadcast?.stop();
      await cluster.stop();
    }
  });
});
