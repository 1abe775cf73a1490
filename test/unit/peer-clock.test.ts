/**
 * A gateway's estimate of a stream owner's clock (actors/cluster/peer-clock.ts), over a real
 * in-process media bus, with the owner's clock skewed: ticks come out mapped into the gateway's
 * clock; bad clock messages are ignored.
 */
import assert from "node:assert/strict";
import pino from "pino";
import { PeerClocks } from "../../actors/cluster/peer-clock";
import { NodeMetrics } from "../../actors/metrics";
import { clusterNowUs } from "../../media/clock/cluster-time";
import { clusterTimeOf } from "../../media/clock/media-clock";
import type { SyncTick } from "../../media/clock/playout";
import { LocalBus } from "../../transports/bus/local-bus";
import { sleep, waitFor } from "../support/node-process";

const log = pino({ level: "silent" });
const OFFSET_US = 30_000;
const DRIFT = 150e-6;

describe("peer clock: a gateway's estimate of a stream owner's clock", function () {
  this.timeout(20_000);

  it("maps the owner's tick into the gateway's clock once ready, within 100 µs; holds it back before", async () => {
    const bus = new LocalBus(log);
    const t0 = clusterNowUs();
    // the owner's clock: 30 ms ahead and 150 ppm fast of the gateway's
    const ownerNow = () => {
      const t = clusterNowUs();
      return t + OFFSET_US + (t - t0) * DRIFT;
    };
    const owner = new PeerClocks(bus, "owner.1", true, new NodeMetrics(), log, ownerNow);
    const gateway = new PeerClocks(bus, "gw-1", true, new NodeMetrics(), log);
    const readies: string[] = [];
    gateway.onReady((peer) => readies.push(peer));
    owner.start();
    gateway.start();
    try {
      const tick: SyncTick = { anchorMediaTime: 48_000, anchorClusterUs: ownerNow(), rateHz: 48_010, validFrom: 48_000, playoutDelayMs: 120 };
      assert.equal(gateway.mapTick(tick, "owner.1"), null, "not ready at first");
      assert.equal(gateway.mapTick(tick, "gw-1"), tick, "its own ticks need no mapping");
      await waitFor(() => gateway.mapTick(tick, "owner.1") !== null, 5000, "the estimate");
      assert.deepEqual(readies, ["owner.1"]);
      await sleep(500);
      const mapped = gateway.mapTick(tick, "owner.1")!;
      // the gateway's time of the owner's instant, 2 s of media later
      const m = tick.anchorMediaTime + 96_000;
      const ownerUs = clusterTimeOf(tick, m);
      const trueGatewayUs = t0 + (ownerUs - t0 - OFFSET_US) / (1 + DRIFT);
      assert.ok(Math.abs(clusterTimeOf(mapped, m) - trueGatewayUs) < 100, `mapped ${clusterTimeOf(mapped, m) - trueGatewayUs} µs off`);
      const [state] = gateway.states();
      assert.equal(state!.peer, "owner.1");
      assert.ok(Math.abs(state!.driftPpm - 150) < 20, `drift ${state!.driftPpm} ppm`);
    } finally {
      owner.stop();
      gateway.stop();
    }
  });

  it("ignores clock messages that are not JSON or lack their fields, and answers the next good one", () => {
    const bus = new LocalBus(log);
    const owner = new PeerClocks(bus, "o", true, new NodeMetrics(), log);
    owner.start();
    const pongs: string[] = [];
    bus.subscribe("clock.pong.g", (d) => pongs.push(new TextDecoder().decode(d)));
    try {
      for (const bad of ["", "{", "null", "[]", '{"id":1,"t0":"x","from":"g"}', '{"id":1,"t0":1,"from":"g.h"}', '{"id":1,"t0":1}']) {
        bus.publish("clock.ping.o", new TextEncoder().encode(bad));
      }
      bus.publish("clock.pong.o", new TextEncoder().encode('{"t0":1,"t1":2,"t2":3,"by":"nobody"}'));
      assert.equal(pongs.length, 0);
      bus.publish("clock.ping.o", new TextEncoder().encode('{"id":7,"t0":123,"from":"g"}'));
      assert.equal(pongs.length, 1);
      assert.match(pongs[0]!, /^\{"id":7,"t0":123,"t1":[\d.]+,"t2":[\d.]+,"by":"o"\}$/);
    } finally {
      owner.stop();
    }
  });
});
