/**
 * The pages as a newcomer meets them (issue 10), in real headless Chromium against a real node:
 *  - /listen/<an id no broadcaster has used> says so, with links to the stream list and to the
 *    broadcaster page, and does not claim to be syncing; when a broadcaster goes live it plays;
 *  - when the broadcast ends (stop) or its broadcaster drops, the player stops showing a live
 *    delay, sync state and a Pause button, says why, and plays again when the stream is live again;
 *  - a refused broadcaster's status and error list keep BROADCASTER_EXISTS whole at phone widths;
 *  - the broadcaster's time and bytes sent are both per broadcast: kept after Stop, reset by Go live;
 *  - a broadcaster closed for good while live (taken over) says "ended by the server", shows no
 *    stale listener count, and can go live again;
 *  - a 64-character stream id and long metadata push nothing out sideways at 320 px on any page;
 *  - the stream list, when it cannot reach the node, marks the list it shows as stale and says when
 *    it was loaded (last: this stops the node).
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import WebSocket from "ws";
import type { Broadcast } from "../../bin/commands/broadcast";
import type { BroadcasterStats, PlayerStats } from "../../client/core/stats";
import { testToken } from "../support/auth";
import { broadcasterStats, launchChromium, layoutOf, playerStats, screenshot, waitForValue, type Browser } from "../support/browser";
import { startBroadcast } from "../support/broadcast";
import { sleep, startNodeProcess, type NodeProcess } from "../support/node-process";

/** RMS (linear) under which rendered audio counts as silence (about -46 dBFS). */
const SILENCE_RMS = 0.005;

const waitForPlayer = (page: Page, predicate: (s: PlayerStats) => boolean, timeoutMs: number, what: string) =>
  waitForValue(() => playerStats(page), (s) => s !== null && predicate(s), timeoutMs, what) as Promise<PlayerStats>;
const waitForBroadcaster = (page: Page, predicate: (s: BroadcasterStats) => boolean, timeoutMs: number, what: string) =>
  waitForValue(() => broadcasterStats(page), (s) => s !== null && predicate(s), timeoutMs, what) as Promise<BroadcasterStats>;

/** The broadcaster page of `streamId` as a broadcaster's link opens it: a publish token (sub `test`) in the fragment. */
async function broadcasterUrl(http: string, streamId: string): Promise<string> {
  return `${http}/broadcast/${streamId}#token=${await testToken("publish", [streamId])}`;
}

/** What the player page shows, as a user reads it. */
interface PlayerView {
  state: string;
  delay: string;
  playout: string;
  syncError: string;
  button: string;
  pressed: string | null;
  notice: string | null;
  links: string[];
  metadataShown: boolean;
}

/** Reads the page's view in one go (between two of its renders). */
function playerView(page: Page): Promise<PlayerView> {
  return page.evaluate(`(${VIEW_IN_PAGE})()`);
}

/** {@link playerView}'s half in the page (plain JavaScript: the Node tsconfig has no DOM types). */
const VIEW_IN_PAGE = `() => {
  const text = (id) => document.getElementById(id).innerText.trim();
  const notice = document.getElementById("notice");
  const play = document.getElementById("play");
  return {
    state: text("state"), delay: text("delay"), playout: text("playout"), syncError: text("sync-error"),
    button: play.innerText.replace(/^✓\\s*/, "").trim(), pressed: play.getAttribute("aria-pressed"),
    notice: notice.hidden ? null : notice.innerText.trim(),
    links: notice.hidden ? [] : [...notice.querySelectorAll("a")].map((a) => new URL(a.href).pathname),
    metadataShown: !document.getElementById("metadata").hidden,
  };
}`;

/** Waits until the page shows what `predicate` wants (the page refreshes its text every 250 ms). */
const waitForView = (page: Page, predicate: (v: PlayerView) => boolean, timeoutMs: number, what: string) =>
  waitForValue(() => playerView(page), predicate, timeoutMs, what);

describe("browser: first contact with the pages (issue 10)", function () {
  this.timeout(120_000);
  let node: NodeProcess;
  let browser: Browser;
  let broadcast: Broadcast | null = null;

  before(async () => {
    [node, browser] = await Promise.all([startNodeProcess(), launchChromium()]);
  });
  after(async () => {
    await broadcast?.abort();
    await browser?.close();
    await node?.stop();
  });

  it("player: an unknown stream says no broadcaster yet (links to the list and the broadcaster page); ended or dropped, it stops showing live figures; live again, it plays", async () => {
    const page = await browser.newPage();
    await page.goto(`${node.http}/listen/nobody-yet`);
    // well past the 2 s clock-sync burst: today's page still says "syncing clock…" here, for ever
    await sleep(3000);
    const waiting = await waitForView(page, (v) => v.notice !== null, 5000, "a notice on the unknown stream");
    console.log(`      unknown stream: ${JSON.stringify(waiting)}`);
    assert.match(waiting.notice!, /No broadcaster on this stream yet — waiting for one to go live/);
    assert.deepEqual(waiting.links, ["/", "/broadcast/nobody-yet"]);
    assert.equal(waiting.playout, "–", "no sync state claimed off air");
    assert.equal(waiting.delay, "–");
    assert.equal(waiting.button, "Play when live");
    assert.equal(waiting.pressed, "true", "audio is on: it will play by itself");
    await screenshot(page, "player-waiting");

    broadcast = await startBroadcast(node.url, "nobody-yet", "apex-aleph.ogg", "opus", { startSeconds: 20 });
    const startedAt = Date.now();
    await waitForPlayer(page, (s) => s.sync?.state === "playing" && s.rms > SILENCE_RMS, 10_000, "the player to play once live");
    const live = await waitForView(page, (v) => v.state === "live" && /^\d+ ms$/.test(v.delay), 5000, "live figures");
    console.log(`      live after ${Date.now() - startedAt} ms: ${JSON.stringify(live)}`);
    assert.equal(live.notice, null);
    assert.equal(live.button, "Pause");
    assert.equal(live.pressed, null);
    assert.match(live.playout, /^synchronised \(120 ms\)$/);

    // the broadcaster stops: the stream is ended
    await broadcast.stop();
    broadcast = null;
    const endedAt = Date.now();
    const ended = await waitForView(page, (v) => v.state === "ended", 5000, "the page to show the end");
    const endedShownMs = Date.now() - endedAt;
    await sleep(1500); // long enough for a frozen figure to show itself
    const after = await playerView(page);
    const stats = (await playerStats(page))!;
    console.log(`      ended shown after ${endedShownMs} ms, 1.5 s later: ${JSON.stringify(after)}; liveDelayMs ${stats.liveDelayMs}`);
    assert.deepEqual(after, ended, "nothing changes while ended");
    assert.match(after.notice ?? "", /The broadcast has ended/);
    assert.deepEqual(after.links, ["/", "/broadcast/nobody-yet"]);
    assert.deepEqual([after.delay, after.playout, after.syncError], ["–", "–", "–"], "no live delay or sync state");
    assert.equal(after.button, "Play when live");
    assert.equal(after.metadataShown, false, "no now-playing of an ended broadcast");
    assert.equal(stats.liveDelayMs, null, "the player's stats drop the delay too");
    await screenshot(page, "player-ended");

    // the toggle turns playing-when-live off and on again
    await page.getByRole("button", { name: "Play when live" }).click();
    await waitForView(page, (v) => v.pressed === "false" && /Press “Play when live”/.test(v.notice ?? ""), 3000, "the toggle off");
    await page.getByRole("button", { name: "Play when live" }).click();
    await waitForView(page, (v) => v.pressed === "true", 3000, "the toggle on");

    // live again: it plays again
    const before = (await playerStats(page))!;
    broadcast = await startBroadcast(node.url, "nobody-yet", "apex-aleph.ogg", "opus", { startSeconds: 40 });
    const againAt = Date.now();
    await waitForPlayer(page, (s) => s.sync?.state === "playing" && s.framesDecoded > before.framesDecoded + 25 && s.rms > SILENCE_RMS, 10_000, "the player to play again");
    const again = await waitForView(page, (v) => v.state === "live" && v.button === "Pause" && /^\d+ ms$/.test(v.delay), 5000, "live figures again");
    console.log(`      playing again after ${Date.now() - againAt} ms: ${JSON.stringify(again)}`);
    assert.equal(again.notice, null);

    // the broadcaster drops (no stream.stop): offline, waiting for it to come back
    await broadcast.abort();
    broadcast = null;
    const away = await waitForView(page, (v) => v.state === "offline", 5000, "the page to show the drop");
    await sleep(1500);
    const awayLater = await playerView(page);
    console.log(`      dropped: ${JSON.stringify(awayLater)}`);
    assert.deepEqual(awayLater, away, "nothing changes while offline");
    assert.match(away.notice ?? "", /broadcaster has gone/);
    assert.deepEqual([away.delay, away.playout, away.syncError, away.button], ["–", "–", "–", "Play when live"]);
    assert.deepEqual(browser.errors, [], "no page errors");
    await page.close();
  });

  it("broadcaster: a refusal keeps BROADCASTER_EXISTS whole at phone to desktop widths (320-700 px), in the status and in the error list", async () => {
    let other: Broadcast | null = null;
    const page = await browser.newPage({ width: 412, height: 860 });
    try {
      other = await startBroadcast(node.url, "taken", "awakening.ogg", "opus");
      await page.goto(await broadcasterUrl(node.http, "taken"));
      await page.getByRole("button", { name: "Go live" }).click();
      await waitForBroadcaster(page, (s) => s.state.state === "failed", 10_000, "the refusal");
      await waitForValue(() => page.locator("#errors").innerText(), (t) => t.includes("BROADCASTER_EXISTS"), 3000, "the error in the list");
      assert.match(await page.locator("#state").innerText(), /^refused: BROADCASTER_EXISTS$/);
      const widths = [320, 340, 360, 375, 390, 412, 440, 480, 540, 600, 700];
      const broken: string[] = [];
      for (const width of widths) {
        await page.setViewportSize({ width, height: 860 });
        const state = await layoutOf(page, "#state", "BROADCASTER_EXISTS");
        const errors = await layoutOf(page, "#errors", "BROADCASTER_EXISTS");
        if (state.lines !== 1 || state.overflows) broken.push(`status at ${width} px: ${JSON.stringify(state)}`);
        if (errors.lines !== 1 || errors.overflows) broken.push(`error list at ${width} px: ${JSON.stringify(errors)}`);
      }
      console.log(`      BROADCASTER_EXISTS at ${widths.join(", ")} px wide: ${broken.length ? broken.join("; ") : "whole, nothing sticks out"}`);
      assert.deepEqual(broken, [], "the code is on one line and nothing sticks out");
      await screenshot(page, "broadcaster-refused");
    } finally {
      await other?.stop();
      await page.close();
    }
  });

  it("broadcaster: time and bytes sent are both per broadcast (kept after Stop, both reset by Go live)", async () => {
    const page = await browser.newPage();
    await page.goto(await broadcasterUrl(node.http, "counters"));
    await page.getByRole("button", { name: "Go live" }).click();
    await waitForBroadcaster(page, (s) => s.state.state === "live", 10_000, "live");
    const first = await waitForBroadcaster(page, (s) => s.capturedMs >= 3000, 10_000, "3 s on air");
    await page.getByRole("button", { name: "Stop" }).click();
    const stopped = await waitForBroadcaster(page, (s) => s.state.state === "stopped", 5000, "stopped");
    await sleep(300); // the page's text follows
    const shown = { label: await page.locator("#sent-label").innerText(), sent: await page.locator("#sent").innerText(), listeners: await page.locator("#listeners").innerText() };
    const rate = (s: BroadcasterStats) => (s.bytesSent * 8) / s.capturedMs; // kbit/s
    console.log(`      after Stop: ${JSON.stringify(shown)}; ${stopped.capturedMs} ms, ${stopped.bytesSent} B (${rate(stopped).toFixed(1)} kbit/s)`);
    assert.ok(stopped.capturedMs >= first.capturedMs, "the time is kept");
    assert.ok(stopped.bytesSent >= first.bytesSent && stopped.bytesSent > 0, `the bytes are kept: ${stopped.bytesSent}`);
    assert.ok(rate(stopped) > 16 && rate(stopped) < 512, `bytes and time of the same broadcast: ${rate(stopped)} kbit/s`);
    assert.equal(shown.label, "Sent, last broadcast");
    assert.equal(await page.locator("#sent-label").count(), 1);
    assert.match(shown.sent, /^0:0[3-9] · [1-9]\d* KiB$/);
    assert.equal(shown.listeners, "–", "no listener count kept from the broadcast");

    await page.getByRole("button", { name: "Go live" }).click();
    const again = await waitForBroadcaster(page, (s) => s.state.state === "live" && s.capturedMs >= 1000, 10_000, "1 s on air again");
    console.log(`      second broadcast: ${again.capturedMs} ms, ${again.bytesSent} B (${rate(again).toFixed(1)} kbit/s)`);
    assert.ok(again.capturedMs < stopped.capturedMs && again.bytesSent < stopped.bytesSent, "both start again from 0");
    assert.ok(rate(again) > 16 && rate(again) < 512, `bytes and time of the same broadcast: ${rate(again)} kbit/s`);
    await page.getByRole("button", { name: "Stop" }).click();
    await page.close();
    assert.deepEqual(browser.errors, [], "no page errors");
  });

  it("broadcaster: taken over while live, it says it was ended by the server (not refused), keeps no listener count, and can go live again", async () => {
    const page = await browser.newPage();
    await page.goto(await broadcasterUrl(node.http, "takeover"));
    await page.getByRole("button", { name: "Go live" }).click();
    const live = await waitForBroadcaster(page, (s) => s.state.state === "live", 10_000, "live");
    const sessionId = live.state.state === "live" ? live.state.sessionId : "";
    // another connection of the same user (sub) resumes the page's session: the server closes the page's socket for good
    const other = new WebSocket(`${node.url}/ws/publish/takeover`, { headers: { authorization: `Bearer ${await testToken("publish", ["takeover"])}` } });
    try {
      await new Promise((resolve, reject) => (other.once("open", resolve), other.once("error", reject)));
      other.send(JSON.stringify({ type: "stream.start", format: "opus", channels: 2, resume: sessionId }));
      const ended = await waitForBroadcaster(page, (s) => s.state.state === "failed", 10_000, "the page to be closed");
      await sleep(300);
      const shown = { state: await page.locator("#state").innerText(), listeners: await page.locator("#listeners").innerText(), goLive: await page.getByRole("button", { name: "Go live" }).isEnabled() };
      console.log(`      taken over: ${JSON.stringify(ended.state)}; shown ${JSON.stringify(shown)}`);
      assert.deepEqual(shown, { state: "ended by the server: BROADCASTER_REPLACED", listeners: "–", goLive: true });
    } finally {
      other.close();
    }
    await page.getByRole("button", { name: "Go live" }).click();
    await waitForBroadcaster(page, (s) => s.state.state === "live" && s.capturedMs > 500, 10_000, "the page to go live again");
    await page.getByRole("button", { name: "Stop" }).click();
    await page.close();
    assert.deepEqual(browser.errors, [], "no page errors");
  });

  it("a 64-character stream id (the longest allowed) and long metadata fit a 320 px phone on every page", async () => {
    const id = `a-very-long-stream-id-${"x".repeat(42)}`;
    assert.equal(id.length, 64);
    const long = await startBroadcast(node.url, id, "apex-aleph.ogg", "opus", { startSeconds: 20 });
    const page = await browser.newPage({ width: 320, height: 700 });
    try {
      long.metadata("Apex Aleph", { source: `https://example.org/${"very-long-path-segment-".repeat(4)}apex-aleph.ogg` });
      const overflow: Record<string, number> = {};
      for (const [name, url, ready] of [
        ["list", "/", `li[data-stream-id="${id}"]`],
        ["player", `/listen/${id}`, "#metadata div"],
        ["broadcaster", (await broadcasterUrl("", id)), "#listen-link"],
      ] as const) {
        await page.goto(`${node.http}${url}`);
        await page.locator(ready).first().waitFor({ timeout: 10_000 });
        await sleep(300);
        overflow[name] = (await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")) as number;
      }
      console.log(`      px sticking out sideways at 320 px: ${JSON.stringify(overflow)}`);
      assert.deepEqual(overflow, { list: 0, player: 0, broadcaster: 0 });
    } finally {
      await long.stop();
      await page.close();
    }
  });

  it("stream list: when the node is unreachable, the list shown is marked stale, with the time it was loaded", async () => {
    const list = await browser.newPage();
    await list.goto(`${node.http}/`);
    await waitForValue(() => list.locator("#updated").innerText(), (t) => t.startsWith("Updated "), 5000, "the list loaded");
    await node.stop(); // the after hook's stop does nothing more
    const stale = await waitForValue(
      // both read in one evaluation: two reads could straddle the failed refresh
      async () => (await list.evaluate(`({ stale: document.getElementById("streams").dataset.stale ?? null, updated: document.getElementById("updated").innerText })`)) as { stale: string | null; updated: string },
      (v) => v.updated.startsWith("Could not load"), 5000, "the list to notice",
    );
    console.log(`      node gone: ${JSON.stringify(stale)}`);
    assert.equal(stale.stale, "true");
    assert.match(stale.updated, /showing it as of \d/);
    await list.close();
  });
});
