/**
 * ABR reaction, and what one slow listener costs the others: one Opus stream, `healthy` WebSocket
 * listeners on raw sockets whose latency (broadcaster send → arrival, matched by packet content)
 * is recorded, first for `seconds` alone, then for `seconds` while one more listener in `auto`
 * mode reads through test/support/throttle-proxy.py at 6000 bytes/s (48 kbit/s, under rendition
 * 0's 128k and rendition 1's 64k, over rendition 2's 32k) for `slowSeconds`, then at full speed.
 * The node's veza_rendition_switches_total is read every 100 ms: the reaction time is from the
 * slow listener's connection to its first down-switch, the recovery time from the link's return
 * to full speed to the up-switch that brings it back to rendition 0. A control run has no slow
 * listener: its two windows show how much the healthy figure moves by itself.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { Broadcaster } from "../fanout/broadcaster";
import { packetKey } from "../fanout/opus-source";
import { RawWsClient } from "../fanout/ws-client";
import { LatencyHistogram, type LatencySummary } from "../histogram";
import WebSocket from "ws";
import { ListenConnection } from "../../client/core/listen-connection";
import type { WebSocketLike } from "../../client/core/socket";
import { testToken } from "../../test/support/auth";
import { sleep, type NodeProcess } from "../../test/support/node-process";
import { metric } from "../../test/support/raw-socket";

export interface AbrRun {
  healthy: number;
  /** The slow listener ({@link SlowListener}). */
  slow: SlowListener;
  /** Healthy listeners' latency without, then with, the slow listener. */
  alone: LatencySummary;
  withSlow: LatencySummary;
  /** Switches seen, ms after the slow listener connected: [ms, direction]. */
  switches: Array<[number, "down" | "up"]>;
  /** Slow listener connected → first down-switch, ms. */
  reactionMs: number | null;
  /** Link back to full speed → back on rendition 0 (the last up-switch), ms. */
  recoveryMs: number | null;
  /** Listeners dropped during the run (veza_listeners_dropped_total). */
  dropped: number;
}

/**
 * The slow listener: `sdk`, the SDK's ListenConnection, which sends receiver reports
 * (`listener.report`); `raw`, a raw WebSocket that sends none, so the gateway sees only its own
 * send queue; `none`, no slow listener at all (the control: the second window as the first).
 */
export type SlowListener = "sdk" | "raw" | "none";

export async function abrReaction(node: NodeProcess, packets: Buffer[], healthy: number, seconds: number, slowSeconds: number, slowKind: SlowListener): Promise<AbrRun> {
  const id = "abr";
  const index = new Map<number, number>();
  packets.forEach((p, i) => index.set(packetKey(p, 0, p.length), i));
  const sentAt = new Float64Array(packets.length).fill(-Infinity);
  let latency: LatencyHistogram | null = null;
  const { broadcaster } = await Broadcaster.connect(node.port, id, await testToken("publish", [id], { sub: "abr-bench" }), 5000);
  const clients: RawWsClient[] = [];
  const proxyScript = path.join(__dirname, "../../test/support/throttle-proxy.py");
  try {
    const droppedBefore = await metric(node, "veza_listeners_dropped_total");
    for (let i = 0; i < healthy; i++)
      clients.push(
        new RawWsClient(node.port, `/ws/listen/${id}?rendition=0`, {
          open: () => undefined,
          text: () => undefined,
          binary: (buf, start, end, atMs) => {
            const k = index.get(packetKey(buf, start + 16, end));
            if (k !== undefined && latency) latency.record(atMs - sentAt[k]!);
          },
          closed: () => undefined,
        }),
      );
    broadcaster.start(packets, 20, (i, atMs) => (sentAt[i] = atMs));
    await sleep(3000);
    const alone = new LatencyHistogram();
    latency = alone;
    await sleep(seconds * 1000);
    // the proxy's link is slow for slowSeconds from its start
    const slow = slowKind === "none" ? null : spawn("python3", [proxyScript, "0", String(node.port), "6000", String(slowSeconds)], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const port = slow ? await new Promise<number>((resolve) => readline.createInterface({ input: slow.stdout! }).once("line", (l) => resolve(Number(l)))) : 0;
      const fastAt = performance.now() + slowSeconds * 1000;
      const withSlow = new LatencyHistogram();
      latency = withSlow;
      const t0 = performance.now();
      let sdk: ListenConnection | null = null;
      if (slowKind === "sdk") {
        sdk = new ListenConnection({ baseUrl: `http://127.0.0.1:${port}`, streamId: id, createSocket: (url, init) => new WebSocket(url, { headers: init.headers }) as unknown as WebSocketLike });
        sdk.start();
      } else if (slowKind === "raw") clients.push(new RawWsClient(port, `/ws/listen/${id}`, { open: () => undefined, text: () => undefined, binary: () => undefined, closed: () => undefined }));
      const switches: Array<[number, "down" | "up"]> = [];
      const counts = { down: 0, up: 0 };
      let recoveryMs: number | null = null;
      for (let until = t0 + (slowKind === "none" ? seconds : slowSeconds + 40) * 1000; performance.now() < until; await sleep(100)) {
        for (const direction of ["down", "up"] as const) {
          const n = await metric(node, "veza_rendition_switches_total", `{direction="${direction}"`);
          for (; counts[direction] < n; counts[direction]++) switches.push([Math.round(performance.now() - t0), direction]);
        }
        // back on rendition 0: as many up-switches as down-switches, after the link is fast
        if (performance.now() > fastAt && counts.down > 0 && counts.up === counts.down) {
          recoveryMs = Math.max(0, (switches.at(-1)![0] + t0) - fastAt);
          break;
        }
        if (performance.now() > t0 + seconds * 1000) latency = null;
      }
      sdk?.stop();
      const firstDown = switches.find((s) => s[1] === "down");
      return {
        slow: slowKind,
        healthy,
        alone: alone.summary(),
        withSlow: withSlow.summary(),
        switches,
        reactionMs: firstDown ? firstDown[0] : null,
        recoveryMs,
        dropped: (await metric(node, "veza_listeners_dropped_total")) - droppedBefore,
      };
    } finally {
      slow?.kill();
    }
  } finally {
    broadcaster.stop();
    for (const c of clients) c.destroy();
  }
}
