/**
 * Synchronised playout in the player's worklet (client/core/sync-playout.ts, pcm-timeline.ts) on
 * synthetic truth: a sine as the stream, a broadcaster 300 ppm fast, a device 100 ppm slow. What
 * the player renders is compared with the sine at the media position the schedule asks for at the
 * moment each device sample is heard; at 1 kHz a phase error of 1 µs shows as an amplitude error of
 * 0.006, so the checks below hold sync to about a µs, from the first audible sample.
 */
import { strict as assert } from "node:assert";
import { PlayoutSchedule, type SyncTick } from "../../media/clock/playout";
import { PcmTimeline } from "../../client/core/pcm-timeline";
import { SyncPlayout, type DeviceClockMap } from "../../client/core/sync-playout";

const RATE = 48_000;
const BLOCK = 128;
const C0 = 1_795_000_000_000_000; // cluster µs, about now
const TONE_HZ = 1000;

const tone = (hz: number) => (m: number) => Math.sin((2 * Math.PI * hz * m) / RATE);

/** Pieces of `length` samples of `f` from media time `from` to `to`, stereo. */
function fill(put: (start: number, planes: Float32Array[]) => void, f: (m: number) => number, from: number, to: number, length = 960): void {
  for (let start = from; start < to; start += length) {
    const p = Float32Array.from({ length }, (_, i) => f(start + i));
    put(start, [p, p.slice()]);
  }
}

describe("sync playout (player worklet)", () => {
  describe("PcmTimeline: cubic Hermite reads", () => {
    it("reads integer positions exactly and across pieces; counts what is not held", () => {
      const t = new PcmTimeline();
      fill((s, p) => t.put(s, p), (m) => m / 1000, 0, 1920);
      const out = [new Float32Array(8), new Float32Array(8)];
      assert.equal(t.read(out, 955, 1, 8).missing, 0);
      assert.deepEqual([...out[0]!].map((x) => Math.round(x * 1000)), [955, 956, 957, 958, 959, 960, 961, 962]);
      assert.equal(t.read(out, 1915, 1, 8).missing, 5, "positions from 1918 need samples past 1919");
      t.dropBefore(960);
      assert.equal(t.heldSamples, 960);
      assert.equal(t.contiguousFrom(1000), 920);
    });

    it("interpolates a 1 kHz tone within 1e-3 and a 10 kHz tone within 0.07 (−0.5 dB worst case) at fractional positions", () => {
      for (const [hz, bound] of [[1000, 1e-3], [10_000, 0.07]] as const) {
        const t = new PcmTimeline();
        fill((s, p) => t.put(s, p), tone(hz), 0, 9600);
        const out = [new Float32Array(4096)];
        const start = 100.5; // offset ½: the interpolator's worst case
        const ratio = 1 + 300e-6;
        t.read(out, start, ratio, 4096);
        const worst = Math.max(...out[0]!.map((y, i) => Math.abs(y - tone(hz)(start + i * ratio))));
        assert.ok(worst < bound, `${hz} Hz: error ${worst}`);
      }
    });
  });

  describe("SyncPlayout", () => {
    const tick: SyncTick = { anchorMediaTime: 0, anchorClusterUs: C0, rateHz: RATE * (1 + 300e-6), validFrom: 0, playoutDelayMs: 120 };
    /** Device 100 ppm slow: frame 0 heard 200 ms after the anchor. */
    const map = (shiftUs = 0): DeviceClockMap => ({ frame: 0, clusterUs: C0 + 200_000 + shiftUs, usPerFrame: (1e6 / RATE) * (1 + 100e-6) });

    const truth = new PlayoutSchedule();
    truth.add(tick);

    /** Renders blocks from `frame` for `seconds`; returns the worst |rendered − the sine where it should be| and the next frame. */
    function run(p: SyncPlayout, frame: number, seconds: number, truthShiftUs = 0): { worst: number; frame: number } {
      let worst = 0;
      const out = [new Float32Array(BLOCK), new Float32Array(BLOCK)];
      for (const end = frame + seconds * RATE; frame < end; frame += BLOCK) {
        p.render(out, BLOCK, frame);
        for (let i = 0; i < BLOCK; i++) {
          const heard = map(truthShiftUs).clusterUs + (frame + i) * map().usPerFrame;
          const want = truth.mediaAt(heard)!;
          worst = Math.max(worst, Math.abs(out[0]![i]! - tone(TONE_HZ)(want)));
        }
      }
      return { worst, frame };
    }

    it("is silent until it has a clock map and a tick, then in sync from the first sample, following both clocks' drift", () => {
      const p = new SyncPlayout({ trace: true });
      // each frame arrives at the anchor's time for it (as at the stream's owner, without jitter)
      fill((s, planes) => p.push(s, planes, C0 + (s / tick.rateHz) * 1e6), tone(TONE_HZ), 0, 4 * RATE);
      const out = [new Float32Array(BLOCK), new Float32Array(BLOCK)];
      out[0]!.fill(1);
      p.render(out, BLOCK, 0);
      assert.ok(out[0]!.every((x) => x === 0), "silence while waiting");
      assert.equal(p.takeStats().state, "waiting");
      p.addTick(tick);
      p.setClock(map());
      const { worst } = run(p, BLOCK, 3);
      assert.ok(worst < 0.006, `rendered vs scheduled tone: ${worst} (0.006 is 1 µs of phase)`);
      const s = p.takeStats();
      assert.equal(s.state, "playing");
      assert.equal(s.resyncs, 0);
      assert.ok(Math.abs(s.errorUs!) < 0.5, `phase error ${s.errorUs} µs`);
      assert.ok(Math.abs(s.ratePpm! - (300 + 100)) < 1, `feed-forward ${s.ratePpm} ppm: broadcaster +300, device +100`);
      assert.ok(Math.abs(s.delayMs! - 120) < 0.1, `arrival (at the anchor's time) → heard: ${s.delayMs} ms`);
      const trace = p.takeTrace();
      assert.ok(trace.length / 2 >= 140, `${trace.length / 2} frame starts traced`);
      for (let i = 0; i < trace.length; i += 2) {
        const off = p.clusterAt(trace[i + 1]!)! - truth.playoutUs(trace[i]!)!;
        assert.ok(Math.abs(off) < 1, `frame ${trace[i]} starts ${off} µs off`);
      }
    });

    it("slews through a small clock step within 500 ppm; a step of the device map over 0.5 ms jumps (hard resync)", () => {
      const p = new SyncPlayout();
      fill((s, planes) => p.push(s, planes, null), tone(TONE_HZ), 0, 5 * RATE); // 5 s: all the timeline holds
      p.addTick(tick);
      p.setClock(map());
      let { frame } = run(p, 0, 0.5);
      // the clock estimate moves 0.4 ms: the follower is then 0.4 ms off and slews at most 500 ppm
      p.setClock(map(400));
      ({ frame } = run(p, frame, 0.5, 400));
      let s = p.takeStats();
      assert.equal(s.resyncs, 0);
      assert.ok(s.errorUs! < -100 && s.errorUs! > -200, `after 0.5 s at −500 ppm, ${s.errorUs} µs left of 400`);
      assert.ok(Math.abs(s.correctionPpm! - 500) < 1, `correction ${s.correctionPpm} ppm, clamped at 500`);
      ({ frame } = run(p, frame, 2, 400));
      s = p.takeStats();
      assert.ok(Math.abs(s.errorUs!) < 5, `converged: ${s.errorUs} µs`);
      // the device map steps 1 ms (a glitch of the device): a jump, and in sync again at the next block
      p.setClock(map(1400));
      const after = run(p, frame, 0.5, 1400);
      s = p.takeStats();
      assert.equal(s.resyncs, 1);
      assert.equal(s.state, "playing");
      assert.ok(after.worst < 0.006, `after the jump: ${after.worst}`);
    });

    it("plays silence where media is missing and counts the gap once", () => {
      const p = new SyncPlayout();
      fill((s, planes) => p.push(s, planes, null), tone(TONE_HZ), 0, 2 * RATE);
      fill((s, planes) => p.push(s, planes, null), tone(TONE_HZ), 2 * RATE + 960 * 3, 4 * RATE); // 3 frames lost
      p.addTick(tick);
      p.setClock(map());
      run(p, 0, 3);
      const s = p.takeStats();
      assert.equal(s.underruns, 1);
      assert.equal(s.resyncs, 0);
    });
  });
});
