/**
 * Stream lifecycle and robustness against a real node: late join at the live edge, the
 * broadcaster leaving, a second broadcaster refused, bad input answered without harm, a stalled
 * listener dropped without delaying the others, a ping flood answered only at the documented rate,
 * and ffmpeg killed mid-stream.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import WebSocket from "ws";
import { encodeAudioData } from "../../media/wire";
import type { ServerMessage } from "../../media/wire/control";
import { Listener } from "../../bin/commands/listen";
import { openListeners, startBroadcast, waitForAudio } from "../support/broadcast";
import { PING_RATE } from "../../gateway/listen-route";
import { sleep, startNodeProcess, waitFor, type NodeProcess } from "../support/node-process";
import { metric, rawBroadcaster } from "../support/raw-socket";

describe("spine: lifecycle and bad input", function () {
  this.timeout(60_000);
  let node: NodeProcess;

  before(async () => {
    // a small backpressure limit so the stalled listener passes it within seconds; the stalled-listener
    // test floods at twice real time, which the default pacing would refuse
    node = await startNodeProcess(["--max-backpressure", "32768", "--max-ingest-speed", "4"]);
  });
  after(async () => {
    await node?.stop();
  });

  it("a late joiner starts at the live edge; the broadcaster leaving sends offline status", async () => {
    // a CI run (2026-12-02) had this first broadcaster's connection cut without a close frame before
    // stream.started, on the node just started (passed on the retry every test has, .mocharc.json);
    // the same symptom as the LISTEN_AUTH listener in auth-enforce.test.ts, not reproduced outside CI
    const b = await startBroadcast(node.url, "late", "awakening.ogg", "opus", { startSeconds: 30 });
    const early = await openListeners(node.url, "late", 1);
    await waitForAudio(early, 2000, 10_000);
    const late = new Listener(node.url, "late");
    const hello = await late.opened;
    assert.equal(hello.codec, "opus");
    assert.equal(hello.sampleRate, 48000);
    assert.equal(late.last("stream.status")?.state, "live");
    await waitForAudio([late], 1000, 10_000);
    const edge = early[0]!.stats.lastSeq!;
    assert.ok(late.stats.firstSeq! >= 90, `late joiner's first frame ${late.stats.firstSeq} is not from the start`);
    assert.ok(Math.abs(late.stats.firstSeq! + late.stats.frames - 1 - edge) <= 3, "late joiner is at the live edge");
    assert.equal(late.stats.seqGaps, 0);
    await b.abort();
    await waitFor(() => late.last("stream.status")?.state === "offline", 3000, "offline status after the broadcaster left");
    const api = (await (await fetch(`${node.http}/api/streams/late`)).json()) as { state: string; listeners: number };
    assert.equal(api.state, "offline");
    assert.equal(api.listeners, 2);
    late.close();
    early[0]!.close();
  });

  it("refuses a second broadcaster with BROADCASTER_EXISTS and close code 4409", async () => {
    const first = await startBroadcast(node.url, "one-at-a-time", "apex-aleph.ogg", "opus");
    const second = await rawBroadcaster(node.url, "one-at-a-time");
    second.ws.send(JSON.stringify({ type: "stream.start", format: "opus" }));
    assert.equal(await second.closed, 4409);
    assert.deepEqual(second.texts.map((t) => t.type === "error" && t.code), ["BROADCASTER_EXISTS"]);
    const info = (await (await fetch(`${node.http}/api/streams/one-at-a-time`)).json()) as { state: string };
    assert.equal(info.state, "live", "the first broadcaster stays on air");
    await first.stop();
    const unknown = await fetch(`${node.http}/api/streams/nope`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: string }).error, "STREAM_NOT_FOUND");
  });

  it("answers bad JSON and bad frames with errors, keeps the broadcaster on air and the listeners fed", async () => {
    const good = await startBroadcast(node.url, "steady", "awakening.ogg", "opus");
    const listeners = await openListeners(node.url, "steady", 3);
    const bad = await rawBroadcaster(node.url, "bad-input");
    bad.ws.send("{not json");
    await waitFor(() => bad.texts.some((t) => t.type === "error" && t.code === "BAD_REQUEST"), 2000, "BAD_REQUEST");
    await sleep(1100); // errors are rate-limited to one a second
    bad.ws.send(Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]));
    await waitFor(() => bad.texts.some((t) => t.type === "error" && t.code === "NOT_STARTED"), 2000, "NOT_STARTED");
    bad.ws.send(JSON.stringify({ type: "stream.start", format: "opus" }));
    await waitFor(() => bad.texts.some((t) => t.type === "stream.started"), 2000, "stream.started");
    await sleep(1100);
    bad.ws.send(Buffer.from([9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 192, 252])); // protocol version 9
    await waitFor(() => bad.texts.some((t) => t.type === "error" && t.code === "BAD_FRAME"), 2000, "BAD_FRAME");
    for (let i = 0; i < 200; i++) bad.ws.send(Buffer.from(Array.from({ length: 40 }, (_, j) => (i * j) & 0xff)));
    bad.ws.send(Buffer.alloc(9000, 1)); // oversize
    await sleep(500);
    assert.equal(bad.ws.readyState, WebSocket.OPEN, "bad frames do not close the broadcaster");
    await waitForAudio(listeners, 2000, 10_000);
    for (const l of listeners) assert.equal(l.stats.seqGaps, 0);
    assert.equal((await fetch(`${node.http}/health`)).status, 200);
    assert.ok((await metric(node, "veza_frames_dropped_total")) >= 200);
    bad.ws.close();
    await good.stop();
    for (const l of listeners) l.close();
  });

  it("answers a ping flood at the documented rate, without taking audio or pongs from the others", async () => {
    const b = await startBroadcast(node.url, "pings", "awakening.ogg", "opus");
    const listeners = await openListeners(node.url, "pings", 3);
    await waitForAudio(listeners, 500, 10_000);
    const arrivals: number[] = [];
    listeners[0]!.onFrame = (_f, at) => arrivals.push(at);
    const pongCounter = async () => {
      const ws = new WebSocket(`${node.url}/ws/listen/pings`);
      const pong = { count: 0, ws };
      ws.on("message", (d, isBinary) => {
        if (!isBinary && (JSON.parse(d.toString()) as ServerMessage).type === "clock.pong") pong.count++;
      });
      await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
      return pong;
    };
    const flooder = await pongCounter();
    const polite = await pongCounter();
    // 20 000 pings a second for 2 s from one listener; another pings every 20 ms meanwhile
    const startedAt = Date.now();
    let id = 0;
    while (Date.now() - startedAt < 2000) {
      for (let i = 0; i < 200; i++) flooder.ws.send(JSON.stringify({ type: "clock.ping", id: ++id, t0: 1 }));
      if (id % 400 === 0) polite.ws.send(JSON.stringify({ type: "clock.ping", id, t0: 1 }));
      await sleep(10);
    }
    const seconds = (Date.now() - startedAt) / 1000;
    await sleep(500);
    const allowed = PING_RATE.burst + PING_RATE.perSecond * (seconds + 0.5);
    assert.ok(flooder.count <= allowed, `${flooder.count} pongs to ${id} pings in ${seconds.toFixed(1)} s (at most ${allowed})`);
    assert.ok(flooder.count >= PING_RATE.perSecond * seconds * 0.5, `${flooder.count} pongs: the flooder is still answered at the rate`);
    assert.equal(polite.count, Math.floor(id / 400), "the polite listener's every ping is answered");
    for (const l of listeners) assert.equal(l.stats.seqGaps, 0, "the other listeners miss nothing");
    const longestGap = Math.max(...arrivals.slice(1).map((t, i) => t - arrivals[i]!));
    assert.ok(longestGap < 250, `a listener went ${longestGap} ms without a frame during the flood`);
    flooder.ws.close();
    polite.ws.close();
    await b.stop();
    for (const l of listeners) l.close();
  });

  it("moves a stalled listener down the ladder, then drops it past the backpressure limit, without delaying the others", async () => {
    // Kernel socket buffers hold megabytes, which 128 kbit/s would take minutes to fill, so this
    // broadcaster floods: 7 KB Opus packets (valid TOC, CELT FB 20 ms) 200 times a second.
    const flood = await rawBroadcaster(node.url, "stall");
    flood.ws.send(JSON.stringify({ type: "stream.start", format: "opus" }));
    await waitFor(() => flood.texts.some((t) => t.type === "stream.started"), 2000, "stream.started");
    const healthy = await openListeners(node.url, "stall", 5);
    const stalled = new Listener(node.url, "stall");
    await stalled.opened;
    (stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const packet = new Uint8Array(7000).map((_, i) => (i === 0 ? 0xfc : (i * 7) & 0xff));
    let seq = 0;
    const timer = setInterval(() => {
      for (let i = 0; i < 2; i++, seq++) flood.ws.send(encodeAudioData({ rendition: 0, flags: 0, seq, mediaTime: seq * 960, duration: 960, packet }));
    }, 10);
    const droppedBefore = await metric(node, "veza_listeners_dropped_total");
    const downBefore = await metric(node, "veza_rendition_switches_total", '{direction="down",reason="congestion"}');
    const arrivals: number[] = [];
    healthy[0]!.onFrame = (_f, at) => arrivals.push(at);
    try {
      await waitFor(async () => (await metric(node, "veza_listeners_dropped_total")) > droppedBefore, 40_000, "the stalled listener to be dropped");
    } finally {
      clearInterval(timer);
    }
    // an `auto` listener (the default) is moved down a rung first: dropped only where it cannot go lower
    assert.ok((await metric(node, "veza_rendition_switches_total", '{direction="down",reason="congestion"}')) > downBefore, "moved down before the drop");
    await waitFor(() => healthy.every((l) => l.stats.lastSeq === healthy[0]!.stats.lastSeq && l.stats.frames > 200), 5000, "healthy listeners to catch up");
    for (const l of healthy) {
      assert.equal(l.stats.seqGaps, 0, "healthy listeners miss nothing");
      assert.equal(l.ws.readyState, WebSocket.OPEN);
    }
    // the healthy listener kept receiving the whole time (it was not held back by the stalled one)
    const longestGap = Math.max(...arrivals.slice(1).map((t, i) => t - arrivals[i]!));
    assert.ok(longestGap < 1000, `healthy listener went ${longestGap} ms without a frame`);
    flood.ws.close();
    for (const l of healthy) l.close();
    stalled.ws.terminate();
  });

  it("restarts the encoder when ffmpeg is killed mid-stream, and the audio continues", async () => {
    // ffmpeg children of the node before this stream: a ladder rung of the earlier tests' streams may still run (10 s hold)
    const ffmpegs = (): number[] => {
      try {
        return execFileSync("pgrep", ["-P", String(node.proc.pid), "ffmpeg"]).toString().trim().split("\n").map(Number);
      } catch {
        return []; // pgrep exits 1 when there is none
      }
    };
    const before = new Set(ffmpegs());
    const b = await startBroadcast(node.url, "crash", "machine-wars.mp3", "mp3", { startSeconds: 30 });
    const listeners = await openListeners(node.url, "crash", 3);
    await waitForAudio(listeners, 1500, 10_000);
    const pids = ffmpegs().filter((pid) => !before.has(pid));
    assert.equal(pids.length, 1, "one encoder ffmpeg for the mp3 stream");
    process.kill(pids[0]!, "SIGKILL");
    const heard = listeners[0]!.stats.audioMs;
    await waitFor(() => listeners.every((l) => l.stats.discontinuities >= 2), 10_000, "a discontinuity after the restart");
    await waitFor(() => listeners[0]!.stats.audioMs >= heard + 2000, 10_000, "2 s more audio after the restart");
    for (const l of listeners) assert.equal(l.stats.seqGaps, 0, "sequence numbers continue across the restart");
    assert.equal(await metric(node, "veza_encoder_restarts_total"), 1);
    const after = execFileSync("pgrep", ["-P", String(node.proc.pid), "ffmpeg"]).toString().trim().split("\n").map(Number);
    assert.notEqual(after[0], pids[0], "a new ffmpeg runs");
    await b.stop();
    for (const l of listeners) l.close();
  });
});
