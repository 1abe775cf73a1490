/**
 * HTTP listeners on one gateway (gateway/http-listeners.ts), against a stand-in gateway: one
 * fan-out tap per stream whatever the number of listeners; every listener gets the Ogg header
 * pages, then the same pages; a listener whose queue passes
 * MAX_BACKPRESSURE_BYTES is dropped and counted (veza_listeners_dropped_total) while the others
 * go on; the tap goes with the last listener.
 */
import { strict as assert } from "node:assert";
import pino from "pino";
import { NodeMetrics } from "../../actors/metrics";
import type { Gateway } from "../../gateway/gateway";
import { HttpListeners } from "../../gateway/http-listeners";
import { encodeAudioData } from "../../media/wire";
import type { ListenerSink, ListenRequest } from "../../transports/icecast/server";

function fakeGateway() {
  const taps = new Set<(frame: Uint8Array) => void>();
  const metrics = new NodeMetrics();
  let joined = 0;
  const events: Array<{ event: string; payload: { sessionId: string; kind: string; durationMs?: number } }> = [];
  const gw = {
    config: { maxBackpressureBytes: 4096, maxListeners: 100, opusBitrate: 128_000 },
    metrics,
    log: pino({ level: "silent" }),
    listenerCount: 0,
    streamInfo: new Map([["radio", { title: "Now" }]]),
    fanout: {
      join: () => ++joined,
      leave: () => --joined,
      tap: (_id: string, fn: (frame: Uint8Array) => void) => (taps.add(fn), () => taps.delete(fn)),
    },
    reportListeners: () => undefined,
    broker: { nodeID: "gw-test", emit: (event: string, payload: (typeof events)[number]["payload"]) => (events.push({ event, payload }), Promise.resolve()) },
  };
  return { gw: gw as unknown as Gateway, taps, metrics, joined: () => joined, events };
}

/** A sink that keeps what it got and reports `queued` bytes. */
function sink(queued = 0): ListenerSink & { bytes: Buffer[]; closed: boolean } {
  const s = {
    bytes: [] as Buffer[],
    closed: false,
    write: (b: Uint8Array) => (s.bytes.push(Buffer.from(b)), queued),
    close: () => void (s.closed = true),
  };
  return s;
}

const frame = (seq: number) => encodeAudioData({ rendition: 0, flags: 0, seq, mediaTime: seq * 960, duration: 960, packet: new Uint8Array([0xfc, 0xff, 0xfe]) });
const req = (icy = false): ListenRequest => ({ streamId: "radio", format: "ogg", icy, ip: "127.0.0.1" });

describe("http listeners", () => {
  it("one tap per stream; header pages then the same pages to each; a slow listener is dropped and counted, the others go on", async () => {
    const { gw, taps, metrics, joined, events } = fakeGateway();
    const listeners = new HttpListeners(gw);
    const fast = sink();
    const slow = sink();
    const icy = sink();
    const detachFast = listeners.attach(req(), fast);
    const detachSlow = listeners.attach(req(), slow);
    const detachIcy = listeners.attach(req(true), icy);
    assert.equal(taps.size, 1, "one tap for the stream");
    assert.equal(joined(), 3, "each counts as a listener of the fan-out");
    assert.equal(gw.listenerCount, 3);
    assert.equal(listeners.count, 3);
    assert.equal(Buffer.concat(fast.bytes).subarray(0, 4).toString(), "OggS");
    const headerBytes = Buffer.concat(fast.bytes).length;
    for (let i = 0; i < 5; i++) for (const tap of taps) tap(frame(i));
    assert.ok(Buffer.concat(fast.bytes).length > headerBytes, "a page after 5 frames");
    assert.deepEqual(Buffer.concat(slow.bytes), Buffer.concat(fast.bytes));
    // the slow one reports more than the limit queued from now on
    slow.write = (b: Uint8Array) => (slow.bytes.push(Buffer.from(b)), 10_000);
    for (let i = 5; i < 10; i++) for (const tap of taps) tap(frame(i));
    assert.equal(slow.closed, true, "dropped");
    assert.equal(fast.closed, false);
    assert.equal((await metrics.registry.getSingleMetric("veza_listeners_dropped_total")!.get()).values[0]?.value, 1);
    const before = Buffer.concat(fast.bytes).length;
    const slowBefore = Buffer.concat(slow.bytes).length;
    for (let i = 10; i < 15; i++) for (const tap of taps) tap(frame(i));
    assert.ok(Buffer.concat(fast.bytes).length > before, "the others go on");
    assert.equal(Buffer.concat(slow.bytes).length, slowBefore, "nothing more to the dropped one");
    assert.deepEqual(Buffer.concat(icy.bytes), Buffer.concat(fast.bytes), "no ICY block before 16000 bytes");
    detachSlow();
    detachFast();
    assert.equal(taps.size, 1);
    detachIcy();
    detachIcy();
    assert.equal(taps.size, 0, "the tap goes with the last listener");
    assert.equal(joined(), 0);
    assert.equal(gw.listenerCount, 0);
    // one session.start and one session.end per listener (the second detach changes nothing); the dropped one ends with SLOW_LISTENER
    assert.equal(events.filter((e) => e.event === "session.start" && e.payload.kind === "http").length, 3);
    const ends = events.filter((e) => e.event === "session.end");
    assert.equal(ends.length, 3);
    assert.equal(ends.filter((e) => (e.payload as { code?: string }).code === "SLOW_LISTENER").length, 1);
    assert.deepEqual(listeners.list(), [], "no session left");
  });
});
