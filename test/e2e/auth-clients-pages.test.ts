/**
 * The pages' tokens in real headless Chromium against real nodes that enforce them (docs/security.md):
 *  - the broadcaster page takes its token from the link's fragment (`#token=`, as `npm start`
 *    prints it), removes it from the address bar, keeps it in localStorage, and goes live with it;
 *    a refused token (FORBIDDEN) or none is explained next to the "Broadcaster token" field with
 *    the command that mints one;
 *  - the player page on a node with LISTEN_AUTH=token: without a token it says the stream needs a
 *    listener token; with `?token=` or `#token=` it connects;
 *  - the stream list on that node: loaded with `#token=`, whose player links carry the token.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import type { BroadcasterStats, PlayerStats } from "../../client/core/stats";
import { testToken } from "../support/auth";
import { broadcasterStats, launchChromium, playerStats, screenshot, waitForValue, type Browser } from "../support/browser";
import { startNodeProcess, type NodeProcess } from "../support/node-process";

const waitForBroadcaster = (page: Page, predicate: (s: BroadcasterStats) => boolean, timeoutMs: number, what: string) =>
  waitForValue(() => broadcasterStats(page), (s) => s !== null && predicate(s), timeoutMs, what) as Promise<BroadcasterStats>;
const waitForPlayer = (page: Page, predicate: (s: PlayerStats) => boolean, timeoutMs: number, what: string) =>
  waitForValue(() => playerStats(page), (s) => s !== null && predicate(s), timeoutMs, what) as Promise<PlayerStats>;

/** The broadcaster page's kept token (the Node tsconfig has no DOM types). */
const storedToken = (page: Page) => page.evaluate(() => (globalThis as unknown as { localStorage: { getItem(key: string): string | null } }).localStorage.getItem("veza.broadcasterToken"));

describe("pages: tokens in headless Chromium against nodes that enforce them", function () {
  this.timeout(90_000);
  let open: NodeProcess;
  let guarded: NodeProcess;
  let browser: Browser;

  before(async () => {
    [open, guarded, browser] = await Promise.all([startNodeProcess(), startNodeProcess([], { LISTEN_AUTH: "token" }), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await Promise.all([open?.stop(), guarded?.stop()]);
  });

  it("broadcaster: #token= is taken, removed from the address bar and kept; Go live works with it", async () => {
    const token = await testToken("publish", ["pages-a"]);
    const page = await browser.newPage();
    try {
      await page.goto(`${open.http}/broadcast/pages-a#token=${token}`);
      const field = page.getByLabel("Broadcaster token");
      assert.equal(await field.getAttribute("type"), "password");
      assert.equal(await field.inputValue(), token);
      assert.equal(page.url(), `${open.http}/broadcast/pages-a`, "the fragment is gone from the address bar");
      assert.equal(await storedToken(page), token);
      await page.getByRole("button", { name: "Go live" }).click();
      await waitForBroadcaster(page, (s) => s.state.state === "live", 15_000, "the page to be live");
      await page.getByRole("button", { name: "Stop" }).click();
      await waitForBroadcaster(page, (s) => s.state.state === "stopped", 5000, "stopped");
    } finally {
      await page.close();
    }
  });

  it("broadcaster: the stored token is offered again; a listen-only token is refused FORBIDDEN, and none at all asks for one, each with the mint command", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${open.http}/broadcast/pages-b`);
      const field = page.getByLabel("Broadcaster token");
      assert.match(await field.inputValue(), /^ey/, "the token kept from the previous page");
      await field.fill(await testToken("listen", ["pages-b"]));
      await page.getByRole("button", { name: "Go live" }).click();
      const refused = await waitForBroadcaster(page, (s) => s.state.state === "failed", 15_000, "the refusal");
      assert.equal(refused.state.state === "failed" && refused.state.code, "FORBIDDEN");
      const note = page.locator("#token-note");
      await waitForValue(() => note.innerText(), (t) => /FORBIDDEN/.test(t), 5000, "the note");
      const text = await note.innerText();
      assert.match(text, /Refused: FORBIDDEN\. This token does not allow broadcasting on pages-b\./);
      assert.match(text, /veza-stream token --scope publish:pages-b/);
      await screenshot(page, "broadcaster-token-refused");

      await field.fill("");
      await page.getByRole("button", { name: "Go live" }).click();
      await waitForValue(() => note.innerText(), (t) => /^Broadcasting needs a token\./.test(t), 5000, "the missing-token note");
      assert.match(await note.innerText(), /veza-stream token --scope publish:pages-b/);
      assert.equal((await broadcasterStats(page))?.state.state, "failed", "no new attempt without a token");
      assert.equal(await storedToken(page), null, "an emptied field forgets the token");
    } finally {
      await page.close();
    }
  });

  it("player on a LISTEN_AUTH=token node: without a token it asks for one; ?token= and #token= connect", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${guarded.http}/listen/pages-c`);
      const closed = await waitForPlayer(page, (s) => s.connection.state === "closed", 15_000, "the refusal");
      assert.deepEqual(closed.connection.state === "closed" && [closed.connection.closeCode, closed.connection.code], [4401, "UNAUTHORIZED"]);
      await waitForValue(() => page.locator("#notice-text").innerText(), (t) => t.length > 0, 5000, "the notice");
      assert.match(await page.locator("#notice-text").innerText(), /^This stream needs a listener token: open the link with \?token=…/);
      await screenshot(page, "player-token-needed");

      const token = await testToken("listen", ["pages-c"]);
      for (const link of [`?token=${token}`, `#token=${token}`]) {
        await page.goto("about:blank");
        await page.goto(`${guarded.http}/listen/pages-c${link}`);
        const s = await waitForPlayer(page, (x) => x.connection.state === "open" || x.connection.state === "closed", 15_000, `the connection with ${link.slice(0, 7)}`);
        assert.equal(s.connection.state, "open", `${link.slice(0, 7)}: ${JSON.stringify(s.connection)}`);
      }
    } finally {
      await page.close();
    }
  });

  it("stream list on a LISTEN_AUTH=token node: says it needs a token, and with #token= lists streams whose links carry it", async () => {
    const publisher = await testToken("publish", ["pages-d"]);
    const page = await browser.newPage();
    try {
      // a stream to list: broadcast from the page itself
      await page.goto(`${guarded.http}/broadcast/pages-d#token=${publisher}`);
      await page.getByRole("button", { name: "Go live" }).click();
      await waitForBroadcaster(page, (s) => s.state.state === "live", 15_000, "live");
      const list = await browser.newPage();
      try {
        await list.goto(`${guarded.http}/`);
        await waitForValue(() => list.locator("#updated").innerText(), (t) => /needs a listener token/.test(t), 10_000, "the list's refusal");
        const token = await testToken("listen", ["pages-*"]);
        await list.goto("about:blank");
        await list.goto(`${guarded.http}/#token=${token}`);
        const link = list.locator('li[data-stream-id="pages-d"] a.stream-title');
        await link.waitFor({ timeout: 10_000 });
        assert.equal(await link.getAttribute("href"), `/listen/pages-d#token=${token}`);
      } finally {
        await list.close();
      }
    } finally {
      await page.close();
    }
  });
});
