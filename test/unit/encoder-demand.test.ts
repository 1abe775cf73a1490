/**
 * When a stream's encoder runs (actors/stream/encoder-demand.ts), against a stand-in stream and
 * encoder: paused after idleMs with no listener needing Opus, resumed (and the clock's
 * discontinuity marked) when one comes; an encoder that cannot pause (raw PCM) is not asked again;
 * an answer meant for a previous broadcaster's encoder is ignored; the state recorded is the one
 * the encoder answers.
 */
import { strict as assert } from "node:assert";
import { EncoderDemand, type EncoderState } from "../../actors/stream/encoder-demand";
import type { LiveStream } from "../../actors/stream/live-stream";

const tick = () => new Promise((r) => setImmediate(r));

function setup(answers: { pause: EncoderState; resume: EncoderState }, idleMs = 1000) {
  const calls: string[] = [];
  let discontinuities = 0;
  let release: (() => void) | null = null;
  const stream = { streamId: "s", lifecycle: { state: "live" }, format: "mp3", opusListeners: 0, usedRungs: () => new Set<number>(), markDiscontinuity: () => discontinuities++ };
  const demand = new EncoderDemand({
    idleMs,
    pause: async () => {
      calls.push("pause");
      if (release === null) return answers.pause;
      await new Promise<void>((r) => (release = r));
      return answers.pause;
    },
    resume: async () => (calls.push("resume"), answers.resume),
    onError: (err) => assert.fail(String(err)),
  });
  return { demand, calls, stream, live: stream as unknown as LiveStream, discontinuities: () => discontinuities, hold: () => (release = () => undefined), release: () => release?.() };
}

describe("encoder demand", () => {
  it("pauses after idleMs without a listener needing Opus; a listener resumes it and marks a discontinuity", async () => {
    const t = setup({ pause: { paused: true, changed: true }, resume: { paused: false, changed: true } });
    t.demand.update(t.live, 0);
    t.demand.update(t.live, 999);
    assert.deepEqual(t.calls, []);
    t.demand.update(t.live, 1000);
    await tick();
    assert.deepEqual(t.calls, ["pause"]);
    assert.ok(t.demand.isPaused("s"));
    t.stream.opusListeners = 1;
    t.demand.update(t.live, 1500);
    await tick();
    assert.deepEqual(t.calls, ["pause", "resume"]);
    assert.ok(!t.demand.isPaused("s"));
    assert.equal(t.discontinuities(), 1);
    t.demand.update(t.live, 2000);
    await tick();
    assert.equal(t.calls.length, 2, "running and needed: nothing to do");
  });

  it("an encoder that cannot pause (raw PCM answers paused false, unchanged) is not asked again until a new broadcaster", async () => {
    const t = setup({ pause: { paused: false, changed: false }, resume: { paused: false, changed: false } });
    t.demand.update(t.live, 0);
    t.demand.update(t.live, 1000);
    await tick();
    for (let now = 2000; now < 6000; now += 1000) t.demand.update(t.live, now);
    await tick();
    assert.deepEqual(t.calls, ["pause"]);
    t.demand.reset("s");
    t.demand.update(t.live, 6000);
    t.demand.update(t.live, 7000);
    await tick();
    assert.deepEqual(t.calls, ["pause", "pause"]);
  });

  it("ignores the answer of a pause made for the previous broadcaster's encoder; an Opus stream has no encoder to pause", async () => {
    const t = setup({ pause: { paused: true, changed: true }, resume: { paused: false, changed: true } });
    t.hold();
    t.demand.update(t.live, 0);
    t.demand.update(t.live, 1000);
    t.demand.reset("s"); // a new broadcaster while the pause is under way
    t.release();
    await tick();
    assert.ok(!t.demand.isPaused("s"), "the new encoder runs");
    t.stream.format = "opus";
    t.demand.update(t.live, 5000);
    await tick();
    assert.deepEqual(t.calls, ["pause"]);
  });
});
