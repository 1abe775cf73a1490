/**
 * Synchronised playout in real browsers: 3 player pages in headless Chromium on 2 gateway
 * processes (2 on the stream's owner "ga", 1 on "gb"), the third joining mid-stream; prints the
 * spread across pages of each frame's scheduled playout (getOutputTimestamp mapped to wall clock),
 * p50/p99/max, as JSON. With --skew the pages' clocks are set off by tens of ms and ±80 ppm (what
 * the clock sync must remove); --no-clock-sync also turns the clock sync off (the negative control).
 *
 *   npm run bench:sync-browser -- [--seconds 60] [--skew] [--no-clock-sync] [--json out.json]
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import { runBrowserSync, type PageSpec } from "./run";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    settle: { type: "string", default: "2" },
    "join-after": { type: "string", default: "5" },
    skew: { type: "boolean", default: false },
    "no-clock-sync": { type: "boolean", default: false },
    json: { type: "string" },
  },
});

/** Clock errors given to the pages with --skew: offset ms, drift ppm. */
const SKEWS = ["clockOffsetMs=37&clockDriftPpm=80", "clockOffsetMs=-23&clockDriftPpm=-60", "clockOffsetMs=4&clockDriftPpm=15"];

void (async () => {
  const query = (i: number) => [values.skew ? SKEWS[i] : "", values["no-clock-sync"] ? "clockSync=0" : ""].filter(Boolean).join("&") || undefined;
  const pages: PageSpec[] = [
    { gateway: "ga", query: query(0) },
    { gateway: "gb", query: query(1) },
    { gateway: "ga", query: query(2), joinAfterSeconds: Number(values["join-after"]) },
  ];
  const result = await runBrowserSync({ pages, seconds: Number(values.seconds), settleSeconds: Number(values.settle) });
  const round = (x: unknown): unknown =>
    typeof x === "number" ? Math.round(x * 10) / 10 : Array.isArray(x) ? x.map(round) : x && typeof x === "object" ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, round(v)])) : x;
  const out = JSON.stringify(round({ options: values, ...result }), null, 2);
  console.log(out);
  if (values.json) fs.writeFileSync(values.json, out);
  process.exit(0);
})();
