/**
 * The bench's child processes: the server under test (own process group, so whatever it spawns
 * goes with it) and the load process (IPC). Every child is registered and killed when the bench
 * exits, on error, SIGINT or SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import * as esbuild from "esbuild";

/** Repository root (bench/fanout/../..). */
export const ROOT = path.resolve(__dirname, "..", "..");

/** Live children; true for a process-group leader (the server), killed with its group. */
const live = new Map<ChildProcess, boolean>();

function killAll(signal: NodeJS.Signals): void {
  for (const [child, group] of live) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(group ? -child.pid : child.pid, signal);
    } catch {
      // already gone
    }
  }
}

process.on("exit", () => killAll("SIGKILL"));
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    process.stderr.write(`\nfanout: ${sig}, stopping children\n`);
    killAll("SIGTERM");
    process.exit(130);
  });
}

function track(child: ChildProcess, group: boolean): ChildProcess {
  live.set(child, group);
  child.on("exit", () => live.delete(child));
  return child;
}

export { freePort } from "../../test/support/node-process";

/** A server under test, started from a shell command line. */
export class ServerProcess {
  private tail: string[] = [];

  private constructor(readonly child: ChildProcess, readonly commandLine: string) {
    const keep = (d: Buffer): void => {
      this.tail.push(...d.toString().split("\n").filter(Boolean));
      if (this.tail.length > 40) this.tail.splice(0, this.tail.length - 40);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
  }

  /**
   * Starts `commandLine` with `sh -c exec …` (so the pid is the server's) in the repository root,
   * with `env` added to the environment, pinned to `cpu` if set.
   */
  static start(commandLine: string, cpu: number | null, env: Record<string, string> = {}): ServerProcess {
    const argv = ["sh", "-c", `exec ${commandLine}`];
    const full = cpu === null ? argv : ["taskset", "-c", String(cpu), ...argv];
    const child = spawn(full[0] as string, full.slice(1), {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    return new ServerProcess(track(child, true), commandLine);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** The last lines the server printed. */
  output(): string {
    return this.tail.join("\n");
  }

  /** Waits until `probe` succeeds, polling every 100 ms. @throws on exit or after timeoutMs. */
  async waitReady(probe: () => Promise<boolean>, timeoutMs: number): Promise<number> {
    const t0 = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`server exited (${this.child.exitCode ?? this.child.signalCode}) before ready:\n${this.output()}`);
      }
      if (await probe()) return performance.now() - t0;
      await sleep(100);
    }
    throw new Error(`server not ready within ${timeoutMs} ms:\n${this.output()}`);
  }

  /** SIGTERM to the group, SIGKILL after 3 s. */
  async stop(): Promise<void> {
    const exited = new Promise<void>((r) => (this.child.exitCode !== null || this.child.signalCode !== null ? r() : this.child.once("exit", () => r())));
    try {
      process.kill(-this.pid, "SIGTERM");
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-this.pid, "SIGKILL");
      } catch {
        // gone
      }
    }, 3000);
    await exited;
    clearTimeout(timer);
  }
}

/** Whether GET http://127.0.0.1:port/ready answers 200. */
export function httpReady(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/ready", timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
  });
}

/** Whether a TCP connection to 127.0.0.1:port succeeds. */
export function tcpReady(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

/** Starts the load process (load.ts under tsx) with an IPC channel, pinned to `cpu` if set. */
export function startLoad(cpu: number | null): ChildProcess {
  const argv = [process.execPath, "--import", "tsx", path.join(__dirname, "load.ts")];
  const full = cpu === null ? argv : ["taskset", "-c", String(cpu), ...argv];
  return track(
    spawn(full[0] as string, full.slice(1), {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "advanced",
    }),
    false,
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Compiles reference-relay.ts to plain JavaScript in the temp directory, so the reference runs on
 * bare node (no tsx, no esbuild service process in its tree). Returns the file and the NODE_PATH
 * under which it finds uWS.
 */
export function buildReferenceRelay(): { file: string; nodePath: string } {
  const file = path.join(os.tmpdir(), `fanout-reference-relay-${process.pid}.js`);
  esbuild.buildSync({
    entryPoints: [path.join(__dirname, "reference-relay.ts")],
    outfile: file,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    external: ["@trufflesuite/uws-js-unofficial"],
    logLevel: "error",
  });
  process.on("exit", () => fs.rmSync(file, { force: true }));
  return { file, nodePath: path.join(ROOT, "node_modules") };
}
