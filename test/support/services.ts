/**
 * The real servers cluster tests need: NATS (with JetStream) on 127.0.0.1:4222 and Redis on
 * 127.0.0.1:6379. This machine kind starts them before each session and CI run; a test that finds
 * one down starts it with the machine's own command rather than skipping.
 */
import { execFileSync } from "node:child_process";
import net from "node:net";

export const NATS_URL = "nats://127.0.0.1:4222";
export const REDIS_URL = "redis://127.0.0.1:6379";

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

async function waitListening(port: number, up: boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while ((await isListening(port)) !== up) {
    if (Date.now() > until) throw new Error(`port ${port} not ${up ? "up" : "down"} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startNats(): Promise<void> {
  execFileSync("start-stop-daemon", [
    "--start", "--oknodo", "--background", "--exec", "/usr/sbin/nats-server", "--",
    "-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/var/lib/nats-server", "-l", "/var/log/nats-server.log",
  ]);
  await waitListening(4222, true, 10_000);
}

export async function stopNats(): Promise<void> {
  execFileSync("start-stop-daemon", ["--stop", "--oknodo", "--retry", "5", "--exec", "/usr/sbin/nats-server"]);
  await waitListening(4222, false, 10_000);
}

export async function ensureNats(): Promise<void> {
  if (!(await isListening(4222))) await startNats();
}

export async function ensureRedis(): Promise<void> {
  if (await isListening(6379)) return;
  execFileSync("redis-server", ["--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"]);
  await waitListening(6379, true, 10_000);
}

/** Stops the machine's Redis (it keeps nothing on disk: it comes back empty). */
export async function stopRedis(): Promise<void> {
  execFileSync("redis-cli", ["-p", "6379", "shutdown", "nosave"]);
  await waitListening(6379, false, 10_000);
}
