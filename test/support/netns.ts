/**
 * A host of its own for one node process: a Linux network namespace joined to this machine by a
 * veth pair (iproute2), so a test can cut that node off the network and heal it (`ip link set …
 * down/up`; this kernel has no netem and iptables is not installed). The machine's NATS and Redis
 * listen on 127.0.0.1 only, which the namespace cannot reach, so {@link startHarnessServers} starts
 * a NATS and a Redis server of the test's own on the host end of the link, for every node to use.
 * Needs root (CAP_NET_ADMIN), as CI and sessions have here.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { freePort, sleep } from "./node-process";

export interface Netns {
  /** Namespace name, for `ip netns exec`. */
  name: string;
  /** Address of the host end of the link (reachable from the namespace and from the host). */
  hostIp: string;
  /** Takes the link down: the namespace's node loses every connection's packets (TCP retransmits). */
  cut(): void;
  heal(): void;
  remove(): void;
}

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });

/** Creates namespace `vz<id>` with a /30 link to the host (10.77.<id>.1 on the host, .2 inside); `id` 0-255. */
export function createNetns(id: number): Netns {
  const name = `vz${id}`;
  const [hostIf, nsIf] = [`vzh${id}`, `vzn${id}`];
  const [hostIp, nsIp] = [`10.77.${id}.1`, `10.77.${id}.2`];
  try {
    ip("netns", "del", name);
  } catch {
    // none left over from an earlier run
  }
  try {
    ip("link", "del", hostIf);
  } catch {
    // likewise
  }
  ip("netns", "add", name);
  ip("link", "add", hostIf, "type", "veth", "peer", "name", nsIf);
  ip("link", "set", nsIf, "netns", name);
  ip("addr", "add", `${hostIp}/30`, "dev", hostIf);
  ip("link", "set", hostIf, "up");
  ip("netns", "exec", name, "ip", "addr", "add", `${nsIp}/30`, "dev", nsIf);
  ip("netns", "exec", name, "ip", "link", "set", nsIf, "up");
  ip("netns", "exec", name, "ip", "link", "set", "lo", "up");
  return {
    name,
    hostIp,
    cut: () => ip("link", "set", hostIf, "down"),
    heal: () => ip("link", "set", hostIf, "up"),
    remove: () => {
      try {
        ip("netns", "del", name);
        ip("link", "del", hostIf);
      } catch {
        // the veth goes with the namespace
      }
    },
  };
}

/** A NATS server and a Redis server of the test's own, listening on `host`. */
export interface HarnessServers {
  natsUrl: string;
  redisUrl: string;
  stop(): Promise<void>;
}

async function waitConnectable(host: string, port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`${host}:${port} not listening after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Starts `nats-server` and `redis-server` (the machine's binaries) on `host`, on free ports. */
export async function startHarnessServers(host: string): Promise<HarnessServers> {
  const [natsPort, redisPort] = [await freePort(), await freePort()];
  const procs: ChildProcess[] = [
    spawn("/usr/sbin/nats-server", ["-a", host, "-p", String(natsPort)], { stdio: "ignore" }),
    spawn("redis-server", ["--bind", host, "--port", String(redisPort), "--save", "", "--appendonly", "no", "--protected-mode", "no"], { stdio: "ignore" }),
  ];
  const stop = async () => {
    for (const p of procs) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once("exit", r)) : undefined)));
  };
  try {
    await waitConnectable(host, natsPort, 10_000);
    await waitConnectable(host, redisPort, 10_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { natsUrl: `nats://${host}:${natsPort}`, redisUrl: `redis://${host}:${redisPort}`, stop };
}
