/**
 * Where the node's resident memory is, from outside (/proc) and inside (bench/fuzz/inspector.ts):
 * one {@link MemoryReading} per sample of a fuzz run, so that growth can be told apart: V8's heap
 * (JavaScript objects), V8's code, ArrayBuffers and other memory V8 counts as external, and the
 * rest (uWS, glibc malloc's arenas and the freed pages they keep, thread stacks).
 */
import fs from "node:fs";
import type { InsideMemory, NodeInspector } from "./inspector";

/** The kernel's view of a process's memory, bytes (/proc/<pid>/status and smaps). */
export interface ProcMemory {
  /** VmRSS: resident set (RssAnon + RssFile + RssShmem). */
  rss: number;
  /** VmHWM: the highest VmRSS so far. */
  hwm: number;
  /** Resident anonymous memory: heaps of every kind (V8, malloc, uWS). */
  rssAnon: number;
  /** Resident file-backed pages: the node binary, shared libraries (uWS's .node), mapped files. */
  rssFile: number;
  /** Resident anonymous memory by mapping (/proc/<pid>/smaps): `brk` is glibc's main arena ([heap]); `arenas`, glibc's thread arenas (anonymous mappings of a 64 MiB-aligned reservation); `other` the rest (V8's pages, large malloc blocks, stacks). */
  anon: { brk: number; arenas: number; arenaCount: number; other: number };
  /** Threads of the process (V8's and libuv's workers allocate from their own malloc arena). */
  threads: number;
}

/** One sample: when (inputs sent), the kernel's view, and the node's own (null without the inspector). */
export interface MemoryReading {
  /** What the sample is: `baseline`, `warm`, `batch`, `settled`, `final`, … */
  label: string;
  inputs: number;
  /** Seconds since the fuzzing started (negative before). */
  atS: number;
  /** Whether a full GC ran just before. */
  afterGc: boolean;
  proc: ProcMemory | null;
  inside: InsideMemory | null;
}

const KB = /^(\w+):\s+(\d+) kB/;

/** The kernel's view of `pid`'s memory, or null when the process is gone. */
export function procMemory(pid: number): ProcMemory | null {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return null;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  return {
    rss: field("VmRSS") * 1024,
    hwm: field("VmHWM") * 1024,
    rssAnon: field("RssAnon") * 1024,
    rssFile: field("RssFile") * 1024,
    anon: anonBreakdown(pid),
    threads: field("Threads"),
  };
}

/** 64 MiB: glibc's HEAP_MAX_SIZE on 64-bit, the size and alignment of a thread arena's reservation. */
const ARENA = 64 * 2 ** 20;

/**
 * Resident anonymous memory of `pid` by mapping kind (see {@link ProcMemory.anon}). A thread arena
 * is recognised by its shape: an anonymous read-write mapping starting on a 64 MiB boundary,
 * followed by its unused rest (no access) up to the next boundary.
 */
function anonBreakdown(pid: number): ProcMemory["anon"] {
  const out = { brk: 0, arenas: 0, arenaCount: 0, other: 0 };
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps`, "utf8");
  } catch {
    return out;
  }
  type Mapping = { start: number; end: number; perms: string; path: string; anon: number };
  const maps: Mapping[] = [];
  for (const line of text.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      maps.push({ start: parseInt(head[1]!, 16), end: parseInt(head[2]!, 16), perms: head[3]!, path: head[4]!.trim(), anon: 0 });
      continue;
    }
    const kb = KB.exec(line);
    if (kb && kb[1] === "Anonymous" && maps.length > 0) maps[maps.length - 1]!.anon = Number(kb[2]) * 1024;
  }
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i]!;
    if (m.anon === 0) continue;
    if (m.path === "[heap]") out.brk += m.anon;
    else if (m.path === "" && m.start % ARENA === 0 && m.perms.startsWith("rw") && isArenaRest(m, maps[i + 1])) {
      out.arenas += m.anon;
      out.arenaCount++;
    } else out.other += m.anon;
  }
  return out;
}

/** Whether `next` is the no-access rest of a 64 MiB arena reservation that `m` starts (or `m` fills it whole). */
function isArenaRest(m: { start: number; end: number }, next: { start: number; end: number; perms: string; path: string } | undefined): boolean {
  if (m.end - m.start === ARENA) return true;
  return next !== undefined && next.start === m.end && next.perms.startsWith("---") && next.path === "" && next.end === m.start + ARENA;
}

/** A reading of `pid` now: optionally after `gcs` full GCs and `waitMs` of idle (ms), then /proc and the node's own figures. */
export async function readMemory(pid: number, inspector: NodeInspector | null, label: string, inputs: number, atS: number, opts: { gcs?: number; waitMs?: number } = {}): Promise<MemoryReading> {
  let afterGc = false;
  if (inspector && (opts.gcs ?? 0) > 0) afterGc = (await inspector.collectGarbage(opts.gcs)) !== null;
  if (opts.waitMs) await new Promise((r) => setTimeout(r, opts.waitMs));
  const inside = inspector ? await inspector.inside() : null;
  return { label, inputs, atS: Math.round(atS * 10) / 10, afterGc, proc: procMemory(pid), inside };
}

/** A reading in MiB, one decimal, flattened for the summary and a progress line. */
export function readingMiB(r: MemoryReading): Record<string, number | string | boolean> {
  const m = (b: number | undefined) => Math.round(((b ?? 0) / 2 ** 20) * 10) / 10;
  const p = r.proc;
  const i = r.inside;
  return {
    label: r.label,
    inputs: r.inputs,
    atS: r.atS,
    afterGc: r.afterGc,
    rss: m(p?.rss),
    rssAnon: m(p?.rssAnon),
    rssFile: m(p?.rssFile),
    brk: m(p?.anon.brk),
    arenas: m(p?.anon.arenas),
    arenaCount: p?.anon.arenaCount ?? 0,
    anonOther: m(p?.anon.other),
    threads: p?.threads ?? 0,
    heapTotal: m(i?.heapTotal),
    heapUsed: m(i?.heapUsed),
    external: m(i?.external),
    arrayBuffers: m(i?.arrayBuffers),
    code: m(i?.spaces.code_space),
    largeObjects: m(i?.spaces.large_object_space),
    codeAndMetadata: m(i?.codeAndMetadata),
  };
}
