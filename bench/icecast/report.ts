/** The Icecast bench's table: one row per server, then veza ÷ icecast. */
import type { RoundResult, TargetResult } from "./run";

const pct = (x: number): string => (x * 100).toFixed(3);

export function formatRound(r: RoundResult): string {
  const head = ["server", "admitted", "adm/s", "CPU µs/l·s (net)", "CPU %core (idle)", "RSS KB/l", "delivered % (bytes %)", "p50 ms", "p99 ms", "max ms", "listener CPU %", "other %"];
  const row = (t: TargetResult): string[] => [
    t.name, `${t.ramp.admitted}/${t.listeners}`, String(t.ramp.admittedPerSec), `${t.cpuUsPerListenerSec} (${t.cpuUsPerListenerSecNet})`,
    `${t.cpuPct} (${t.idle.cpuPct})`, String(t.rssGrowthPerListenerKb), `${pct(t.delivered)} (${pct(t.deliveredBytes)})`,
    String(t.latency.p50Ms), String(t.latency.p99Ms), String(t.latency.maxMs), String(t.listenerCpuPct), String(t.otherPct),
  ];
  const lines = [head, ...r.targets.map(row)].map((c) => `| ${c.join(" | ")} |`);
  lines.splice(1, 0, `|${head.map(() => "---").join("|")}|`);
  const v = r.targets.find((t) => t.name === "veza");
  const i = r.targets.find((t) => t.name === "icecast");
  if (v && i) {
    const x = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
    lines.push(
      `veza / icecast at ${r.listeners}: CPU ${x(v.cpuUsPerListenerSec, i.cpuUsPerListenerSec)} (net ${x(v.cpuUsPerListenerSecNet, i.cpuUsPerListenerSecNet)}), ` +
        `RSS/listener ${x(v.rssGrowthPerListenerKb, i.rssGrowthPerListenerKb)}, p99 ${x(v.latency.p99Ms, i.latency.p99Ms)}, admission ${x(v.ramp.admittedPerSec, i.ramp.admittedPerSec)}; ` +
        `load average ${r.loadavgBefore.map((l) => l.toFixed(2)).join(" ")} → ${r.loadavgAfter.map((l) => l.toFixed(2)).join(" ")}`,
    );
  }
  return `\n${r.listeners} listeners\n${lines.join("\n")}`;
}
