/**
 * Stopping on SIGINT and SIGTERM the same way in every command: the first signal starts an orderly
 * stop and arms a hard exit after {@link GRACE_MS}; a second signal (300 ms or more later) exits at once. Nothing a stop
 * waits for (a node's broker, a socket, a log write) can keep the process alive past that.
 */

/** Milliseconds an orderly stop may take after the first signal. */
export const GRACE_MS = 2000;

/** Milliseconds within which a repeated signal is the same one delivered twice, not a second. */
const ECHO_MS = 300;

/** Exit code after a signal, as a shell reports it: 128 + the signal's number. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Calls `stop(signal)` on the first SIGINT or SIGTERM; exits with 128 + signal number after
 * `graceMs` (default {@link GRACE_MS}) if still running, or at once on a second signal.
 */
export function onStopSignal(stop: (signal: NodeJS.Signals) => void, graceMs = GRACE_MS): void {
  let first: NodeJS.Signals | null = null;
  let firstAt = 0;
  const handle = (signal: NodeJS.Signals) => {
    // Ctrl-C under `npm start` reaches the node twice at once (from the terminal to the whole
    // process group, and forwarded by npm), as does `timeout`: only a later one is a second signal
    if (first && Date.now() - firstAt < ECHO_MS) return;
    if (first) {
      process.stderr.write(`veza-stream: ${signal} again, exiting now\n`);
      process.exit(SIGNAL_EXIT[signal] ?? 1);
    }
    first = signal;
    firstAt = Date.now();
    setTimeout(() => {
      process.stderr.write(`veza-stream: did not stop within ${graceMs} ms of ${signal}, exiting\n`);
      process.exit(SIGNAL_EXIT[signal] ?? 1);
    }, graceMs).unref();
    stop(signal);
  };
  process.on("SIGINT", handle);
  process.on("SIGTERM", handle);
}
