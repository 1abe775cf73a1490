/**
 * Real headless Chromium for browser tests: the Debian `chromium` package driven by
 * playwright-core (no browser download). Each launch gets a fresh profile directory, removed on
 * close. Chromium's fake capture device stands in for the microphone (a real 1 kHz-ish beep
 * twice a second) and the autoplay policy is lifted so AudioContexts start without a click.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import type { PageRecord } from "../../bench/sync-browser/ground-truth";
import type { BroadcasterStats, PlayerStats } from "../../client/core/stats";
import { ROOT } from "./node-process";

/** The Chromium binary: CHROMIUM_PATH, else /usr/bin/chromium (apt-get install chromium). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Where page screenshots go: test/artifacts/screenshots (ignored by git) unless SCREENSHOT_DIR names
 * another folder (relative to the repository root). `npm run screenshots` points it at
 * docs/screenshots to update the README's images; an ordinary test run leaves the tree untouched.
 */
export const SCREENSHOT_DIR = path.resolve(ROOT, process.env.SCREENSHOT_DIR || "test/artifacts/screenshots");

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--autoplay-policy=no-user-gesture-required",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
];

export interface Browser {
  context: BrowserContext;
  /** Opens a page; console errors and page errors are collected in {@link Browser.errors}. */
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
  /** Uncaught page errors and console.error lines, with the page URL. */
  errors: string[];
  close(): Promise<void>;
}

/** Starts Chromium with a fresh profile. @throws with install advice when the binary is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install chromium (Debian), or set CHROMIUM_PATH`);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "veza-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 412, height: 860 },
    permissions: ["microphone"],
  });
  const errors: string[] = [];
  return {
    context,
    errors,
    async newPage(viewport) {
      const page = await context.newPage();
      if (viewport) await page.setViewportSize(viewport);
      page.on("pageerror", (err) => errors.push(`${page.url()}: ${err.message}`));
      page.on("console", (msg) => {
        if (msg.type() === "error") errors.push(`${page.url()}: console.error ${msg.text()}`);
      });
      return page;
    },
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot as <name>.png in {@link SCREENSHOT_DIR}; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: "disabled" });
  return file;
}

/**
 * Where `text` (a whole text node's substring under `selector`) is laid out: the number of lines
 * its characters occupy, and whether anything under `selector` sticks out of it sideways.
 */
export function layoutOf(page: Page, selector: string, text: string): Promise<{ lines: number; overflows: boolean }> {
  return page.evaluate(`(${LAYOUT_IN_PAGE})(${JSON.stringify(selector)}, ${JSON.stringify(text)})`);
}

/** {@link layoutOf}'s half in the page (plain JavaScript: the Node tsconfig has no DOM types). */
const LAYOUT_IN_PAGE = `(selector, text) => {
  const root = document.querySelector(selector);
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.textContent.indexOf(text);
    if (at < 0) continue;
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + text.length);
    const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
    return { lines: tops.size, overflows: root.scrollWidth > root.clientWidth + 1 || document.documentElement.scrollWidth > window.innerWidth };
  }
  throw new Error("no text node under " + selector + " holds " + text);
}`;

/** What the pages put on `window` for tests (client/pages/player.ts, broadcaster.ts). */
interface PageGlobals {
  vezaPlayer?: { stats(): PlayerStats };
  vezaBroadcaster?: { stats(): BroadcasterStats };
}

/** The player page's stats (`window.vezaPlayer.stats()`); null before the page script ran. */
export function playerStats(page: Page): Promise<PlayerStats | null> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).vezaPlayer?.stats() ?? null);
}

/** The broadcaster page's stats (`window.vezaBroadcaster.stats()`); null before the page script ran. */
export function broadcasterStats(page: Page): Promise<BroadcasterStats | null> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).vezaBroadcaster?.stats() ?? null);
}

/**
 * Polls `read` every 20 ms until `predicate` holds for its value, and returns that value.
 * @throws after `timeoutMs`, with `what` and the last value read.
 */
export async function waitForValue<T>(read: () => Promise<T>, predicate: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (predicate(value)) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}


/** The part of a page's AudioContext the harness reads (the Node tsconfig has no DOM types). */
interface PageAudioContext {
  state: string;
  sampleRate: number;
  getOutputTimestamp(): { contextTime?: number; performanceTime?: number };
}

interface PlayerPageGlobals {
  vezaPlayer?: { trace: number[]; audioContext: PageAudioContext | null };
  vezaTimestamps?: number[];
  crossOriginIsolated: boolean;
}

/**
 * Starts sampling the player's AudioContext.getOutputTimestamp() every 20 ms in the page, into
 * `window.vezaTimestamps` (flat pairs [contextTime s, performanceTime ms]): the harness's own view
 * of the audio device's clock, independent of the player's fit (bench/sync-browser/ground-truth.ts).
 */
export function recordOutputTimestamps(page: Page): Promise<void> {
  return page.evaluate(() => {
    const w = globalThis as unknown as PlayerPageGlobals;
    const out: number[] = (w.vezaTimestamps = []);
    setInterval(() => {
      const ctx = w.vezaPlayer?.audioContext;
      if (!ctx || ctx.state !== "running") return;
      const ts = ctx.getOutputTimestamp();
      out.push(ts.contextTime ?? 0, ts.performanceTime ?? 0);
    }, 20);
  });
}

/** A player page's playout trace (opened with `?trace=1`) and timestamps recorded so far. */
export function readPlayoutRecord(page: Page): Promise<PageRecord & { crossOriginIsolated: boolean }> {
  return page.evaluate(() => {
    const w = globalThis as unknown as PlayerPageGlobals;
    return {
      timeOrigin: performance.timeOrigin,
      outputTimestamps: w.vezaTimestamps ?? [],
      trace: w.vezaPlayer?.trace ?? [],
      sampleRate: w.vezaPlayer?.audioContext?.sampleRate ?? 48_000,
      crossOriginIsolated: w.crossOriginIsolated,
    };
  });
}
