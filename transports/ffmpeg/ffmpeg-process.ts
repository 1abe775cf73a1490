/**
 * The one owner of ffmpeg processes (via fluent-ffmpeg): arguments, stderr lines into the log, a
 * watchdog, restart on crash with exponential backoff, and exit codes mapped to {@link FfmpegError}.
 * Nothing else in the code base spawns ffmpeg.
 *
 * Each run is a "generation": on every (re)spawn the `spawn` event hands out a fresh stdin to write
 * to and a fresh stdout to read from, because a restarted ffmpeg needs its input from a clean
 * starting point (see media/ingest/resume.ts) and writes new container headers.
 */
import { EventEmitter } from "node:events";
import { PassThrough, type Readable, type Writable } from "node:stream";
import ffmpeg from "fluent-ffmpeg";
import type { Logger } from "pino";

/** Why a run ended. `killed`: by a signal we did not send; `exit`: non-zero exit code; `spawn`: could not start; `stalled`: watchdog. */
export type FfmpegFailure = "killed" | "exit" | "spawn" | "stalled";

export class FfmpegError extends Error {
  override readonly name = "FfmpegError";
  constructor(
    readonly failure: FfmpegFailure,
    message: string,
    readonly exitCode: number | null,
    readonly signal: string | null,
  ) {
    super(message);
  }

  /** Maps fluent-ffmpeg's error text ("ffmpeg exited with code 1: …", "…killed with signal SIGKILL"). */
  static from(err: Error, stderrTail: string): FfmpegError {
    const code = /exited with code (\d+)/.exec(err.message);
    if (code) return new FfmpegError("exit", `ffmpeg exited with code ${code[1]}: ${stderrTail}`, Number(code[1]), null);
    const signal = /killed with signal (\w+)/.exec(err.message);
    if (signal) return new FfmpegError("killed", `ffmpeg was killed with ${signal[1]}`, null, signal[1] ?? null);
    return new FfmpegError("spawn", `ffmpeg could not run: ${err.message}`, null, null);
  }
}

export interface FfmpegOptions {
  ffmpegPath: string;
  /** Input: `pipe` (write to the stdin handed out by `spawn`) or a file path/URL. */
  input: "pipe" | string;
  inputOptions: string[];
  outputOptions: string[];
  /** Restarts allowed within `restartWindowMs` before giving up (`failed`). Default 5 in 60 s. */
  maxRestarts?: number;
  restartWindowMs?: number;
  /** First backoff in ms, doubled per consecutive restart, capped at 5000. Default 100. */
  backoffMs?: number;
  /** Kill and restart when no output for this long while running (ms). 0 disables. Default 0. */
  stallTimeoutMs?: number;
  log: Logger;
}

export interface FfmpegGeneration {
  generation: number;
  pid: number | undefined;
  /** Present when input is `pipe`. */
  stdin: Writable | null;
  stdout: Readable;
}

/**
 * Events: `spawn` (FfmpegGeneration), `restart` ({restarts, error: FfmpegError, delayMs}),
 * `failed` (FfmpegError: too many restarts), `end` (the input ended and ffmpeg exited cleanly).
 */
export class FfmpegProcess extends EventEmitter {
  private command: ffmpeg.FfmpegCommand | null = null;
  private generation = 0;
  private restartTimes: number[] = [];
  private consecutive = 0;
  private stopped = false;
  private lastOutputAt = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  /** stdin of the running generation (input `pipe`), ended by {@link drain}. */
  private stdin: PassThrough | null = null;
  /** Resolves when the running generation's process has exited (or could not start). */
  private exited: Promise<void> = Promise.resolve();
  /** Restarts after crashes so far. */
  restarts = 0;
  /** Set by {@link stop}: a run that starts after it is killed at once. */
  private killed = false;

  constructor(private readonly opts: FfmpegOptions) {
    super();
  }

  /** PID of the running ffmpeg, if any. */
  get pid(): number | undefined {
    return (this.command as unknown as { ffmpegProc?: { pid?: number } } | null)?.ffmpegProc?.pid;
  }

  /** Spawns the first generation. */
  start(): void {
    this.spawn();
    const stall = this.opts.stallTimeoutMs ?? 0;
    if (stall > 0) {
      this.watchdog = setInterval(() => {
        if (this.command && this.lastOutputAt && Date.now() - this.lastOutputAt > stall) {
          this.opts.log.warn({ pid: this.pid, stallMs: Date.now() - this.lastOutputAt }, "ffmpeg stalled, killing");
          this.lastOutputAt = 0;
          this.kill("SIGKILL");
        }
      }, Math.min(stall, 1000));
      this.watchdog.unref();
    }
  }

  /** Sends `signal` to the running ffmpeg (a crash from the supervisor's view: it restarts). */
  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    this.command?.kill(signal);
  }

  /** Stops for good at once (SIGKILL): no restart, no flush. Resolves once the process has exited (at most 2000 ms). */
  async stop(): Promise<void> {
    this.halt();
    this.killed = true;
    const command = this.command;
    if (!command) return;
    command.kill("SIGKILL");
    await withTimeout(this.exited, 2000);
  }

  /**
   * Stops for good after ffmpeg has finished its input: ends its stdin (input `pipe`), so that it
   * decodes, encodes and writes everything it was given and exits by itself; after `timeoutMs`
   * (ms) it is killed with SIGKILL. No restart after that either way. Called between a crash and
   * its restart, it spawns the next generation at once (the `spawn` listener gives it its input)
   * and drains that. Resolves once the process has exited (its stdout then ends after its last
   * byte); with no process (after a stop, or `failed`) at once. Never rejects.
   * @returns true if ffmpeg exited by itself within `timeoutMs`, false if it had to be killed or none was running.
   */
  async drain(timeoutMs = 2000): Promise<boolean> {
    const restartPending = this.restartTimer !== null && !this.stopped;
    this.halt();
    // between a crash and its restart: restart now, so that what the crashed run left is finished too
    if (restartPending) this.spawn();
    const command = this.command;
    if (!command) return false;
    this.stdin?.end();
    const exitedInTime = await withTimeout(this.exited.then(() => true), timeoutMs);
    if (exitedInTime === true) return true;
    this.opts.log.warn({ pid: this.pid, timeoutMs }, "ffmpeg did not finish its input in time, killing");
    command.kill("SIGKILL");
    await withTimeout(this.exited, 2000);
    return false;
  }

  /** No more restarts, watchdog or restart timer. */
  private halt(): void {
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
  }

  private spawn(): void {
    const { opts } = this;
    const generation = ++this.generation;
    const stdin = opts.input === "pipe" ? new PassThrough() : null;
    this.stdin = stdin;
    let markExited: () => void = () => undefined;
    this.exited = new Promise<void>((resolve) => (markExited = resolve));
    const stderrTail: string[] = [];
    const command = ffmpeg({ stdoutLines: 0 })
      .setFfmpegPath(opts.ffmpegPath)
      .input(stdin ?? opts.input)
      .inputOptions(opts.inputOptions)
      .outputOptions(opts.outputOptions);
    this.command = command;
    command.on("stderr", (line: string) => {
      stderrTail.push(line);
      if (stderrTail.length > 12) stderrTail.shift();
      opts.log.debug({ generation, line }, "ffmpeg");
    });
    command.on("start", (cmdline: string) => {
      opts.log.debug({ generation, cmdline }, "ffmpeg started");
      // fluent-ffmpeg spawns after its own checks: a stop() before that found no process to kill
      if (this.killed) command.kill("SIGKILL");
    });
    command.on("error", (err: Error) => {
      markExited();
      if (this.command === command) this.command = null;
      stdin?.destroy();
      if (this.stopped) return;
      this.onCrash(FfmpegError.from(err, stderrTail.slice(-3).join(" | ")));
    });
    command.on("end", () => {
      markExited();
      if (this.command === command) this.command = null;
      if (!this.stopped) this.emit("end");
    });
    const stdout = command.pipe() as PassThrough;
    stdout.on("data", () => {
      this.lastOutputAt = Date.now();
      this.consecutive = 0;
    });
    stdout.on("error", () => undefined);
    stdin?.on("error", () => undefined);
    // fluent-ffmpeg spawns on nextTick; the pid is known after 'start'.
    this.lastOutputAt = Date.now();
    this.emit("spawn", { generation, pid: undefined, stdin, stdout } satisfies FfmpegGeneration);
  }

  private onCrash(error: FfmpegError): void {
    const now = Date.now();
    const windowMs = this.opts.restartWindowMs ?? 60_000;
    this.restartTimes = this.restartTimes.filter((t) => now - t < windowMs);
    if (this.restartTimes.length >= (this.opts.maxRestarts ?? 5)) {
      this.stopped = true;
      if (this.watchdog) clearInterval(this.watchdog);
      this.opts.log.error({ err: error, restarts: this.restarts }, "ffmpeg failed too often, giving up");
      this.emit("failed", error);
      return;
    }
    this.restartTimes.push(now);
    this.restarts++;
    const delayMs = Math.min((this.opts.backoffMs ?? 100) * 2 ** this.consecutive, 5000);
    this.consecutive++;
    this.opts.log.warn({ failure: error.failure, exitCode: error.exitCode, signal: error.signal, delayMs, restarts: this.restarts }, "ffmpeg crashed, restarting");
    this.emit("restart", { restarts: this.restarts, error, delayMs });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopped) this.spawn();
    }, delayMs);
  }
}

/** `promise`'s value, or undefined once `ms` (ms) have passed first. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
