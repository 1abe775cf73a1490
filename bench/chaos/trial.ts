/**
 * One fault-injection trial (issue 17): a fresh 3-node cluster on this machine's NATS and Redis
 * (a: gateway + stream worker, b: gateway, c: stream worker), a broadcaster sending a real
 * recording through the CLI's Broadcast (reconnecting, over both gateways), listeners on both
 * gateways through the CLI's Listener (reconnecting, failing over to the other gateway, resuming
 * their sessions) that record every frame's arrival and every sync tick. After `warmupMs` of audio
 * and a random 20-1000 ms more, the fault is injected, and the trial watches for `watchMs` from
 * then. Per listener: the silence around the fault, the frames that came back in media time
 * without a discontinuity flag (duplicated, out of order, or a second owner's), whether it got
 * audio again, whether its session survived, and how far its timeline moved; per trial: whether a
 * node that was not the fault's target exited.
 */
import type WebSocket from "ws";
import type { Listener } from "../../bin/commands/listen";
import { clusterTimeOf } from "../../media/clock/media-clock";
import type { SyncTick } from "../../media/clock/playout";
import { AudioFlag } from "../../media/wire";
import { openListeners, startBroadcast } from "../../test/support/broadcast";
import { startCluster, streamOwnedBy } from "../../test/support/cluster";
import { sleep, waitFor } from "../../test/support/node-process";
import { createNetns, startHarnessServers } from "../../test/support/netns";
import { ensureRedis, startNats, stopNats, stopRedis } from "../../test/support/services";

/** How long the partition fault keeps the owner cut off (ms). */
const PARTITION_MS = 3000;

export const FAULTS = ["owner-kill", "gateway-kill", "owner-stop", "nats-restart", "redis-restart", "broadcaster-cut", "partition"] as const;
export type Fault = (typeof FAULTS)[number];

export interface ListenerOutcome {
  gateway: string;
  /** Longest time without a frame from 1 s before the fault on, less one frame period, ms. */
  silenceMs: number;
  /** Largest jump forward in media time from 1 s before the fault on (audio missed, whether the gap was silent or skipped), ms. */
  mediaGapMs: number;
  /** Fault → the end of the longest interruption (the silence), when it is 60 ms or more and ends after the fault, ms (0: none); null when audio never came back. */
  resumeMs: number | null;
  /** Frames whose media time did not move forward, without the discontinuity flag. */
  backwards: number;
  /** The listener ended for good, or reconnected without its session resumed. */
  sessionLost: boolean;
  /**
   * Largest move of the listener's timeline at the fault, µs: of the sync ticks received after the
   * fault that take effect within 3 s of media time after it, how far one moves the cluster time
   * of its first media time from the tick in force there before it. Synchronised playout follows
   * up to 2 ms by slewing; more is a hard resync.
   */
  timelineStepUs: number;
}

export interface TrialResult {
  fault: Fault;
  listeners: ListenerOutcome[];
  /** Nodes other than the fault's target that exited during the trial. */
  crashed: string[];
}

const SPECS = [
  { name: "a", services: "gateway,stream,encoder,relay" },
  { name: "b", services: "gateway,relay" },
  { name: "c", services: "stream,encoder" },
];

interface Arrival {
  at: number;
  mediaTime: number;
  end: number;
  flagged: boolean;
}

export async function runTrial(fault: Fault, trial: number, o: { listenersPerGateway: number; warmupMs: number; watchMs: number }): Promise<TrialResult> {
  // partition: c in a network namespace of its own, every node on a NATS and a Redis the trial starts on the link's host end
  const netns = fault === "partition" ? createNetns(1 + (trial % 250)) : null;
  const servers = netns ? await startHarnessServers(netns.hostIp).catch((err: unknown) => (netns.remove(), Promise.reject(err))) : null;
  const cluster = await startCluster(
    SPECS.map((s) => (s.name === "c" && netns ? { ...s, netns: netns.name } : s)),
    servers ? { NATS_URL: servers.natsUrl, REDIS_URL: servers.redisUrl } : {},
  ).catch(async (err: unknown) => {
    await servers?.stop();
    netns?.remove();
    throw err;
  });
  const nodes = cluster.nodes;
  const [a, b, c] = [nodes.a!, nodes.b!, nodes.c!];
  const target = fault === "gateway-kill" ? "b" : fault === "owner-kill" || fault === "owner-stop" ? "c" : null;
  const streamId = streamOwnedBy("c", ["a", "c"], `chaos${trial}x`); // the node the owner faults hit
  const all: Array<{ gateway: string; l: Listener; arrivals: Arrival[] }> = [];
  let broadcast: Awaited<ReturnType<typeof startBroadcast>> | null = null;
  try {
    for (const [gateway, urls] of [["a", [a.url, b.url]], ["b", [b.url, a.url]]] as const) {
      for (const l of await openListeners([...urls], streamId, o.listenersPerGateway, { reconnect: true })) {
        const arrivals: Arrival[] = [];
        l.onFrame = (f, at) => arrivals.push({ at, mediaTime: f.mediaTime, end: f.mediaTime + f.duration, flagged: (f.flags & AudioFlag.DISCONTINUITY) !== 0 });
        all.push({ gateway, l, arrivals });
      }
    }
    // the broadcaster on the gateway a gateway fault spares, with the other to fail over to
    broadcast = await startBroadcast(fault === "gateway-kill" ? [a.url, b.url] : [b.url, a.url], streamId, "awakening.ogg", "opus", { startSeconds: 30, reconnect: true, loop: true });
    await waitFor(() => all.every((x) => x.l.stats.audioMs >= o.warmupMs), 20_000, "audio on every listener");
    await sleep(20 + Math.random() * 980);
    const faultAt = Date.now();
    const textsBefore = all.map((x) => x.l.texts.length);
    if (fault === "owner-kill") c.proc.kill("SIGKILL");
    else if (fault === "gateway-kill") b.proc.kill("SIGKILL");
    else if (fault === "owner-stop") {
      c.proc.kill("SIGSTOP");
      await sleep(5000);
      c.proc.kill("SIGCONT");
    } else if (fault === "nats-restart") {
      await stopNats();
      await sleep(1000);
      await startNats();
    } else if (fault === "redis-restart") {
      await stopRedis();
      await sleep(1000);
      await ensureRedis();
    } else if (fault === "partition") {
      netns!.cut();
      await sleep(PARTITION_MS);
      netns!.heal();
    } else {
      // the broadcaster's connection cut (no close frame): it reconnects, resuming its session
      (broadcast as unknown as { ws: WebSocket | null }).ws?.terminate();
    }
    await sleep(Math.max(0, faultAt + o.watchMs - Date.now()));
    const crashed = Object.entries(nodes).filter(([name, n]) => name !== target && n.proc.exitCode !== null).map(([name]) => name);
    return { fault, crashed, listeners: all.map((x, i) => outcome(x.gateway, x.l, x.arrivals, faultAt, textsBefore[i]!)) };
  } finally {
    await broadcast?.abort();
    for (const x of all) x.l.close();
    if (fault === "owner-stop") c.proc.kill("SIGCONT");
    if (fault === "nats-restart") await startNats().catch(() => undefined);
    if (fault === "redis-restart") await ensureRedis().catch(() => undefined);
    netns?.heal();
    await cluster.stop();
    await servers?.stop();
    netns?.remove();
  }
}

function outcome(gateway: string, l: Listener, arrivals: Arrival[], faultAt: number, textsBefore: number): ListenerOutcome {
  let silenceMs = 0;
  let mediaGapMs = 0;
  let resumeMs: number | null = null;
  let backwards = 0;
  const ticks = (from: number, to?: number) => l.texts.slice(from, to).flatMap((t) => (t.type === "sync.tick" ? [t] : []));
  const timelineStepUs = timelineStep(ticks(0, textsBefore), ticks(textsBefore), (arrivals.filter((x) => x.at < faultAt).at(-1)?.end ?? 0) + 3 * 48_000);
  for (let i = 1; i < arrivals.length; i++) {
    const [prev, cur] = [arrivals[i - 1]!, arrivals[i]!];
    if (!cur.flagged && cur.mediaTime < prev.end) backwards++;
    if (cur.at < faultAt - 1000) continue;
    const gap = cur.at - prev.at - 20;
    mediaGapMs = Math.max(mediaGapMs, (cur.mediaTime - prev.end) / 48);
    if (gap <= silenceMs) continue;
    silenceMs = gap;
    // audio again: the end of the longest interruption (3 frame periods or more), the one the fault caused
    resumeMs = gap >= 60 && cur.at >= faultAt ? cur.at - faultAt : null;
  }
  const last = arrivals.at(-1);
  // no frame after the fault at all: silent to the end
  if (!last || last.at < faultAt) return { gateway, silenceMs: Infinity, mediaGapMs: Infinity, resumeMs: null, backwards, sessionLost: l.failure !== null, timelineStepUs };
  const lost = l.failure !== null || (l.stats.reconnects > 0 && l.last("hello")?.resumed !== true);
  return { gateway, silenceMs, mediaGapMs, resumeMs: resumeMs ?? 0, backwards, sessionLost: lost, timelineStepUs };
}

/**
 * The largest timeline move (µs) a tick received after the fault makes, among those taking effect
 * before media time `until`: how far it moves the cluster time of its first media time from where
 * the ticks held until then put it (the one in force there: the latest `validFrom` not after it,
 * as a player's schedule picks it). A tick a gateway sends again (to a listener that reconnected)
 * moves nothing.
 */
function timelineStep(before: SyncTick[], after: SyncTick[], until: number): number {
  const held = [...before];
  let step = 0;
  for (const t of after) {
    if (t.validFrom > until) continue;
    let inForce: SyncTick | undefined;
    for (const h of held) if (h.validFrom <= t.validFrom && (!inForce || h.validFrom >= inForce.validFrom)) inForce = h;
    if (inForce) step = Math.max(step, Math.abs(clusterTimeOf(t, t.validFrom) - clusterTimeOf(inForce, t.validFrom)));
    held.push(t);
  }
  return step;
}
