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
