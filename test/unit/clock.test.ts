/**
 * The sync algorithms on synthetic data with known truth: clock offset and drift, broadcaster
 * skew, one-sided uniform jitter. Each has a twin with compensation switched off that must fail
 * the same bound, so the tests show what the compensation does.
 */
import assert from "node:assert/strict";
import { ClockSync } from "../../media/clock/clock-sync";
import { lineAt, lowerEnvelope } from "../../media/clock/lower-envelope";
import { clusterTimeOf, MediaClock } from "../../media/clock/media-clock";
import { DeviceFollower, PlayoutSchedule } from "../../media/clock/playout";
import { seededRandom } from "../../bench/sync/virtual-clock";

describe("lower envelope (Moon, Skelly & Towsley)", () => {
  it("recovers a line under one-sided noise, and is not fooled by it", () => {
    const r = seededRandom(3);
    const xs: number[] = [];
    const ys: number[] = [];
    for (let i = 0; i < 3000; i++) {
      xs.push(1.8e15 + i * 20_000); // 60 s of µs at 50/s, at an epoch-sized origin
      ys.push(5000 + 250e-6 * i * 20_000 + r() * 20_000);
    }
    const line = lowerEnvelope(xs, ys)!;
    assert.ok(Math.abs(line.slope - 250e-6) < 2e-6, `slope ${line.slope * 1e6} ppm`);
    assert.ok(Math.abs(lineAt(line, xs[2999]!) - (5000 + 250e-6 * 2999 * 20_000)) < 150, "floor at the end within 150 µs");
    // a least-squares fit would sit in the middle of the noise, ~10 ms above the floor
    assert.ok(lineAt(line, xs[0]!) < 5000 + 200);
  });
});

describe("ClockSync", () => {
  function simulate(compensateDrift: boolean, seconds: number) {
    const r = seededRandom(11);
    const offsetUs = 734_000;
    const driftPpm = 180;
    const local = (t: number) => t * (1 + driftPpm / 1e6) + offsetUs;
    const sync = new ClockSync({ compensateDrift });
    const start = 1.8e15;
    const exchanges: Array<{ at: number; add: () => void }> = [];
    for (let t = start; t - start < seconds * 1e6; t += t - start < 2e6 ? 2000 : t - start < 15e6 ? 5000 : 20_000) {
      const up = r() * 20_000;
      const down = r() * 10_000;
      const t1 = t + up;
      const t2 = t1 + 15;
      const t3True = t2 + down;
      const at = t3True;
      const t0 = local(t);
      const t3 = local(t3True);
      exchanges.push({ at, add: () => sync.add(t0, t1, t2, t3) });
    }
    exchanges.sort((a, b) => a.at - b.at);
    for (const e of exchanges) e.add();
    const end = start + seconds * 1e6;
    return { errorUs: sync.toCluster(local(end)) - end, driftPpm: sync.driftPpm };
  }

  it("finds offset and drift under 0-20 ms asymmetric jitter", () => {
    const { errorUs, driftPpm } = simulate(true, 60);
    assert.ok(Math.abs(errorUs) < 60, `offset error ${errorUs.toFixed(1)} µs`);
    assert.ok(Math.abs(driftPpm + 180) < 3, `drift ${driftPpm.toFixed(2)} ppm (cluster is 180 ppm slower)`);
  });

  it("without drift compensation, the same run is off by milliseconds", () => {
    const { errorUs } = simulate(false, 60);
    assert.ok(Math.abs(errorUs) > 1000, `offset error ${errorUs.toFixed(1)} µs`);
  });

  it("takes the middle of the drifts the floors allow, not an end", () => {
    // Both directions' floors rise 100 µs over 10 s (client clock = cluster time): the forward
    // floor alone says +10 ppm, the backward alone −10 ppm, and every drift between fits both
    // equally well. The widest band's own slope is one of the ends; the posterior mean is 0.
    const sync = new ClockSync();
    const start = 1.8e15;
    const exchange = (t0: number, up: number, down: number) => sync.add(t0, t0 + up, t0 + up + 15, t0 + up + 15 + down);
    exchange(start, 1000, 1000);
    for (let t = 100_000; t < 10e6; t += 100_000) exchange(start + t, 5000, 5000);
    exchange(start + 10e6, 1100, 1100);
    assert.ok(Math.abs(sync.driftPpm) < 1, `drift ${sync.driftPpm.toFixed(2)} ppm`);
    assert.ok(Math.abs(sync.offsetAt(start + 5e6)) < 10, `offset ${sync.offsetAt(start + 5e6).toFixed(1)} µs`);
  });
});

describe("MediaClock", () => {
  /** A broadcaster `skewPpm` off 48 kHz for `seconds`; arrivals jittered 0-20 ms. Returns the mapping error at the end, µs. */
  function endError(compensateDrift: boolean, seconds: number, skewPpm: number): number {
    const r = seededRandom(5);
    const clock = new MediaClock({ compensateDrift });
    const t0 = 1.8e15;
    const usPerSample = 1e6 / (48_000 * (1 + skewPpm / 1e6));
    let m = 0;
    for (; m * usPerSample < seconds * 1e6; m += 960) clock.add(m, t0 + 3000 + m * usPerSample + r() * 20_000);
    const mapping = clock.mapping(m)!;
    return clusterTimeOf(mapping, m) - (t0 + 3000 + m * usPerSample);
  }

  for (const skew of [300, -300]) {
    it(`keeps the end-to-end delay constant over 3 minutes of a broadcaster ${skew} ppm off`, () => {
      const err = endError(true, 180, skew);
      assert.ok(Math.abs(err) < 300, `mapping off by ${err.toFixed(0)} µs after 180 s`);
    });
  }

  it("without rate estimation, a slow broadcaster's delay drifts by tens of ms", () => {
    // at the nominal rate, the floor of a 120 s window touches its oldest frame: 300 ppm × 120 s
    const err = endError(false, 180, -300);
    assert.ok(Math.abs(err) > 30_000, `mapping off by ${err.toFixed(0)} µs after 180 s`);
  });
});

describe("DeviceFollower", () => {
  it("locks a drifting device onto the schedule within 0.05 ms and stays there", () => {
    const schedule = new PlayoutSchedule();
    schedule.add({ anchorMediaTime: 0, anchorClusterUs: 1e12, rateHz: 48_014.4, validFrom: 0, playoutDelayMs: 120 });
    const follower = new DeviceFollower();
    const deviceDrift = 1 - 150e-6; // the device's 48 kHz is 150 ppm slow in cluster time
    let worst = 0;
    for (let k = 0; k < 48_000 * 30; k += 128) {
      const c0 = 1e12 + 200_000 + (k / 48_000) * 1e6 / deviceDrift;
      const c1 = 1e12 + 200_000 + ((k + 128) / 48_000) * 1e6 / deviceDrift;
      const plan = follower.plan(schedule, c0, c1, 128)!;
      if (k > 48_000 * 5) worst = Math.max(worst, Math.abs(plan.errorUs));
    }
    assert.ok(worst < 50, `worst error after 5 s: ${worst.toFixed(1)} µs`);
    assert.equal(follower.resyncs, 0);
  });

  it("takes a tick that moves the mapping inside a block as a phase error, never as a rate jump", () => {
    const schedule = new PlayoutSchedule();
    const tick = { anchorMediaTime: 0, anchorClusterUs: 1e12, rateHz: 48_000, validFrom: 0, playoutDelayMs: 120 };
    schedule.add(tick);
    // from media time 48 000 + 64 (inside a block), the mapping is 5 ms later: a hard resync
    schedule.add({ ...tick, anchorMediaTime: 48_064, anchorClusterUs: 1e12 + 1e6 + 1333 + 5000, validFrom: 48_064 });
    const follower = new DeviceFollower();
    let worstRatePpm = 0;
    for (let k = 0; k < 48_000 * 3; k += 128) {
      const c0 = 1e12 + 120_000 + (k / 48_000) * 1e6;
      const plan = follower.plan(schedule, c0, c0 + (128 / 48_000) * 1e6, 128)!;
      worstRatePpm = Math.max(worstRatePpm, Math.abs(plan.ratio - 1) * 1e6);
    }
    assert.ok(worstRatePpm <= 500 + 1, `largest rate change ${worstRatePpm.toFixed(0)} ppm`);
    assert.equal(follower.resyncs, 1, "one hard resync for the 5 ms step");
  });

  it("follows a new tick's step over 0.5 ms at once, and slews through a smaller one", () => {
    const run = (stepUs: number) => {
      const schedule = new PlayoutSchedule();
      const tick = { anchorMediaTime: 0, anchorClusterUs: 1e12, rateHz: 48_000, validFrom: 0, playoutDelayMs: 120 };
      schedule.add(tick);
      schedule.add({ ...tick, anchorMediaTime: 48_000, anchorClusterUs: 1e12 + 1e6 + stepUs, validFrom: 48_000 });
      const follower = new DeviceFollower();
      let errorAfter = 0;
      for (let k = 0; k < 48_000 * 1.1; k += 128) {
        const c0 = 1e12 + 120_000 + (k / 48_000) * 1e6;
        const plan = follower.plan(schedule, c0, c0 + (128 / 48_000) * 1e6, 128)!;
        if (k >= 48_000 + 256) errorAfter = Math.max(errorAfter, Math.abs(plan.errorUs));
      }
      return { resyncs: follower.resyncs, errorAfter };
    };
    const big = run(1400);
    assert.equal(big.resyncs, 1);
    assert.ok(big.errorAfter < 1, `after a 1.4 ms step: ${big.errorAfter.toFixed(2)} µs off`);
    const small = run(300);
    assert.equal(small.resyncs, 0);
    assert.ok(small.errorAfter > 200, `a 0.3 ms step is slewed: ${small.errorAfter.toFixed(0)} µs at most`);
  });
});
