/** Side-by-side table of fan-out results, and the ratio of the first target to the last. */
import type { TargetResult } from "./run-target";

const COLUMNS = [
  ["server", 24],
  ["CPU µs/listener·s", 18],
  ["CPU %core", 10],
  ["peak RSS MB", 12],
  ["RSS/listener KB", 16],
  ["delivered %", 12],
  ["p50 ms", 8],
  ["p99 ms", 8],
  ["max ms", 8],
] as const;

const fmt = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : "n/a");

function row(cells: string[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(COLUMNS[i]?.[1] ?? 10) : c.padStart(COLUMNS[i]?.[1] ?? 10))).join(" ");
}

/** The table as printed to stdout. */
export function formatTable(results: TargetResult[]): string {
  const lines = [row(COLUMNS.map(([h]) => h))];
  for (const r of results) {
    const lat = r.load.latency;
    lines.push(
      row([
        r.name,
        fmt(r.cpuUsPerListenerSec, 2),
        fmt(r.cpuPct, 1),
        fmt(r.peakRssBytes / 2 ** 20, 1),
        fmt(r.rssPerListenerBytes / 1024, 2) + (r.rssFallAfterBaselineBytes > 0 ? "*" : ""),
        fmt(r.load.deliveredFraction * 100, 3),
        fmt(lat.p50Ms, 2),
        fmt(lat.p99Ms, 2),
        fmt(lat.maxMs, 2),
      ]),
    );
  }
  const first = results[0];
  const last = results[results.length - 1];
  if (results.length >= 2 && first && last) {
    lines.push(
      row([
        `ratio ${short(first.name)}/${short(last.name)}`,
        fmt(first.cpuUsPerListenerSec / last.cpuUsPerListenerSec, 2) + "×",
        fmt(first.cpuPct / last.cpuPct, 2) + "×",
        fmt(first.peakRssBytes / last.peakRssBytes, 2) + "×",
        fmt(first.rssPerListenerBytes / last.rssPerListenerBytes, 2) + "×",
        "",
        "",
        "",
        "",
      ]),
    );
  }
  if (results.some((r) => r.rssFallAfterBaselineBytes > 0)) {
    lines.push("* RSS fell after the baseline (GC gave memory back): RSS/listener is a lower bound, see the RSS timeline in --json");
  }
  lines.push("");
  for (const r of results) lines.push(details(r));
  return lines.join("\n");
}

/** "machine busy 150 % (irq 40 %, other processes 20 %); cpu0 …" in % of one CPU. */
function machine(r: TargetResult): string {
  const [all, ...cpus] = r.machineCpuPct;
  if (!all) return "";
  const others = Math.max(0, all.busySec - all.irqSec - r.cpuPct - r.load.loadCpuPct);
  const per = cpus.map((c) => `${c.name} ${fmt(c.busySec, 0)} (irq ${fmt(c.irqSec, 0)})`).join(", ");
  return `machine busy ${fmt(all.busySec, 0)} % of a CPU: irq+softirq ${fmt(all.irqSec, 0)} %, other processes ~${fmt(others, 0)} %; ${per}`;
}

const mb = (bytes: number): string => fmt(bytes / 2 ** 20, 1);

function short(name: string): string {
  return name.split(/[ (]/)[0] ?? name;
}

function details(r: TargetResult): string {
  const l = r.load;
  const closes = Object.entries(l.closes)
    .map(([code, c]) => `${code}×${c.count}${c.reason ? ` (${c.reason})` : ""}`)
    .join(", ");
  return [
    `${r.name}: ${r.command}`,
    `  listeners ${r.connected}/${r.listeners} connected in ${fmt(r.connectMs / 1000, 1)} s` +
      (r.failedToConnect ? `, ${r.failedToConnect} failed (first: ${r.firstFailure})` : "") +
      `; open at window start ${l.listenersAtStart}, at end ${l.listenersAtEnd}`,
    `  window ${fmt(r.windowSec, 2)} s: server CPU ${fmt(r.cpuSec, 2)} s; ${machine(r)}`,
    `  frames sent ${l.sentInWindow}, received ${l.received}` +
      ` of ${l.sentInWindow * l.listenersAtStart}; seq gaps ${l.seqGaps}; unmatched ${l.unmatched}; bad ${l.badFrames}`,
    `  RSS median at baseline (${r.listenersInBaseline} listeners) ${mb(r.rssBeforeListenersBytes)} MB, in window ${mb(r.rssWithListenersBytes)} MB` +
      ` (${mb(r.rssWindowRangeBytes[0])}..${mb(r.rssWindowRangeBytes[1])}), falls after baseline ${mb(r.rssFallAfterBaselineBytes)} MB;` +
      ` latency p90 ${fmt(l.latency.p90Ms, 2)} p99.9 ${fmt(l.latency.p999Ms, 2)} mean ${fmt(l.latency.meanMs, 2)} ms`,
    `  first listener of each frame: latency p50 ${fmt(l.firstListenerLatency.p50Ms, 2)} p99 ${fmt(l.firstListenerLatency.p99Ms, 2)}` +
      ` max ${fmt(l.firstListenerLatency.maxMs, 2)} ms; ${fmt(l.messagesPerRead, 2)} audio messages per socket read`,
    `  load process CPU ${fmt(l.loadCpuPct, 1)} % of a core (${fmt(l.loadSystemCpuPct, 1)} % in kernel), event-loop delay p99 ${fmt(l.loadLoopDelayP99Ms, 1)}` +
      ` max ${fmt(l.loadLoopDelayMaxMs, 1)} ms; broadcaster max send lateness ${fmt(l.maxSendLateMs, 2)} ms` +
      (closes ? `; listener closes: ${closes}` : ""),
  ].join("\n");
}
