/**
 * The player's audio clock (client/browser/audio-clock.ts) on scripted getOutputTimestamp() points
 * with known truth: a device 100 ppm slow, ±15 µs of reporting noise, late callbacks, and a step
 * of its timeline (a glitch). The line must follow the step within a few points, and must not be
 * moved by single late callbacks.
 */
import { strict as assert } from "node:assert";
import { AudioClock, type OutputTimestampSource } from "../../client/browser/audio-clock";
import { seededRandom } from "../../bench/sync/virtual-clock";

const RATE = 48_000;
const EPOCH_US = 1.8e15;

/** A device whose frame F is heard at performance time base + F·period (+ a step after `stepAtS`). */
class ScriptedDevice implements OutputTimestampSource {
  readonly state = "running";
  readonly sampleRate = RATE;
  contextTime = 0.5;
  /** Extra delay of the next reported point only (a late callback), ms. */
  lateMs = 0;
  stepMs = 0;
  private readonly random = seededRandom(5);
  readonly usPerFrame = (1e6 / RATE) * (1 + 100e-6);

  /** Client µs at which frame `frame` is truly heard. */
  trueLocalUs(frame: number): number {
    return EPOCH_US + 2e6 + frame * this.usPerFrame + this.stepMs * 1000;
  }

  getOutputTimestamp(): { contextTime: number; performanceTime: number } {
    const frame = this.contextTime * RATE;
    const noiseUs = (this.random() * 2 - 1) * 15;
    const performanceTime = (this.trueLocalUs(frame) - EPOCH_US + noiseUs) / 1000 + this.lateMs;
    this.lateMs = 0;
    return { contextTime: this.contextTime, performanceTime };
  }
}

describe("AudioClock (getOutputTimestamp → client time)", () => {
  function run(events: (t: number, device: ScriptedDevice) => void, seconds: number) {
    const device = new ScriptedDevice();
    const clock = new AudioClock(device, (ms) => EPOCH_US + ms * 1000);
    const errors: Array<{ t: number; errorUs: number }> = [];
    for (let t = 0; t < seconds; t += 0.05) {
      events(t, device);
      device.contextTime += 0.05;
      clock.sample();
      const frame = device.contextTime * RATE;
      if (clock.ready) errors.push({ t, errorUs: clock.localAt(frame) - device.trueLocalUs(frame) });
    }
    return { clock, errors };
  }
  const worst = (errors: Array<{ t: number; errorUs: number }>, from: number, to: number) =>
    Math.max(...errors.filter((e) => e.t >= from && e.t < to).map((e) => Math.abs(e.errorUs)));

  it("follows the device within 30 µs, whatever single late callbacks report", () => {
    const { clock, errors } = run((t, d) => {
      if (Math.abs(t % 3 - 1) < 0.01) d.lateMs = 1.2; // a 1.2 ms late callback every 3 s
    }, 20);
    assert.equal(clock.restarts, 0);
    assert.ok(worst(errors, 2, 20) < 30, `worst error ${worst(errors, 2, 20).toFixed(1)} µs`);
  });

  it("starts again after a 1 ms step of the device's timeline, instead of ramping towards it", () => {
    const { clock, errors } = run((t, d) => {
      if (t >= 10) d.stepMs = 1;
    }, 20);
    assert.equal(clock.restarts, 1);
    // the 4 points of the step are held back (200 ms), then the line is on the new timeline
    assert.ok(worst(errors, 10.3, 20) < 30, `worst error after the step ${worst(errors, 10.3, 20).toFixed(1)} µs`);
  });
});
