/**
 * Runs the real command line (`node bin/veza-stream …`) as child processes, as a user would, and
 * makes short audio files with the real ffmpeg, for the first-contact CLI tests. Every process a
 * test starts here is killed by {@link killAll} (call it in `afterEach`). Every child runs with
 * XDG_DATA_HOME in a temporary folder ({@link DATA_HOME}), so a node or command with no configured
 * key generates its key there, never in the user's ~/.local/share/veza-stream.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { resolveFfmpegPath } from "../../transports/ffmpeg/ffmpeg-path";
import { ROOT, waitFor } from "../support/node-process";

export const CLI = path.join(ROOT, "bin/veza-stream");

const running = new Set<ChildProcess>();

/**
 * XDG_DATA_HOME of every child started here unless a test gives its own: a temporary folder of
 * this test process (removed at its exit), where a fresh install's generated key goes
 * (`<XDG_DATA_HOME>/veza-stream/jwt-secret`, docs/security.md).
 */
export const DATA_HOME = fs.mkdtempSync(path.join(os.tmpdir(), "veza-data-"));
process.on("exit", () => fs.rmSync(DATA_HOME, { recursive: true, force: true }));

/** A CLI child: its output so far, and its exit once it came. */
export class CliRun {
  stdout = "";
  stdoutBytes: Buffer[] = [];
  stderr = "";
  code: number | null = null;
  signal: NodeJS.Signals | null = null;
  /** ms since spawn when it exited. */
  exitedAfterMs: number | null = null;
  readonly startedAt = Date.now();
  readonly exited: Promise<number | null>;

  constructor(readonly proc: ChildProcess) {
    running.add(proc);
    proc.stdout?.on("data", (d: Buffer) => (this.stdoutBytes.push(d), (this.stdout += d.toString("latin1"))));
    proc.stderr?.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      proc.once("exit", (code, signal) => {
        running.delete(proc);
        this.code = code;
        this.signal = signal;
        this.exitedAfterMs = Date.now() - this.startedAt;
        resolve(code);
      }),
    );
  }

  get alive(): boolean {
    return this.code === null && this.signal === null;
  }

  /** Waits for `pattern` on stderr (`stdout` with where). @throws naming what was seen. */
  async waitFor(pattern: RegExp, timeoutMs: number, where: "stderr" | "stdout" = "stderr"): Promise<void> {
    try {
      await waitFor(() => pattern.test(this[where]) || !this.alive, timeoutMs, `${pattern} on ${where}`);
    } catch (err) {
      throw new Error(`${(err as Error).message}; stderr so far: ${this.stderr.slice(-800)}`);
    }
    if (!pattern.test(this[where])) throw new Error(`exited with ${this.code} before ${pattern} on ${where}: ${this.stderr.slice(-800)}`);
  }

  /** Waits for the exit, at most `timeoutMs`. @throws if still running then. */
  async exit(timeoutMs: number): Promise<number | null> {
    const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), timeoutMs).unref());
    if ((await Promise.race([this.exited, timer])) === "timeout") throw new Error(`still running after ${timeoutMs} ms; stderr: ${this.stderr.slice(-800)}`);
    return this.code;
  }
}

/** Spawns `node bin/veza-stream ...args`. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, options: SpawnOptions = {}): CliRun {
  return new CliRun(spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, XDG_DATA_HOME: DATA_HOME, ...env }, stdio: ["ignore", "pipe", "pipe"], ...options }));
}

/** Spawns any command, tracked like {@link cli}, with XDG_DATA_HOME at {@link DATA_HOME} (over `options.env`'s). */
export function run(command: string, args: string[], options: SpawnOptions = {}): CliRun {
  const env = { ...(options.env ?? process.env), XDG_DATA_HOME: DATA_HOME };
  return new CliRun(spawn(command, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], ...options, env }));
}

/** Kills every process started through this module that is still running (SIGKILL). */
export async function killAll(): Promise<void> {
  const exits = [...running].map((p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once("exit", r))));
  for (const p of running) p.kill("SIGKILL");
  await Promise.all(exits);
}

/** A fresh temporary folder for one suite. */
export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "veza-cli-"));
}

/** Writes `seconds` of a 440 Hz tone as `file` (codec from the extension's usual one, e.g. Ogg Vorbis). */
export function makeTone(file: string, seconds: number, codec = "libvorbis"): string {
  execFileSync(resolveFfmpegPath(), ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", `sine=frequency=440:duration=${seconds}:sample_rate=48000`, "-c:a", codec, "-y", file]);
  return file;
}

/** GET a JSON endpoint; null on a non-2xx answer. */
export async function getJson(url: string): Promise<Record<string, unknown> | null> {
  const res = await fetch(url);
  return res.ok ? ((await res.json()) as Record<string, unknown>) : null;
}
