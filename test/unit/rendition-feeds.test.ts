/**
 * Moving a WebSocket listener between renditions (gateway/rendition-feeds.ts) on a real uWS app
 * and a real `ws` client, with rendition frames fed through the in-process media bus as a rung's
 * relay gets them: the frames the client receives are contiguous in media time across the move,
 * when a frame of the old rendition was published in the same event-loop turn as the move, and
 * when the new rendition jumps past the listener's media time (its encoder restarted).
 */
import { strict as assert } from "node:assert";
import pino from "pino";
import WebSocket from "ws";
import { NodeMetrics } from "../../actors/metrics";
import { listenerTopics } from "../../gateway/fanout";
import { RenditionFeeds, renditionTopic } from "../../gateway/rendition-feeds";
import { loadUws, type WebSocket as UwsSocket } from "../../gateway/uws";
import { encodeAudioData } from "../../media/wire";
import { LocalBus } from "../../transports/bus/local-bus";
import { subjects } from "../../transports";

const uWS = loadUws();
const STREAM = "feeds";
const FRAME = 960;

interface Received {
  rendition: number;
  start: number;
}

/** A uWS app with one listener socket (opened as the listen route opens one, on rendition `r`) and its client. */
async function setup(r: number) {
  let socket: UwsSocket<unknown> | null = null;
  const app = uWS.App().ws("/*", {
    open: (ws) => {
      socket = ws as UwsSocket<unknown>;
      for (const topic of listenerTopics(STREAM, 0, r)) ws.subscribe(topic);
    },
  });
  const token = await new Promise<unknown>((resolve) => app.listen("127.0.0.1", 0, resolve));
  assert.ok(token, "listening");
  const port = uWS.us_socket_local_port(token as never);
  const bus = new LocalBus(pino({ level: "silent" }));
  const feeds = new RenditionFeeds(app, bus, new NodeMetrics());
  feeds.join(STREAM, r);
  const received: Received[] = [];
  const client = new WebSocket(`ws://127.0.0.1:${port}/`);
  client.on("message", (data: Buffer, binary) => {
    if (binary) received.push({ rendition: data[2]!, start: data.readUIntBE(8, 6) });
  });
  await new Promise((resolve) => client.once("open", resolve));
  while (!socket) await new Promise((resolve) => setImmediate(resolve));
  const seqs = new Map<number, number>();
  /** Rendition `rr`'s frame starting at `start` (samples), as its relay here gets it; rendition 0 as the fan-out publishes it. */
  const frame = (rr: number, start: number) => {
    const seq = seqs.get(rr) ?? 0;
    seqs.set(rr, seq + 1);
    const f = encodeAudioData({ rendition: rr, flags: 0, seq, mediaTime: start, duration: FRAME, packet: new Uint8Array([0xfc, rr, seq & 0xff]) });
    if (rr > 0) bus.publish(subjects.audio(STREAM, rr), f);
    else {
      feeds.onFrame(STREAM, f);
      app.publish(renditionTopic(STREAM, 0), f, true);
    }
  };
  const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
  const close = () => {
    client.close();
    feeds.close();
    uWS.us_listen_socket_close(token as never);
  };
  return { ws: () => socket!, feeds, frame, received, settle, close };
}

/** Where consecutive frames are not contiguous in media time. */
function breaks(received: Received[]): string[] {
  return received.slice(1).flatMap((f, i) => (f.start === received[i]!.start + FRAME ? [] : [`r${received[i]!.rendition}→r${f.rendition}: ${received[i]!.start + FRAME} then ${f.start}`]));
}

describe("rendition feeds: a listener moves between renditions on a real uWS socket", () => {
  it("up to rendition 0 right after a frame of its rung went out in the same event-loop turn: that frame is not lost", async () => {
    const t = await setup(2);
    try {
      for (let k = 0; k < 30; k++) t.frame(0, k * FRAME);
      for (let k = 0; k < 20; k++) t.frame(2, k * FRAME);
      await t.settle();
      // in one turn: the rung's next frame is published, then the listener moves
      t.frame(2, 20 * FRAME);
      assert.equal(t.feeds.switch(t.ws(), STREAM, 2, 0, () => undefined), "switched");
      t.frame(0, 30 * FRAME);
      await t.settle();
      assert.deepEqual(breaks(t.received), []);
      assert.equal(t.received.at(-1)!.start, 30 * FRAME);
      assert.deepEqual([...new Set(t.received.map((f) => f.rendition))], [2, 0]);
    } finally {
      t.close();
    }
  });

  it("down to a rung that restarts while the listener waits for it: the hole is filled from the rendition it came from", async () => {
    const t = await setup(0);
    try {
      for (let k = 0; k < 20; k++) t.frame(0, k * FRAME);
      await t.settle();
      let done = false;
      // rendition 1 is not flowing yet: the listener stays on rendition 0 meanwhile
      assert.equal(t.feeds.switch(t.ws(), STREAM, 0, 1, () => (done = true)), "pending");
      t.frame(0, 20 * FRAME);
      // the rung's first frame, behind rendition 0: the listener leaves rendition 0's topic and waits for 21
      t.frame(1, 15 * FRAME);
      t.frame(0, 21 * FRAME);
      t.frame(0, 22 * FRAME);
      t.frame(1, 16 * FRAME);
      // the rung's encoder restarted: its next frame starts 6 frames past the listener's media time
      for (let k = 23; k < 40; k++) t.frame(0, k * FRAME);
      assert.equal(done, false);
      t.frame(1, 27 * FRAME);
      assert.equal(done, true);
      for (let k = 28; k < 35; k++) t.frame(1, k * FRAME);
      await t.settle();
      assert.deepEqual(breaks(t.received), []);
      assert.equal(t.received.at(-1)!.start, 34 * FRAME);
      // frames 21-26 of rendition 0, then rendition 1 from 27
      assert.deepEqual(t.received.slice(20, 28).map((f) => `${f.rendition}:${f.start / FRAME}`), ["0:20", "0:21", "0:22", "0:23", "0:24", "0:25", "0:26", "1:27"]);
    } finally {
      t.close();
    }
  });

  it("up to a rung whose kept frames have a hole across the listener's media time: it waits on its rendition until the rung holds it unbroken", async () => {
    const t = await setup(0);
    try {
      for (let k = 0; k < 20; k++) t.frame(0, k * FRAME);
      await t.settle();
      // rendition 1 flows here already (another listener on it), ahead of rendition 0, with a hole: 10-12, then 25 on
      t.feeds.join(STREAM, 1);
      for (const k of [10, 11, 12, 25]) t.frame(1, k * FRAME);
      // the listener is at 20: rendition 1 does not hold 20, so it stays on rendition 0 meanwhile
      assert.equal(t.feeds.switch(t.ws(), STREAM, 0, 1, () => undefined), "pending");
      for (let k = 20; k < 25; k++) t.frame(0, k * FRAME);
      for (let k = 26; k < 30; k++) t.frame(1, k * FRAME);
      t.frame(0, 25 * FRAME);
      await t.settle();
      assert.deepEqual(breaks(t.received), []);
      assert.deepEqual(t.received.slice(23).map((f) => `${f.rendition}:${f.start / FRAME}`), ["0:23", "0:24", "1:25", "1:26", "1:27", "1:28", "1:29"]);
    } finally {
      t.close();
    }
  });
});
