/**
 * The broadcaster page (GET /broadcast/:streamId) in real headless Chromium against a real node:
 * it goes live with Chromium's fake microphone (a real beep, twice a second) and a Node listener
 * receives non-silent Opus; it broadcasts a local file (apex-aleph.ogg) that the listener hears as
 * that recording; it falls back to MediaRecorder WebM/Opus; and it shows the server's refusal.
 */
import assert from "node:assert/strict";
import path from "node:path";
import type { Page } from "playwright-core";
import type { Broadcast } from "../../bin/commands/broadcast";
import { Listener } from "../../bin/commands/listen";
import type { BroadcasterStats } from "../../client/core/stats";
import { bestAlignment, decodeFileWithFfmpeg, decodeOpusPackets } from "../support/audio-match";
import { testToken } from "../support/auth";
import { broadcasterStats, launchChromium, screenshot, waitForValue, type Browser } from "../support/browser";
import { startBroadcast } from "../support/broadcast";
import { MEDIA, sleep, startNodeProcess, waitFor, type NodeProcess } from "../support/node-process";

/** RMS (linear) under which decoded audio counts as silence (about -40 dBFS). */
const SILENCE_RMS = 0.01;

/**
 * A DC blocker (one-pole high-pass, about 40 Hz at 48 kHz). The opening of apex-aleph.ogg carries a
 * large, slowly decaying DC offset that Opus's encoder removes (its DC reject filter); the
 * comparison filters both sides the same way so that offset does not count as a difference.
 */
function dcBlock(pcm: Float32Array): Float32Array {
  const out = new Float32Array(pcm.length);
  let prevIn = 0;
  let prevOut = 0;
  for (let i = 0; i < pcm.length; i++) {
    const x = pcm[i] ?? 0;
    prevOut = x - prevIn + 0.995 * prevOut;
    prevIn = x;
    out[i] = prevOut;
  }
  return out;
}

const rms = (pcm: Float32Array) => Math.sqrt(pcm.reduce((a, x) => a + x * x, 0) / Math.max(1, pcm.length));

/** Waits until the broadcaster page's stats satisfy `predicate`; returns them. */
const waitForBroadcaster = (page: Page, predicate: (s: BroadcasterStats) => boolean, timeoutMs: number, what: string) =>
  waitForValue(() => broadcasterStats(page), (s) => s !== null && predicate(s), timeoutMs, what) as Promise<BroadcasterStats>;

/** Opens a listener on `streamId` that keeps every Opus packet it receives. */
async function recordingListener(url: string, streamId: string): Promise<{ listener: Listener; packets: Uint8Array[] }> {
  const listener = new Listener(url, streamId);
  await listener.opened;
  const packets: Uint8Array[] = [];
  listener.onFrame = (frame) => packets.push(frame.packet.slice());
  return { listener, packets };
}

/** The broadcaster page of `streamId` (with `query`, e.g. "?encoder=…") as a broadcaster's link opens it: a publish token in the fragment. */
async function broadcasterUrl(http: string, streamId: string, query = ""): Promise<string> {
  return `${http}/broadcast/${streamId}${query}#token=${await testToken("publish", [streamId])}`;
}

/** Opens the broadcaster page, fills in the form and clicks Go live; waits until it is live. */
async function goLive(page: Page, url: string, o: { title: string; file?: string }): Promise<BroadcasterStats> {
  await page.goto(url);
  if (o.file) {
    await page.getByLabel("Audio file", { exact: true }).check();
    await page.getByLabel("Audio file to broadcast").setInputFiles(o.file);
  }
  await page.getByLabel("Title").fill(o.title);
  await page.getByRole("button", { name: "Go live" }).click();
  return waitForBroadcaster(page, (s) => s.state.state === "live", 10_000, "the broadcaster to be live");
}

describe("browser: broadcaster page in headless Chromium", function () {
  this.timeout(90_000);
  let node: NodeProcess;
  let browser: Browser;

  before(async () => {
    [node, browser] = await Promise.all([startNodeProcess(), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await node?.stop();
  });

  it("goes live with the fake microphone (WebCodecs Opus); a Node listener receives non-silent frames", async () => {
    const page = await browser.newPage();
    const live = await goLive(page, await broadcasterUrl(node.http, "mic"), { title: "Fake microphone" });
    assert.equal(live.encoder, "webcodecs");
    const { listener, packets } = await recordingListener(node.url, "mic");
    assert.equal(listener.last("stream.status")?.title, "Fake microphone");
    await waitFor(() => packets.length >= 150, 10_000, "3 s of Opus frames from the page");
    await waitForBroadcaster(page, (s) => s.listeners === 1, 5000, "the page to show 1 listener");
    assert.equal(await page.locator("#listeners").innerText(), "1 listener");
    await waitForBroadcaster(page, (s) => s.peak > 0.05, 2000, "the page's meter to show a beep");
    const pcm = await decodeOpusPackets(packets.slice(0, 150), 2);
    const level = rms(pcm);
    console.log(`      fake microphone as received: ${packets.length} frames, RMS ${level.toFixed(3)}`);
    assert.ok(level > SILENCE_RMS, `RMS ${level}: the listener hears silence`);
    assert.equal(listener.stats.seqGaps, 0);
    await waitForBroadcaster(page, (s) => s.rms > 0.05, 2000, "a beep on the meter");
    await screenshot(page, "broadcaster");
    await page.getByRole("button", { name: "Stop" }).click();
    await waitFor(() => listener.last("stream.status")?.state === "ended", 5000, "the stream to end");
    assert.equal(await page.locator("#state").innerText(), "stopped");
    listener.close();
    await page.close();
  });

  it("broadcasts a local file (apex-aleph.ogg) that the listener hears as that recording", async () => {
    const page = await browser.newPage();
    const file = path.join(MEDIA, "apex-aleph.ogg");
    await goLive(page, await broadcasterUrl(node.http, "file"), { title: "Apex Aleph", file });
    const { listener, packets } = await recordingListener(node.url, "file");
    await waitFor(() => packets.length >= 250, 15_000, "5 s of Opus frames from the page");
    const stats = await broadcasterStats(page);
    assert.match(stats?.source ?? "", /apex-aleph\.ogg/);
    const received = await decodeOpusPackets(packets.slice(0, 250), 2);
    const source = await decodeFileWithFfmpeg(file, { seconds: 15 });
    const match = bestAlignment(dcBlock(received).subarray(4800), dcBlock(source));
    console.log(`      file as received: correlation ${match.correlation.toFixed(3)} at ${(match.lagSamples / 48).toFixed(0)} ms into the file`);
    assert.ok(match.correlation >= 0.9, `the listener hears apex-aleph.ogg: correlation ${match.correlation}`);
    await page.getByRole("button", { name: "Stop" }).click();
    listener.close();
    await page.close();
  });

  it("falls back to MediaRecorder WebM/Opus (format webm, encoded again by the server)", async () => {
    const page = await browser.newPage();
    const live = await goLive(page, await broadcasterUrl(node.http, "mic-webm", "?encoder=mediarecorder"), { title: "Recorder" });
    assert.equal(live.encoder, "mediarecorder");
    const { listener, packets } = await recordingListener(node.url, "mic-webm");
    assert.equal(listener.last("stream.status")?.format, "webm");
    await waitFor(() => packets.length >= 150, 15_000, "3 s of Opus frames from the server's encoder");
    const level = rms(await decodeOpusPackets(packets.slice(0, 150), 2));
    console.log(`      MediaRecorder path as received: RMS ${level.toFixed(3)}`);
    assert.ok(level > SILENCE_RMS, `RMS ${level}: the listener hears silence`);
    assert.match(await page.locator("#encoder").innerText(), /MediaRecorder/);
    await page.getByRole("button", { name: "Stop" }).click();
    listener.close();
    await page.close();
  });

  it("shows the server's refusal when the stream already has a broadcaster", async () => {
    let other: Broadcast | null = null;
    const page = await browser.newPage();
    try {
      other = await startBroadcast(node.url, "taken", "awakening.ogg", "opus");
      await page.goto(await broadcasterUrl(node.http, "taken"));
      await page.getByRole("button", { name: "Go live" }).click();
      await waitForBroadcaster(page, (s) => s.state.state === "failed", 10_000, "the refusal");
      assert.match(await page.locator("#errors").innerText(), /BROADCASTER_EXISTS/);
      assert.match(await page.locator("#state").innerText(), /refused: BROADCASTER_EXISTS/);
      assert.equal(await page.getByRole("button", { name: "Go live" }).isEnabled(), true, "the user can try again");
      await sleep(200);
    } finally {
      await other?.stop();
      await page.close();
    }
    assert.deepEqual(browser.errors, [], "no page errors");
  });
});
