/**
 * CPU time and memory of a process and all its descendants, read from /proc (Linux only), so the
 * server is measured from outside and counts whatever it spawns (ffmpeg, a tsx child, workers).
 * Sources: proc(5) — /proc/<pid>/stat fields 4 (ppid), 14-17 (utime, stime, cutime, cstime, in
 * clock ticks), /proc/<pid>/status VmRSS and VmHWM (kB).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";

/** Clock ticks per second (`getconf CLK_TCK`, 100 on every common Linux build). */
const CLK_TCK = readClockTicks();

/** One reading of a process tree. */
export interface TreeSample {
  /** performance.now() of the reading, ms. */
  atMs: number;
  /** utime + stime (+ cutime + cstime of reaped children) summed over the tree, seconds. */
  cpuSec: number;
  /** Resident set summed over the tree, bytes. */
  rssBytes: number;
  /** Peak resident set (VmHWM) summed over the tree, bytes; exact for a single process. */
  hwmBytes: number;
  /** The pids read, root first. */
  pids: number[];
}

/** Reads CPU and memory of `rootPid` and every live descendant. @throws when rootPid is gone. */
export function sampleTree(rootPid: number): TreeSample {
  const pids = [rootPid, ...descendants(rootPid)];
  let ticks = 0;
  let rssKb = 0;
  let hwmKb = 0;
  for (const pid of pids) {
    const stat = readStat(pid);
    if (!stat) {
      if (pid === rootPid) throw new Error(`process ${rootPid} is gone`);
      continue;
    }
    ticks += stat.utime + stat.stime + stat.cutime + stat.cstime;
    const status = readStatus(pid);
    rssKb += status.VmRSS ?? 0;
    hwmKb += status.VmHWM ?? 0;
  }
  return { atMs: performance.now(), cpuSec: ticks / CLK_TCK, rssBytes: rssKb * 1024, hwmBytes: hwmKb * 1024, pids };
}

interface Stat {
  ppid: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

/** Parses /proc/<pid>/stat; null when the process has exited. */
function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  // Field 2 (comm) is in parentheses and may hold spaces: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so field n is fields[n - 3].
  const num = (n: number): number => Number(fields[n - 3] ?? 0);
  return { ppid: num(4), utime: num(14), stime: num(15), cutime: num(16), cstime: num(17) };
}

/** The kB-valued lines of /proc/<pid>/status (VmRSS, VmHWM, ...). */
function readStatus(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, "latin1");
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (m?.[1] && m[2]) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** All live descendants of `root`, by scanning /proc/<pid>/stat parent links. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const stat = readStat(pid);
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(pid);
    children.set(stat.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of children.get(pid) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

function readClockTicks(): number {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/** One point of an {@link RssTimeline}. */
export interface RssPoint {
  /** Seconds since the timeline started. */
  t: number;
  /** Phase of the run at that time (settle, connect, warmup, window, ...). */
  phase: string;
  /** Resident set of the tree, MB. */
  rssMb: number;
}

/**
 * Reads the resident set of a process tree every `periodMs`, labelled with the run's phase, so a
 * drop from garbage collection (V8 gives startup memory back some seconds after start) shows up
 * and the per-listener figure can use medians instead of two single readings.
 */
export class RssTimeline {
  readonly points: RssPoint[] = [];
  private phase = "start";
  private readonly t0 = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, periodMs = 500) {
    this.timer = setInterval(() => this.sample(), periodMs);
    this.sample();
  }

  /** Labels the following samples with `phase`. */
  mark(phase: string): void {
    this.phase = phase;
    this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Median RSS (bytes) of the samples of `phase`, only the last `lastSec` of it when given. */
  median(phase: string, lastSec = Infinity): number {
    const of = this.points.filter((p) => p.phase === phase);
    const end = of[of.length - 1]?.t ?? 0;
    const xs = of.filter((p) => p.t >= end - lastSec).map((p) => p.rssMb).sort((a, b) => a - b);
    if (xs.length === 0) return NaN;
    const mid = xs.length >> 1;
    const m = xs.length % 2 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2;
    return m * 2 ** 20;
  }

  /** Sum of the falls larger than `minBytes` between consecutive samples whose phase is in `phases`, bytes. */
  falls(phases: string[], minBytes: number): number {
    let sum = 0;
    for (let i = 1; i < this.points.length; i++) {
      const a = this.points[i - 1] as RssPoint;
      const b = this.points[i] as RssPoint;
      const fall = (a.rssMb - b.rssMb) * 2 ** 20;
      if (phases.includes(b.phase) && fall > minBytes) sum += fall;
    }
    return sum;
  }

  /** Smallest and largest RSS (bytes) of the samples of `phase`. */
  range(phase: string): [number, number] {
    const xs = this.points.filter((p) => p.phase === phase).map((p) => p.rssMb);
    return xs.length ? [Math.min(...xs) * 2 ** 20, Math.max(...xs) * 2 ** 20] : [NaN, NaN];
  }

  private sample(): void {
    try {
      const s = sampleTree(this.pid);
      this.points.push({ t: Math.round(performance.now() - this.t0) / 1000, phase: this.phase, rssMb: Math.round(s.rssBytes / 1024) / 1024 });
    } catch {
      this.stop();
    }
  }
}

/** CPU time of one CPU (or all, `cpu`) from /proc/stat, seconds. */
export interface CpuTimes {
  name: string;
  /** user + nice. */
  userSec: number;
  systemSec: number;
  /** irq + softirq: with IRQ time accounting this is charged to no process (e.g. loopback TCP receive work). */
  irqSec: number;
  /** All but idle and iowait. */
  busySec: number;
}

/** The `cpu` (all CPUs) and `cpuN` lines of /proc/stat. */
export function machineCpu(): CpuTimes[] {
  const out: CpuTimes[] = [];
  for (const line of fs.readFileSync("/proc/stat", "latin1").split("\n")) {
    if (!line.startsWith("cpu")) continue;
    const [name = "", ...rest] = line.trim().split(/\s+/);
    const t = rest.slice(0, 8).map((x) => Number(x) / CLK_TCK);
    const at = (i: number): number => t[i] ?? 0;
    const total = t.reduce((a, b) => a + b, 0);
    out.push({ name, userSec: at(0) + at(1), systemSec: at(2), irqSec: at(5) + at(6), busySec: total - at(3) - at(4) });
  }
  return out;
}

/** Per-CPU difference `b - a`, as % of one CPU over `seconds`. */
export function cpuPercent(a: CpuTimes[], b: CpuTimes[], seconds: number): CpuTimes[] {
  return b.map((y) => {
    const x = a.find((c) => c.name === y.name) ?? y;
    const pct = (k: "userSec" | "systemSec" | "irqSec" | "busySec"): number => ((y[k] - x[k]) / seconds) * 100;
    return { name: y.name, userSec: pct("userSec"), systemSec: pct("systemSec"), irqSec: pct("irqSec"), busySec: pct("busySec") };
  });
}
