/**
 * The short version of bench/chaos (docs/failover.md): one trial of the faults the cluster tests
 * do not inject, each on a fresh 3-node cluster with listeners on both gateways. A partition of the
 * stream's owner (its own network namespace, link down 3 s), the broadcaster's connection cut, and
 * Redis restarted empty. Every listener hears audio again, no frame comes back in media time (a
 * replaced owner's late frames are refused), no session is lost, no node crashes, and the
 * listeners' timeline does not move enough for a hard resync. The owner killed and frozen are in
 * cluster.test.ts.
 */
import assert from "node:assert/strict";
import { runTrial, type Fault } from "../../bench/chaos/trial";

describe("chaos: one trial per fault (bench/chaos, short)", function () {
  this.timeout(90_000);

  for (const fault of ["partition", "broadcaster-cut", "redis-restart"] as Fault[]) {
    it(`${fault}: every listener plays again, nothing twice, no session lost, no crash, no hard resync`, async () => {
      const r = await runTrial(fault, 0, { listenersPerGateway: 2, warmupMs: 6000, watchMs: 7000 });
      const worst = Math.max(...r.listeners.map((l) => l.silenceMs));
      console.log(`      ${fault}: silence ${r.listeners.map((l) => Math.round(l.silenceMs)).join(", ")} ms; timeline step ${Math.max(...r.listeners.map((l) => l.timelineStepUs))} µs`);
      assert.deepEqual(r.crashed, [], "no node exited");
      for (const l of r.listeners) {
        assert.ok(Number.isFinite(l.silenceMs) && l.resumeMs !== null, `a listener on ${l.gateway} never heard audio again`);
        assert.equal(l.backwards, 0, "no frame back in media time");
        assert.equal(l.sessionLost, false, "the session survived");
        assert.ok(l.timelineStepUs < 2000, `timeline moved ${l.timelineStepUs} µs (a hard resync past 2 ms)`);
      }
      // bounds of docs/failover.md, with room for a loaded CI machine
      assert.ok(worst <= 3000, `silence of ${worst} ms`);
    });
  }
});
