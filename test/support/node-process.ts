/**
 * Starts a real veza-stream node as a child process (`node bin/veza-stream start`), as a user
 * would, on a free port, and waits for its "node started" log line.
 */
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";
import { TEST_JWT_SECRET, TEST_RATE_LIMITS } from "./auth";

export const ROOT = path.resolve(__dirname, "../..");
export const MEDIA = path.resolve(ROOT, "../shared/media");

export interface NodeProcess {
  proc: ChildProcess;
  port: number;
  url: string;
  http: string;
  /** Log lines (parsed JSON) seen so far. */
  logs: Array<Record<string, unknown>>;
  /** Everything the node wrote so far, stdout and stderr, as text. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Nodes started while a test (an `it`, its beforeEach and afterEach) runs: the root hooks
 * (test/support/hooks.ts) stop those still running when the test ends, so a try that fails before
 * its `finally` (a retried test's first try) leaves no node behind. Null outside a test: nodes of a
 * describe's `before` are that describe's to stop in its `after`, and benches stop their own. A test
 * that starts a node for its describe's `after` to stop hands it over ({@link handOverTestNode}).
 */
let testNodes: ChildProcess[] | null = null;

/** Called by the root beforeEach: the nodes started from now on belong to the test. */
export function ownTestNodes(): void {
  testNodes = [];
}

/** `node`, started by the running test, is its describe's to stop (in `after`), not the test's. */
export function handOverTestNode(node: NodeProcess): NodeProcess {
  testNodes = testNodes?.filter((p) => p !== node.proc) ?? null;
  return node;
}

/** Called by the root afterEach: stops the test's nodes still running; returns their command lines. */
export async function stopTestNodes(): Promise<string[]> {
  const left = (testNodes ?? []).filter((p) => p.exitCode === null && p.signalCode === null);
  testNodes = null;
  await Promise.all(left.map((p) => stopChild(p, 5000)));
  return left.map((p) => p.spawnargs.slice(1).join(" "));
}

/** Starts a node process (`veza-stream start` on a free port); with `netns`, inside that network namespace (test/support/netns.ts). */
export async function startNodeProcess(args: string[] = [], env: NodeJS.ProcessEnv = {}, netns?: string): Promise<NodeProcess> {
  const argv = [path.join(ROOT, "bin/veza-stream"), "start", "--port", "0", "--log-level", process.env.TEST_LOG_LEVEL ?? "info", ...args];
  // `ip netns exec` execs the command: the child's pid is the node's, so signals reach it
  const proc = spawn(netns ? "ip" : process.execPath, netns ? ["netns", "exec", netns, process.execPath, ...argv] : argv, {
    cwd: ROOT,
    // ICECAST_PORT and SRT_PORT off unless a test asks for them: every node would try ports 8000 and 8890 otherwise
    env: { ...process.env, JWT_SECRET: TEST_JWT_SECRET, RATE_LIMITS: TEST_RATE_LIMITS, ICECAST_PORT: "off", SRT_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  testNodes?.push(proc);
  const logs: Array<Record<string, unknown>> = [];
  let stderr = "";
  let all = "";
  proc.stderr?.on("data", (d: Buffer) => ((stderr += d.toString()), (all += d.toString())));
  proc.stdout?.on("data", (d: Buffer) => (all += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL"); // a node that did not start is not left running
      reject(new Error(`node did not start in 20 s: ${stderr}`));
    }, 20_000);
    readline.createInterface({ input: proc.stdout! }).on("line", (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === "node started") {
        clearTimeout(timer);
        resolve(Number(entry.port));
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code}: ${stderr}`));
    });
  });
  return {
    proc,
    port,
    url: `ws://127.0.0.1:${port}`,
    http: `http://127.0.0.1:${port}`,
    logs,
    output: () => all,
    stop: () => stopChild(proc, 5000),
  };
}

/** Stops a child process: SIGTERM, then SIGKILL if it has not exited after `killAfterMs` (ms). Resolves once it exited. */
export async function stopChild(proc: ChildProcess, killAfterMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), killAfterMs);
  await exited;
  clearTimeout(timer);
}

/** Resolves when `predicate` is true, polling every 20 ms. @throws after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A TCP port free on 127.0.0.1 right now. Tests that restart a node on the same port start the
 * first one on it explicitly: uWS sets SO_REUSEADDR only for an explicit port, and without it the
 * killed node's TIME_WAIT connections keep the port from being bound again for a minute.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
