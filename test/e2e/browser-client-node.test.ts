/**
 * The browser client's core (client/core), run from Node: the jitter buffer and the backoff as
 * pure code, then ListenConnection and PublishConnection over `ws` against a real node, including
 * both reconnecting by themselves after the node is killed and started again on the same port.
 */
import assert from "node:assert/strict";
import path from "node:path";
import WebSocket from "ws";
import { Backoff, JitterBuffer, ListenConnection, PublishConnection, type SocketFactory, type WebSocketLike } from "../../client/core";
import { encodeOpusWithFfmpeg } from "../support/audio-match";
import { testToken } from "../support/auth";
import { freePort, handOverTestNode, MEDIA, sleep, startNodeProcess, waitFor, type NodeProcess } from "../support/node-process";

const wsFactory: SocketFactory = (url) => new WebSocket(url) as unknown as WebSocketLike;
/** 20 ms of stereo silence-free PCM for the jitter buffer (values do not matter, lengths do). */
const chunk = (samples = 960) => [new Float32Array(samples).fill(0.5), new Float32Array(samples).fill(0.5)];

describe("browser client core, from Node", function () {
  this.timeout(60_000);

  describe("JitterBuffer", () => {
    const out = () => [new Float32Array(128), new Float32Array(128)];

    it("stays silent until its margin is reached, then plays and measures arrival-to-playout delay", () => {
      const jb = new JitterBuffer({ targetMs: 60 });
      const o = out();
      jb.push(chunk(), 5, 0);
      jb.push(chunk(), 5, 0);
      assert.equal(jb.pull(o, 128, 0), 0, "40 ms < 60 ms: silence");
      assert.equal(o[0]![0], 0);
      jb.push(chunk(), 5, 128);
      assert.equal(jb.pull(o, 128, 480), 128, "60 ms reached: plays");
      assert.equal(o[0]![0], 0.5);
      const stats = jb.takeStats();
      assert.equal(stats.state, "playing");
      // the first chunk: 5 ms before the push + 480 samples (10 ms) waiting
      assert.equal(stats.delayMs, 15);
    });

    it("cuts a burst past maxMs back to the margin (no piled-up delay)", () => {
      const jb = new JitterBuffer({ targetMs: 60, maxMs: 180 });
      for (let i = 0; i < 13; i++) jb.push(chunk(), 0, 0); // 260 ms at once
      const stats = jb.takeStats();
      assert.ok(jb.depthSamples <= jb.maxSamples, `depth ${jb.depthSamples / 48} ms`);
      assert.ok(stats.droppedMs > 0);
      assert.equal(stats.depthMs + stats.droppedMs, 260, "what is not held was dropped");
    });

    it("widens its margin after an underrun and relaxes it after a calm period", () => {
      const jb = new JitterBuffer({ targetMs: 60, stepMs: 20, relaxMs: 1000 });
      const o = out();
      for (let i = 0; i < 3; i++) jb.push(chunk(), 0, 0);
      let now = 0;
      for (; now < 61 * 48; now += 128) jb.pull(o, 128, now); // the 60 ms run out
      assert.equal(jb.takeStats().underruns, 1);
      assert.equal(jb.marginSamples, 60 * 48, "not wider until audio comes back");
      jb.push(chunk(), 0, now + 20 * 48);
      assert.equal(jb.marginSamples, 80 * 48, "audio back within 1 s: that was jitter; margin 60 → 80 ms");
      // then 1.5 s of a steady stream, 100 ms ahead: one 20 ms chunk per 960 samples of output
      const start = now;
      for (let pushed = 0; now < start + 72_000; now += 128) {
        while (pushed * 960 <= now - start + 5 * 960) jb.push(chunk(), 0, now), pushed++;
        jb.pull(o, 128, now);
      }
      assert.equal(jb.takeStats().underruns, 1, "no more underruns");
      assert.equal(jb.marginSamples, 70 * 48, "relaxed by half a step after 1 s of calm");
      jb.reset();
      assert.equal(jb.depthSamples, 0);
      assert.equal(jb.takeStats().state, "buffering");
    });

    it("does not widen its margin for a stream that stopped or a new socket", () => {
      const jb = new JitterBuffer({ targetMs: 60 });
      const o = out();
      const starve = (from: number) => {
        for (let i = 0; i < 3; i++) jb.push(chunk(), 0, from);
        let now = from;
        for (; now < from + 61 * 48; now += 128) jb.pull(o, 128, now);
        return now;
      };
      let now = starve(0);
      now = starve(now + 2 * 48_000); // audio back after 2 s: the broadcaster was gone
      jb.reset(); // a new socket right after the underrun
      starve(now + 10);
      assert.equal(jb.takeStats().underruns, 3);
      assert.equal(jb.marginSamples, 60 * 48);
    });
  });

  it("Backoff grows by 1.5 from 250 ms to a 5 s cap, with jitter in [d/2, d]", () => {
    const low = new Backoff({ random: () => 0 });
    const high = new Backoff({ random: () => 0.999999 });
    const lows = Array.from({ length: 12 }, () => low.next());
    const highs = Array.from({ length: 12 }, () => high.next());
    assert.deepEqual(lows.slice(0, 4), [125, 188, 281, 422]);
    assert.deepEqual(highs.slice(0, 4), [250, 375, 562, 844]);
    assert.equal(highs[11], 5000);
    assert.equal(lows[11], 2500);
    high.reset();
    assert.equal(high.next(), 250);
  });

  describe("ListenConnection and PublishConnection against a real node", () => {
    let node: NodeProcess;
    let packets: Uint8Array[];

    before(async () => {
      const port = await freePort(); // explicit, so the node can be started again on it
      [node, { packets }] = await Promise.all([
        startNodeProcess(["--port", String(port)]),
        encodeOpusWithFfmpeg(path.join(MEDIA, "apex-aleph.ogg"), { startSeconds: 20, seconds: 20, channels: 2 }),
      ]);
    });
    after(async () => {
      await node?.stop();
    });

    it("carries Opus frames byte for byte, metadata and listener counts, refuses a second broadcaster, and both reconnect after a node restart", async () => {
      const listener = new ListenConnection({ baseUrl: node.http, streamId: "sdk", createSocket: wsFactory, backoff: { baseMs: 100 } });
      const heard: Uint8Array[] = [];
      const titles: string[] = [];
      listener.on("frame", ({ frame }) => heard.push(frame.packet.slice()));
      listener.on("message", (m) => (m.type === "stream.metadata" || m.type === "stream.status") && titles.push(m.title));
      listener.start();
      await waitFor(() => listener.state.state === "open", 5000, "the listener to open");

      // the token as a browser sends it (?token=, the default), asked again for the socket after the restart
      const token = () => testToken("publish", ["sdk"]);
      const publisher = new PublishConnection({ baseUrl: node.url, streamId: "sdk", format: "opus", title: "SDK", token, createSocket: wsFactory, backoff: { baseMs: 100 } });
      const started = await publisher.start();
      assert.equal(started.state, "live");
      let sent = 0;
      const pace = setInterval(() => publisher.isLive && sent < packets.length && publisher.sendOpus(packets[sent++]!, 960), 20);
      try {
        await waitFor(() => heard.length >= 50, 5000, "50 frames heard");
        assert.deepEqual(heard.slice(0, 50).map((p) => Buffer.from(p)), packets.slice(0, 50).map((p) => Buffer.from(p)), "the listener gets the packets sent, in order");
        publisher.sendMetadata("Apex Aleph", { artist: "Max McCracken" });
        await waitFor(() => titles.includes("Apex Aleph"), 2000, "metadata at the listener");
        await waitFor(() => publisher.info?.listeners === 1, 2000, "the publisher to see 1 listener");

        const second = new PublishConnection({ baseUrl: node.url, streamId: "sdk", format: "opus", token, createSocket: wsFactory });
        await assert.rejects(second.start(), (err: Error & { code?: string }) => err.code === "BROADCASTER_EXISTS");
        assert.equal(second.state.state, "failed");

        const exited = new Promise((r) => node.proc.once("exit", r));
        node.proc.kill("SIGKILL");
        await exited;
        await waitFor(() => listener.state.state === "retrying" && publisher.state.state === "retrying", 2000, "both to retry");
        const heardBefore = heard.length;
        node = handOverTestNode(await startNodeProcess(["--port", String(node.port)]));
        await waitFor(() => listener.state.state === "open" && publisher.isLive, 3000, "both to reconnect");
        await waitFor(() => heard.length >= heardBefore + 25, 3000, "frames again after the restart");
        assert.equal(listener.counters.reconnects, 1);
        assert.equal(publisher.counters.reconnects, 1);
        assert.deepEqual(listener.state.state === "open" && listener.state.generation, 2);
      } finally {
        clearInterval(pace);
        publisher.stop();
        listener.stop();
      }
      await sleep(50);
      assert.equal(listener.state.state, "closed");
      assert.equal(publisher.state.state, "stopped");
    });
  });
});
