/**
 * HTTP listeners' burst on connect (ICECAST_BURST_BYTES, Icecast's burst-size) and MP3 batching,
 * against a stand-in gateway: a listener that joins a stream already flowing gets the last writes
 * (whole MP3 frames, or Ogg pages after the header pages) at once, at most the burst size; with 0,
 * nothing; the first listener gets none, unless the source is on air through this gateway. MP3 frames go out as soon as 100 ms of audio is held,
 * or 100 ms after the first one when the source is slow.
 */
import { strict as assert } from "node:assert";
import pino from "pino";
import { NodeMetrics } from "../../actors/metrics";
import type { Gateway } from "../../gateway/gateway";
import { HttpListeners } from "../../gateway/http-listeners";
import { encodeAudioData } from "../../media/wire";
import type { ListenerSink, ListenRequest } from "../../transports/icecast/server";

function fakeGateway(burstBytes: number) {
  const taps = new Set<(frame: Uint8Array) => void>();
  const subs = new Set<(bytes: Uint8Array) => void>();
  const gw = {
    config: { maxBackpressureBytes: 1 << 20, maxListeners: 100, opusBitrate: 128_000, icecastBurstBytes: burstBytes },
    metrics: new NodeMetrics(),
    log: pino({ level: "silent" }),
    listenerCount: 0,
    streamInfo: new Map([["radio", { title: "Now" }]]),
    fanout: {
      join: () => undefined,
      leave: () => undefined,
      tap: (_id: string, fn: (frame: Uint8Array) => void) => (taps.add(fn), () => taps.delete(fn)),
    },
    bus: { subscribe: (_subject: string, fn: (bytes: Uint8Array) => void) => (subs.add(fn), () => subs.delete(fn)) },
    reportListeners: () => undefined,
    broker: { nodeID: "gw-test", emit: () => Promise.resolve() },
  };
  const source = (bytes: Uint8Array) => {
    for (const fn of subs) fn(bytes);
  };
  const opus = (seq: number) => {
    const f = encodeAudioData({ rendition: 0, flags: 0, seq, mediaTime: seq * 960, duration: 960, packet: new Uint8Array([0xfc, seq & 0xff, 0xfe]) });
    for (const fn of taps) fn(f);
  };
  return { gw: gw as unknown as Gateway, source, opus };
}

function sink(): ListenerSink & { writes: Buffer[]; all: () => Buffer } {
  const s = {
    writes: [] as Buffer[],
    write: (b: Uint8Array) => (s.writes.push(Buffer.from(b)), 0),
    close: () => undefined,
    all: () => Buffer.concat(s.writes),
  };
  return s;
}

/** MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417 bytes, 26.1 ms; byte 4 numbers the frame. */
function mp3Frame(n: number): Buffer {
  const f = Buffer.alloc(417, 0x55);
  f.set([0xff, 0xfb, 0x90, 0x64, n & 0xff]);
  return f;
}

const mp3Req: ListenRequest = { streamId: "radio", format: "mp3", icy: false, ip: "127.0.0.1" };
const oggReq: ListenRequest = { streamId: "radio", format: "ogg", icy: false, ip: "127.0.0.1" };

describe("http listeners: burst on connect and MP3 batches", () => {
  it("MP3: a batch goes out once it holds 100 ms of audio; a later listener gets the last whole batches up to the burst size at once", () => {
    const { gw, source } = fakeGateway(4000);
    const listeners = new HttpListeners(gw);
    const first = sink();
    const detachFirst = listeners.attach(mp3Req, first);
    assert.equal(first.writes.length, 0, "no burst for the first listener");
    for (let n = 0; n < 3; n++) source(mp3Frame(n));
    assert.equal(first.writes.length, 0, "3 frames (78 ms) wait");
    source(mp3Frame(3));
    assert.equal(first.writes.length, 1, "the 4th frame (104 ms) sends the batch at once");
    assert.equal(first.writes[0]!.length, 4 * 417);
    for (let n = 4; n < 16; n++) source(mp3Frame(n));
    assert.equal(first.writes.length, 4);
    const second = sink();
    const detachSecond = listeners.attach(mp3Req, second);
    assert.equal(second.writes.length, 1, "the burst in one write");
    const burst = second.writes[0]!;
    assert.equal(burst.length, 2 * 4 * 417, "whole batches, at most 4000 bytes");
    assert.deepEqual(burst, Buffer.concat(first.writes.slice(2)), "the newest batches, in order");
    assert.deepEqual([burst[0], burst[1], burst[4]], [0xff, 0xfb, 8], "starts on a frame header");
    for (let n = 16; n < 20; n++) source(mp3Frame(n));
    assert.deepEqual(second.writes[1], first.writes[4], "then the same batches as the others");
    detachSecond();
    detachFirst();
  });

  it("MP3 source on this gateway (sourceStarted): the first listener gets the burst too; after sourceEnded with no listener nothing is kept", () => {
    const { gw, source } = fakeGateway(4000);
    const listeners = new HttpListeners(gw);
    listeners.sourceStarted("radio", "mp3");
    for (let n = 0; n < 16; n++) source(mp3Frame(n));
    const first = sink();
    const detach = listeners.attach(mp3Req, first);
    assert.equal(first.writes.length, 1, "a burst for the first listener");
    assert.equal(first.writes[0]!.length, 2 * 4 * 417, "whole batches, at most 4000 bytes");
    assert.equal(first.writes[0]![4], 8, "the newest batches: frames 8-15");
    detach();
    for (let n = 16; n < 20; n++) source(mp3Frame(n));
    listeners.sourceEnded("radio");
    for (let n = 20; n < 24; n++) source(mp3Frame(n));
    const later = sink();
    const detachLater = listeners.attach(mp3Req, later);
    assert.equal(later.writes.length, 0, "the source gone and no listener left: nothing was kept");
    detachLater();
    listeners.sourceStarted("radio", "ogg");
    assert.equal(listeners.passthroughCount("radio"), 0);
  });

  it("MP3: a slow source's frames go out 100 ms after the first one; ICECAST_BURST_BYTES=0 sends no burst", async () => {
    const { gw, source } = fakeGateway(0);
    const listeners = new HttpListeners(gw);
    const first = sink();
    const detachFirst = listeners.attach(mp3Req, first);
    source(mp3Frame(0));
    source(mp3Frame(1)); // the framer passes a first frame on once the next header confirms it
    assert.equal(first.writes.length, 0);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(first.writes.length, 1, "flushed by the timer");
    assert.equal(first.writes[0]!.length, 2 * 417);
    for (let n = 2; n < 10; n++) source(mp3Frame(n));
    const second = sink();
    const detachSecond = listeners.attach(mp3Req, second);
    assert.equal(second.writes.length, 0, "no burst");
    detachSecond();
    detachFirst();
  });

  it("Ogg: header pages and the burst pages in one write, then the pages every listener gets", () => {
    const { gw, opus } = fakeGateway(64 * 1024);
    const listeners = new HttpListeners(gw);
    const first = sink();
    const detachFirst = listeners.attach(oggReq, first);
    assert.equal(first.writes.length, 1, "the header pages only");
    const header = first.writes[0]!;
    for (let i = 0; i < 15; i++) opus(i);
    const pages = first.writes.slice(1);
    assert.equal(pages.length, 3, "a page per 5 frames");
    const second = sink();
    const detachSecond = listeners.attach(oggReq, second);
    assert.equal(second.writes.length, 1);
    assert.deepEqual(second.writes[0], Buffer.concat([header, ...pages]), "header pages, then the 3 pages kept");
    for (let i = 15; i < 20; i++) opus(i);
    assert.deepEqual(second.writes[1], first.writes[4]);
    detachSecond();
    detachFirst();
  });
});
