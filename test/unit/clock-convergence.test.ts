/**
 * Convergence after join (issue 18, item 1), in bench/sync's offline model
 * (bench/sync/offline-model.ts) on the real delays bench/sync recorded (bench/sync/delays-100.json),
 * seeded: no timing in the assertions. docs/benchmarks.md, "Convergence after join".
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DEFAULT_PING_SCHEDULE, pingsBy } from "../../media/clock/clock-pinger";
import { convergedAfterS, runOfflineModel, type RecordedDelays } from "../../bench/sync/offline-model";

const real = JSON.parse(fs.readFileSync(path.join(__dirname, "../../bench/sync/delays-100.json"), "utf8")) as RecordedDelays;
const model = { listeners: 100, seconds: 60, upJitterMs: 20, downJitterMs: 10, schedule: DEFAULT_PING_SCHEDULE, windowS: 120, floorResolutionUs: 30, seed: 7, real };

describe("clock sync convergence after join (offline model)", () => {
  it("with each clock's drift known, every listener converges within 2 s of joining", () => {
    // the offset part of the estimator is good from the start: what makes slow listeners slow is the drift
    const converged = runOfflineModel({ ...model, trueDrift: true }).map((l) => convergedAfterS(l.errorsUs));
    assert.ok(Math.max(...converged) <= 2, `slowest ${Math.max(...converged)} s`);
  });

  it("counts what a schedule costs a gateway per listener (pingsBy)", () => {
    assert.equal(pingsBy(DEFAULT_PING_SCHEDULE, 2_000), 1000);
    assert.equal(pingsBy(DEFAULT_PING_SCHEDULE, 15_000), 3600);
    assert.equal(pingsBy(DEFAULT_PING_SCHEDULE, 75_000), 6600);
    assert.equal(pingsBy({ ...DEFAULT_PING_SCHEDULE, burstForMs: 3_000 }, 3_000), 1500);
  });
});
