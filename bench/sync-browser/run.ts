/**
 * One measurement of synchronised playout in real browsers: a cluster of two gateway processes
 * over NATS ("ga" owns the stream, "gb" relays it), a real recording broadcast into ga by the CLI,
 * and player pages (GET /listen/:id) in headless Chromium on both gateways. Each page traces when
 * it plays each frame; the harness samples getOutputTimestamp() in each page and maps the trace to
 * wall-clock time (./ground-truth.ts); the result is the spread across pages of each frame's
 * scheduled playout. Used by bench/sync-browser/index.ts and test/e2e/browser-sync.test.ts.
 */
import type { Page } from "playwright-core";
import type { PlayerStats } from "../../client/core/stats";
import { launchChromium, playerStats, readPlayoutRecord, recordOutputTimestamps, waitForValue, type Browser } from "../../test/support/browser";
import { startBroadcast } from "../../test/support/broadcast";
import { startCluster } from "../../test/support/cluster";
import { sleep } from "../../test/support/node-process";
import { firstFramesOffsetUs, playoutTimes, scheduleError, spread, type ScheduleError, type Spread } from "./ground-truth";
import { TickRecorder } from "./ticks";

export interface PageSpec {
  gateway: "ga" | "gb";
  /** Extra query of the player page, e.g. "clockOffsetMs=30&clockDriftPpm=80" (trace=1 is always added). */
  query?: string;
  /** Opens this many seconds after the first pages play (a listener joining mid-stream). Default 0. */
  joinAfterSeconds?: number;
}

export interface BrowserSyncOptions {
  pages: PageSpec[];
  /** Measured time, from the moment the last page plays, s. */
  seconds: number;
  /** Frames each page played in its first this many seconds are left out of the spread. Default 2. */
  settleSeconds?: number;
  /** Broadcast from this far into awakening.ogg, s. Default 30. */
  startSeconds?: number;
}

export interface PageResult extends PageSpec {
  frames: number;
  /** RMS residual of its getOutputTimestamp samples about the local lines (the ground truth's noise), µs. */
  timestampResidualUs: number;
  crossOriginIsolated: boolean;
  /** Its frames' start minus when the stream's ticks said they should sound (after the settle), µs. */
  scheduleErrorUs: ScheduleError;
  stats: Pick<PlayerStats, "playout" | "underruns" | "framesDecoded" | "liveDelayMs" | "outputLatencyMs" | "rendition"> & { sync: PlayerStats["sync"] };
}

export interface BrowserSyncResult {
  /** Spread over frames played by every page after its settle time, µs. */
  spreadUs: Spread;
  /** The same from each page's first audible frame (no settle), µs. */
  spreadFromFirstUs: Spread;
  /** For each page that joined late: its first 5 frames against the median of the others, µs. */
  lateJoinFirstFramesUs: number[][];
  pages: PageResult[];
}

async function openPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  await recordOutputTimestamps(page);
  await waitForValue(() => playerStats(page), (s) => s?.sync?.state === "playing", 15_000, `${url} to play in sync`);
  return page;
}

export async function runBrowserSync(o: BrowserSyncOptions): Promise<BrowserSyncResult> {
  const cluster = await startCluster([
    { name: "ga", services: "gateway,stream,encoder,relay" },
    { name: "gb", services: "gateway,relay" },
  ]);
  let browser: Browser | null = null;
  let broadcast: Awaited<ReturnType<typeof startBroadcast>> | null = null;
  let ticks: TickRecorder | null = null;
  try {
    // Chromium and the gateways' esbuild bundles first: starting them takes the CPU the
    // broadcaster's real-time encoding needs, and late frames would be gaps on every page
    browser = await launchChromium();
    await Promise.all(["ga", "gb"].map((n) => fetch(`${cluster.nodes[n]!.http}/assets/player.js`)));
    ticks = new TickRecorder(cluster.nodes.gb!.url, "sync");
    broadcast = await startBroadcast(cluster.nodes.ga!.url, "sync", "awakening.ogg", "opus", { startSeconds: o.startSeconds ?? 30, loop: true });
    await sleep(1000);
    const b = browser;
    const url = (s: PageSpec) => `${cluster.nodes[s.gateway]!.http}/listen/sync?trace=1${s.query ? `&${s.query}` : ""}`;
    const pages: Page[] = [];
    const onTime = o.pages.flatMap((s, i) => ((s.joinAfterSeconds ?? 0) > 0 ? [] : [i]));
    await Promise.all(onTime.map(async (i) => (pages[i] = await openPage(b, url(o.pages[i]!)))));
    const playingAt = Date.now();
    const late = o.pages.map((s, i) => ({ s, i })).filter((x) => (x.s.joinAfterSeconds ?? 0) > 0);
    for (const { s, i } of late.sort((x, y) => (x.s.joinAfterSeconds ?? 0) - (y.s.joinAfterSeconds ?? 0))) {
      await sleep(Math.max(0, (s.joinAfterSeconds ?? 0) * 1000 - (Date.now() - playingAt)));
      pages[i] = await openPage(b, url(s));
    }
    await sleep(o.seconds * 1000);
    const records = await Promise.all(pages.map((p) => readPlayoutRecord(p)));
    const stats = await Promise.all(pages.map((p) => playerStats(p)));
    const times = records.map((r) => playoutTimes(r));
    const settleUs = (o.settleSeconds ?? 2) * 1e6;
    const lateIdx = late.map((x) => x.i);
    return {
      spreadUs: spread(times, settleUs),
      spreadFromFirstUs: spread(times, 0),
      lateJoinFirstFramesUs: lateIdx.map((i) => firstFramesOffsetUs(times[i]!, onTime.map((j) => times[j]!))),
      pages: o.pages.map((s, i) => {
        const st = stats[i]!;
        return {
          ...s,
          frames: times[i]!.times.size,
          timestampResidualUs: times[i]!.residualUs,
          crossOriginIsolated: records[i]!.crossOriginIsolated,
          scheduleErrorUs: scheduleError(times[i]!, (m) => ticks?.playoutUs(m), settleUs),
          stats: { playout: st?.playout ?? "buffer", underruns: st?.underruns ?? 0, framesDecoded: st?.framesDecoded ?? 0, liveDelayMs: st?.liveDelayMs ?? null, outputLatencyMs: st?.outputLatencyMs ?? 0, rendition: st?.rendition ?? null, sync: st?.sync ?? null },
        };
      }),
    };
  } finally {
    ticks?.close();
    await broadcast?.abort();
    await browser?.close();
    await cluster.stop();
  }
}
