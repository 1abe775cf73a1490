/**
 * HLS latency, on one gateway with one Opus stream broadcast to it:
 * - part availability: an LL-HLS client's blocking reloads of rendition 0's media playlist for
 *   `seconds`; each answer's newest part is timed from its last sample's capture (the segment's
 *   EXT-X-PROGRAM-DATE-TIME, cluster time, plus the durations of the parts before it and its own)
 *   and from its first sample's (that, minus its duration) to the answer, ms;
 * - playback: the player page's hls.js fallback in headless Chromium, Low-Latency mode and regular
 *   (`?hlsLowLatency=0`), its playing position's EXT-X-PROGRAM-DATE-TIME against now, s.
 * The broadcaster, the node and the clients share this machine's clock (cluster time).
 */
import { Parser, type ParsedManifest } from "m3u8-parser";
import { launchChromium } from "../../test/support/browser";
import { sleep, type NodeProcess } from "../../test/support/node-process";
import { spreadSummary } from "../stats";

export interface HlsLatency {
  /** Blocking reloads answered. */
  reloads: number;
  /** Last sample of the newest part captured → playlist listing it answered, ms (p50, p99, max). */
  partEndMs: { p50: number; p99: number; max: number };
  /** First sample of the newest part captured → answered, ms. */
  partStartMs: { p50: number; p99: number; max: number };
  /** hls.js playback latency from the broadcaster, s (median and range of 10 samples over 3 s). */
  hlsJs: Record<"lowLatency" | "regular", { median: number; min: number; max: number }>;
}

function parse(text: string): ParsedManifest {
  const parser = new Parser();
  parser.push(text);
  parser.end();
  return parser.manifest;
}

/** The end of the newest part of `m` (its capture time, ms since epoch) and its duration, s. */
function newestPart(m: ParsedManifest): { endMs: number; duration: number } | null {
  const segments = [...m.segments, ...(m.preloadSegment ? [m.preloadSegment] : [])];
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i]!;
    const parts = s.parts ?? [];
    if (parts.length === 0 || !s.dateTimeString) continue;
    const startMs = new Date(s.dateTimeString).getTime();
    const total = parts.reduce((sum, p) => sum + p.duration, 0);
    return { endMs: startMs + total * 1000, duration: parts.at(-1)!.duration };
  }
  return null;
}

const summary = (xs: number[]) => spreadSummary([...xs].sort((a, b) => a - b));

export async function hlsLatency(node: NodeProcess, streamId: string, seconds: number): Promise<HlsLatency> {
  const url = `${node.http}/hls/${streamId}/r0/media.m3u8`;
  let m = parse(await (await fetch(url)).text());
  const ends: number[] = [];
  const starts: number[] = [];
  let reloads = 0;
  for (const until = Date.now() + seconds * 1000; Date.now() < until; reloads++) {
    const msn = m.mediaSequence! + m.segments.length;
    const part = m.preloadSegment?.parts?.length ?? 0;
    const text = await (await fetch(`${url}?_HLS_msn=${msn}&_HLS_part=${part}`)).text();
    const answeredMs = Date.now();
    m = parse(text);
    const newest = newestPart(m);
    if (!newest) continue;
    ends.push(answeredMs - newest.endMs);
    starts.push(answeredMs - newest.endMs + newest.duration * 1000);
  }
  const browser = await launchChromium();
  const hlsJs = {} as HlsLatency["hlsJs"];
  try {
    for (const mode of ["lowLatency", "regular"] as const) {
      const page = await browser.newPage();
      await page.goto(`${node.http}/listen/${streamId}?hls=1${mode === "regular" ? "&hlsLowLatency=0" : ""}`);
      for (const until = Date.now() + 30_000; Date.now() < until; await sleep(200)) if (((await page.evaluate("window.vezaHls?.audio.currentTime ?? 0")) as number) > 2) break;
      await sleep(2000);
      const samples: number[] = [];
      for (let i = 0; i < 10; i++, await sleep(300)) samples.push(((await page.evaluate("window.vezaHls.latencyS()")) as number | null) ?? NaN);
      samples.sort((a, b) => a - b);
      hlsJs[mode] = { median: samples[5]!, min: samples[0]!, max: samples[9]! };
      await page.close();
    }
  } finally {
    await browser.close();
  }
  return { reloads, partEndMs: summary(ends), partStartMs: summary(starts), hlsJs };
}
