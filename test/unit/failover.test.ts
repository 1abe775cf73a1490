/**
 * The pieces of failover that need no cluster (docs/failover.md): a re-homed stream goes on from
 * its former owner's saved state (media time, sequence numbers, clock mapping); a resumed broadcast
 * keeps its clock through a reconnection burst; the failure detector suspects a node that stops
 * beating and judges nobody while it cannot hear itself; a gateway's relay drops a replaced
 * owner's late frames. The cluster-wide behaviour is in test/e2e/cluster.test.ts and chaos.test.ts.
 */
import assert from "node:assert/strict";
import pino from "pino";
import { Liveness } from "../../actors/cluster/liveness";
import { NodeMetrics } from "../../actors/metrics";
import { StreamRelay } from "../../actors/relay/stream-relay";
import { LiveStream } from "../../actors/stream/live-stream";
import { clusterTimeOf } from "../../media/clock/media-clock";
import { AudioFlag, decodeAudioData, encodeAudioData } from "../../media/wire";
import { LocalBus } from "../../transports/bus/local-bus";
import type { MediaBus } from "../../transports";
import { subjects } from "../../transports";
import { sleep } from "../support/node-process";
import { seededRandom } from "../../bench/sync/virtual-clock";

const log = pino({ level: "silent" });
const FRAME = 960;
const frame = () => encodeAudioData({ rendition: 0, flags: 0, seq: 0, mediaTime: 0, duration: FRAME, packet: new Uint8Array([0xfc, 0xff, 0xfe]) });
const broadcaster = (sessionId: string) => ({ sessionId, nodeID: "gw", sub: "u", format: "opus" as const, channels: 2, startedAt: 0 });

/** Stamps `n` frames arriving every 20 ms from `fromUs` (+ `lateUs` each); returns the stamped headers. */
function feed(s: LiveStream, n: number, fromUs: number, lateUs = () => 0) {
  return Array.from({ length: n }, (_, i) => decodeAudioData(s.stamp(frame(), 0, FRAME, fromUs + i * 20_000 + lateUs())));
}

describe("failover: a stream re-homed from its former owner's saved state", () => {
  const T0 = 1.8e15;

  it("goes on with the same broadcast: media time advanced by the gap, seq past it, the same clock line", () => {
    const before = new LiveStream("s", "c", 120);
    before.start(broadcaster("b1"));
    const random = seededRandom(5);
    feed(before, 600, T0, () => random() * 3000); // 12 s, up to 3 ms late
    const state = before.clockState()!;
    const line = state.mapping!;
    // the owner dies; 700 ms later the new owner gets the next frame
    const after = new LiveStream("s", "a", 120);
    after.start(broadcaster("b1"), undefined, undefined, "b1");
    after.continueFrom(state, true);
    const arrival = T0 + 600 * 20_000 + 700_000;
    const [first] = feed(after, 1, arrival);
    assert.ok(first!.flags & AudioFlag.DISCONTINUITY, "flagged: audio does not follow on");
    assert.ok(first!.mediaTime >= state.mediaTime + 30 * FRAME && first!.mediaTime % FRAME === 0, `media time ${first!.mediaTime} on the 20 ms grid, past the gap`);
    assert.ok(Math.abs(clusterTimeOf(line, first!.mediaTime) - arrival) <= 20_000, "on the former owner's line (within a frame)");
    assert.equal(first!.seq, state.seq + (first!.mediaTime - state.mediaTime) / FRAME, "seq goes on past the frames of the gap");
    const tick = after.syncTick(false)!;
    assert.equal(tick.validFrom, first!.mediaTime);
    assert.ok(Math.abs(clusterTimeOf(tick, tick.validFrom) - clusterTimeOf(line, tick.validFrom)) < 1, "the tick keeps the listeners' timeline");
    // cluster µs near 1.8e15 are good to 0.25 µs in a double: over the 10 s seeded, 0.03 ppm of rate
    assert.ok(Math.abs(tick.rateHz / line.rateHz - 1) < 1e-7, `and the estimated rate: ${tick.rateHz} against ${line.rateHz} Hz`);
  });

  it("with another broadcaster: media time never goes back, and a new clock", () => {
    const before = new LiveStream("s", "c", 120);
    before.start(broadcaster("b1"));
    feed(before, 100, T0);
    const state = before.clockState()!;
    const after = new LiveStream("s", "a", 120);
    after.start(broadcaster("b2"));
    after.continueFrom(state, false);
    const [first] = feed(after, 1, T0 + 60e6);
    assert.equal(first!.mediaTime, state.mediaTime, "media time goes on, without the gap (another sound card)");
    assert.equal(first!.seq, state.seq);
    assert.equal(after.syncTick(false)!.anchorClusterUs, T0 + 60e6, "the clock starts from this broadcaster's first frame");
  });

  it("a resumed broadcast keeps its clock line through the burst of frames it sends on reconnecting", () => {
    const s = new LiveStream("s", "a", 120);
    s.start(broadcaster("b1"));
    feed(s, 600, T0);
    const line = s.syncTick(true)!;
    s.stop("b1", "disconnect");
    s.start(broadcaster("b2"), undefined, undefined, "b1");
    // 200 ms later: 10 frames at once (the backlog), then on time again
    const at = T0 + 600 * 20_000 + 200_000;
    for (let i = 0; i < 10; i++) s.stamp(frame(), 0, FRAME, at + i * 100);
    feed(s, 100, at + 20_000);
    const tick = s.syncTick(true)!;
    assert.ok(Math.abs(clusterTimeOf(tick, tick.validFrom) - clusterTimeOf(line, tick.validFrom)) < 50, "the burst did not pull the line");
  });
});

describe("failover: the failure detector (beats on the media bus)", () => {
  it("suspects a node that stops beating, and hears it again", async () => {
    const bus = new LocalBus(log);
    const a = new Liveness(bus, "a", 300, log);
    const b = new Liveness(bus, "b", 300, log);
    const suspected: string[] = [];
    b.onSuspect((id) => suspected.push(id));
    a.start();
    b.start();
    await sleep(400);
    assert.deepEqual(suspected, [], "nobody suspected while everyone beats");
    a.stop();
    await sleep(700);
    assert.deepEqual(suspected, ["a"]);
    assert.ok(b.isSuspect("a") && !b.isSuspect("b"));
    a.start();
    await sleep(250);
    assert.equal(b.isSuspect("a"), false, "heard again");
    a.stop();
    b.stop();
  });

  it("judges nobody while its own beats do not come back (cut off from the bus)", async () => {
    const real = new LocalBus(log);
    let cut = false;
    // a bus that, once cut, neither delivers nor sends
    const bus: MediaBus = { kind: "test", publish: (s, d) => (cut ? undefined : real.publish(s, d)), subscribe: (s, h) => real.subscribe(s, (d) => (cut ? undefined : h(d))), close: async () => undefined };
    const other = setInterval(() => real.publish(subjects.beat, new TextEncoder().encode("x")), 100);
    const me = new Liveness(bus, "me", 300, log);
    const stalls: number[] = [];
    me.onStall((ms) => stalls.push(ms));
    me.start();
    await sleep(400);
    cut = true;
    await sleep(800);
    assert.equal(me.isSuspect("x"), false, "x beat all along: a node that cannot hear itself does not judge it");
    assert.ok(me.unseenMs() > 500, `unseen for ${me.unseenMs()} ms`);
    assert.ok(stalls.some((ms) => ms > 500), "the stall listeners (the stream actor's fence) were told");
    cut = false;
    await sleep(300);
    assert.equal(me.isSuspect("x"), false);
    clearInterval(other);
    me.stop();
  });
});

describe("failover: a gateway's relay drops a replaced owner's late frames", () => {
  it("drops a frame that goes back in media time unflagged, passes a flagged one", () => {
    const bus = new LocalBus(log);
    const got: number[] = [];
    const relay = new StreamRelay(bus, "s", 0, new NodeMetrics(), (f) => got.push(decodeAudioData(f).mediaTime));
    const send = (mediaTime: number, seq: number, flags = 0) => bus.publish(subjects.audio("s", 0), encodeAudioData({ rendition: 0, flags, seq, mediaTime, duration: FRAME, packet: new Uint8Array([0xfc, 0xff, 0xfe]) }));
    send(100 * FRAME, 10);
    send(101 * FRAME, 11);
    send(140 * FRAME, 50, AudioFlag.DISCONTINUITY); // the new owner, past the gap
    send(102 * FRAME, 12); // the old owner's late frame
    send(141 * FRAME, 51);
    send(0, 0, AudioFlag.DISCONTINUITY); // a new timeline (the stream started again from nothing)
    assert.deepEqual(got, [100, 101, 140, 141, 0].map((x) => x * FRAME));
    assert.equal(relay.snapshot().staleFrames, 1);
    relay.close();
  });
});
