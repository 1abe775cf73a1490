/**
 * Renditions and adaptive bit rate for WebSocket listeners (docs/protocol.md, "Renditions and
 * adaptive bit rate"), driven through the SDK's ListenConnection as a player would: a listener
 * fixes a rung with `?rendition=`, another moves with `rendition.select`, one behind a slow link
 * (test/support/throttle-proxy.py) is moved down by the gateway and back up once the link
 * recovers. Across every change the frames are contiguous in media time (each starts where the
 * previous one ended), and the SDK counts no sequence gap (seq is per rendition).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import WebSocket from "ws";
import { ListenConnection } from "../../client/core/listen-connection";
import type { SocketFactory, WebSocketLike } from "../../client/core/socket";
import type { ServerMessage } from "../../media/wire/control";
import type { Broadcast } from "../../bin/commands/broadcast";
import { Listener } from "../../bin/commands/listen";
import { startBroadcast } from "../support/broadcast";
import { metric } from "../support/raw-socket";
import { sleep, startNodeProcess, waitFor, type NodeProcess } from "../support/node-process";

const wsFactory: SocketFactory = (url, init) => new WebSocket(url, { headers: init.headers }) as unknown as WebSocketLike;

/** A listener through the SDK that records each frame's rendition and media time, and the server's messages. */
class Recorder {
  readonly conn: ListenConnection;
  readonly frames: Array<{ rendition: number; start: number; end: number }> = [];
  readonly messages: ServerMessage[] = [];
  constructor(baseUrl: string, streamId: string, rendition?: "auto" | number) {
    this.conn = new ListenConnection({ baseUrl, streamId, createSocket: wsFactory, rendition });
    this.conn.on("frame", ({ frame }) => this.frames.push({ rendition: frame.rendition, start: frame.mediaTime, end: frame.mediaTime + frame.duration }));
    this.conn.on("message", (m) => this.messages.push(m));
    this.conn.start();
  }
  changes(): Array<{ rendition: number; reason: string }> {
    return this.messages.flatMap((m) => (m.type === "rendition.changed" ? [{ rendition: m.rendition, reason: m.reason }] : []));
  }
  /** Frames whose start is not the previous frame's end (gaps or overlaps in media time). */
  breaks(): string[] {
    return this.frames.slice(1).flatMap((f, i) => (f.start === this.frames[i]!.end ? [] : [`r${this.frames[i]!.rendition}→r${f.rendition}: ${this.frames[i]!.end} then ${f.start}`]));
  }
  renditionsHeard(): number[] {
    return [...new Set(this.frames.map((f) => f.rendition))];
  }
}

describe("renditions: WebSocket listeners on the ladder, chosen or adapted", function () {
  this.timeout(120_000);
  let node: NodeProcess;
  let broadcast: Broadcast;

  before(async () => {
    node = await startNodeProcess(["--ladder", "opus:64k:2,opus:32k:2,aac:128k:2"], { ABR_STABLE_MS: "2000" });
    broadcast = await startBroadcast(node.url, "lad", "awakening.ogg", "opus", { loop: true });
  });
  after(async () => {
    await broadcast?.abort();
    await node?.stop();
  });

  it("hello lists the Opus renditions; ?rendition=1 hears rung 1; rendition.select moves down and up with no gap in media time", async () => {
    const fixed = new Recorder(node.http, "lad", 1);
    const mover = new Recorder(node.http, "lad");
    try {
      await waitFor(() => fixed.conn.hello !== null && mover.conn.hello !== null, 5000, "hellos");
      const hello = mover.conn.hello!;
      assert.equal(hello.renditionMode, "auto");
      assert.deepEqual(hello.renditions.map((r) => [r.id, r.codec, r.bitrate]), [[0, "opus", 128_000], [1, "opus", 64_000], [2, "opus", 32_000]]);
      assert.equal(fixed.conn.hello!.renditionMode, "fixed");
      assert.equal(fixed.conn.hello!.rendition, 1);
      await waitFor(() => fixed.frames.length >= 100 && mover.frames.length >= 100, 10_000, "frames on both");
      assert.deepEqual(fixed.renditionsHeard(), [1], "the fixed listener hears rung 1 only");

      mover.conn.selectRendition(2);
      await waitFor(() => mover.frames.some((f) => f.rendition === 2) && mover.frames.at(-1)!.rendition === 2, 8000, "frames of rendition 2");
      const atTwo = mover.frames.length;
      mover.conn.selectRendition(0);
      await waitFor(() => mover.frames.length > atTwo + 50 && mover.frames.at(-1)!.rendition === 0, 8000, "frames of rendition 0 again");
      assert.deepEqual(mover.changes(), [{ rendition: 2, reason: "select" }, { rendition: 0, reason: "select" }]);
      assert.deepEqual(mover.breaks(), [], "contiguous media time across both changes");
      assert.deepEqual(fixed.breaks(), []);
      assert.equal(mover.conn.counters.seqGaps, 0, "no sequence gap within a rendition");
      assert.equal(mover.conn.rendition, 0);
      // each rendition's run is one block: r0, then r2, then r0
      const runs = mover.frames.map((f) => f.rendition).filter((r, i, xs) => i === 0 || xs[i - 1] !== r);
      assert.deepEqual(runs, [0, 2, 0]);
    } finally {
      fixed.conn.stop();
      mover.conn.stop();
    }
  });

  it("the CLI's listener: --rendition 1 hears rung 1 (seq counted per rendition, no gaps)", async () => {
    const listener = new Listener(node.url, "lad", { rendition: 1 });
    const renditions = new Set<number>();
    listener.onFrame = (frame) => renditions.add(frame.rendition);
    try {
      const hello = await listener.opened;
      assert.equal(hello.rendition, 1);
      await waitFor(() => listener.stats.frames >= 100, 10_000, "100 frames");
      assert.deepEqual([...renditions], [1]);
      assert.equal(listener.stats.seqGaps, 0);
    } finally {
      listener.close();
    }
  });

  it("bad choices: ?rendition=abc is 400 at the upgrade, an AAC rung or unknown id closes with 4400, a bad rendition.select gets an error, bad listener.reports are ignored, and the listener keeps its audio", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${node.url}/ws/listen/lad?rendition=abc`);
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => reject(new Error("opened")));
      ws.on("error", () => undefined);
    });
    assert.equal(status, 400);
    for (const id of [3, 9]) {
      const closed = await new Promise<{ code: number; texts: string[] }>((resolve) => {
        const texts: string[] = [];
        const ws = new WebSocket(`${node.url}/ws/listen/lad?rendition=${id}`);
        ws.on("message", (d, binary) => !binary && texts.push(d.toString()));
        ws.on("close", (code) => resolve({ code, texts }));
      });
      assert.equal(closed.code, 4400, `rendition ${id}`);
      assert.ok(closed.texts.some((t) => t.includes("BAD_REQUEST")), `an error message for rendition ${id}: ${closed.texts.join(" | ")}`);
    }
    const l = new Recorder(node.http, "lad");
    try {
      await waitFor(() => l.frames.length >= 20, 5000, "frames");
      l.conn.selectRendition(3);
      l.conn.sendJson({ type: "rendition.select", rendition: "best" });
      l.conn.sendJson({ type: "rendition.select", rendition: 70000 });
      for (const received of [-960, "960", 1.5, 2 ** 49, null]) l.conn.sendJson({ type: "listener.report", received });
      await waitFor(() => l.messages.some((m) => m.type === "error" && m.code === "BAD_REQUEST"), 3000, "BAD_REQUEST for an AAC rung");
      const n = l.frames.length;
      await sleep(1000);
      assert.ok(l.frames.length >= n + 40, "audio goes on");
      assert.deepEqual(l.renditionsHeard(), [0]);
      assert.deepEqual(l.changes(), []);
    } finally {
      l.conn.stop();
    }
  });

  it("auto: behind a 48 kbit/s link the gateway moves the listener down; once the link recovers, back up to rendition 0, with no gap and no drop", async function () {
    this.timeout(200_000);
    // slow until the test has seen the moves down (SIGUSR1), 60 s at most: how soon uWS's queue
    // grows depends on how large the kernel lets the gateway's socket send buffer grow first
    const slowSeconds = 60;
    const proxy: ChildProcess = spawn("python3", [path.join(__dirname, "../support/throttle-proxy.py"), "0", String(node.port), "6000", String(slowSeconds)], { stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise<number>((resolve) => readline.createInterface({ input: proxy.stdout! }).once("line", (line) => resolve(Number(line))));
    const droppedBefore = await metric(node, "veza_listeners_dropped_total");
    const l = new Recorder(`http://127.0.0.1:${port}`, "lad");
    try {
      await waitFor(() => l.changes().some((c) => c.rendition === 2 && c.reason === "congestion"), slowSeconds * 1000, "moves down to rendition 2 while the link is slow");
      await sleep(2000);
      proxy.kill("SIGUSR1");
      await waitFor(() => l.changes().at(-1)?.rendition === 0 && l.changes().at(-1)?.reason === "recovered", 90_000, "back on rendition 0 after the link recovered");
      const settled = l.changes().length;
      const n = l.frames.length;
      await sleep(3000);
      assert.ok(l.frames.length > n + 100, "rendition 0 frames at full rate");
      assert.equal(l.changes().length, settled, "stays on rendition 0 once the link is fast");
      const changes = l.changes();
      console.log(`      changes: ${changes.map((c) => `r${c.rendition} (${c.reason})`).join(", ")}; ${l.frames.length} frames, renditions heard ${l.renditionsHeard().join(", ")}`);
      assert.ok(changes.some((c) => c.rendition === 2), "down to the 32 kbit/s rung, which fits the link");
      assert.deepEqual(l.breaks(), [], "contiguous media time across every change");
      assert.equal(l.conn.counters.seqGaps, 0);
      assert.equal(l.conn.counters.reconnects, 0, "never dropped");
      assert.equal(await metric(node, "veza_listeners_dropped_total"), droppedBefore);
      assert.ok((await metric(node, "veza_rendition_switches_total", '{direction="up",reason="recovered"}')) >= 1);
    } finally {
      l.conn.stop();
      proxy.kill();
    }
  });
});
