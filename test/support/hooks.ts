/**
 * Mocha root hooks (loaded by .mocharc.json `require`): after the whole run, no process that the
 * tests started may survive. Every descendant of the mocha process still alive then (a node, an
 * ffmpeg, a Chromium, a CLI child) is killed — SIGTERM, then SIGKILL after 2 s — and the run fails
 * naming them, so a test that leaks a process is found instead of leaving it running on the machine.
 * Descendants are read from /proc (Linux), so processes of other runs are never touched; those
 * alive before the first test (the runner's own, e.g. tsx's esbuild service) are not counted.
 * After each test, the nodes it started (test/support/node-process.ts) and left running are stopped
 * and named in the output: a retried test's failed first try no longer leaves its node to the end.
 */
import fs from "node:fs";
import { ownTestNodes, stopTestNodes } from "./node-process";

interface Proc {
  pid: number;
  ppid: number;
  command: string;
}

/** Every process on the machine with its parent, from /proc/<pid>/stat and cmdline. */
function processTable(): Proc[] {
  const out: Proc[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      // the command name in parentheses may hold spaces: fields after the last ")" are fixed
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") continue; // a zombie has exited already
      const command = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ").trim();
      out.push({ pid: Number(entry), ppid: Number(fields[1]), command });
    } catch {
      // the process exited while we read it
    }
  }
  return out;
}

/** Live descendants of `root` (children, their children, …). */
export function descendants(root = process.pid): Proc[] {
  const table = processTable();
  const found: Proc[] = [];
  let frontier = [root];
  while (frontier.length > 0) {
    const next = table.filter((p) => frontier.includes(p.ppid));
    found.push(...next);
    frontier = next.map((p) => p.pid);
  }
  return found;
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Descendants that existed before the first test: the runner's own (tsx's esbuild service). */
let baseline = new Set<number>();
const started = () => descendants().filter((p) => !baseline.has(p.pid));

export const mochaHooks = {
  beforeEach(): void {
    ownTestNodes();
  },

  /** A node the test started and did not stop (its try failed before the `finally`) is stopped, and named. */
  async afterEach(this: { currentTest?: { fullTitle(): string } }): Promise<void> {
    const left = await stopTestNodes();
    if (left.length > 0) console.log(`      (stopped ${left.length} node(s) left running by "${this.currentTest?.fullTitle()}": ${left.join("; ")})`);
  },

  beforeAll(): void {
    baseline = new Set(descendants().map((p) => p.pid));
  },

  async afterAll(this: { timeout(ms: number): void }): Promise<void> {
    this.timeout(10_000);
    const left = started();
    if (left.length === 0) return;
    for (const p of left) kill(p.pid, "SIGTERM");
    const until = Date.now() + 2000;
    while (Date.now() < until && started().length > 0) await new Promise((r) => setTimeout(r, 50));
    for (const p of started()) kill(p.pid, "SIGKILL");
    const names = left.map((p) => `${p.pid} ${p.command.slice(0, 120)}`).join("\n  ");
    throw new Error(`${left.length} process(es) started by the tests were still running after the run (now killed):\n  ${names}`);
  },
};
