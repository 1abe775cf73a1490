/**
 * A child process of the sync measurement (bench/sync/run.ts): it runs either a share of the
 * simulated listeners or the skewed broadcaster, each on an event loop of its own, as they would
 * be on their own machines. One process for everything would put the simulator's own event-loop
 * delay on every timestamp: the broadcaster's frames would leave late and the listeners' pongs be
 * read late, which is noise of the simulator, not of the network under test.
 *
 * IPC (serialization "advanced"): parent → child {@link SimCommand}; child → parent
 * {@link SimReply}.
 */
import type { PingSchedule } from "../../media/clock/clock-pinger";
import { SimListener, type SimListenerResult } from "./sim-listener";
import { SkewedBroadcaster } from "./skewed-broadcaster";
import { seededRandom, VirtualClock } from "./virtual-clock";

/** One simulated listener to run. */
export interface SimSpec {
  url: string;
  streamId: string;
  offsetUs: number;
  driftPpm: number;
  upJitterMs: number;
  downJitterMs: number;
  seed: number;
  /** Join this long after the run starts, ms. */
  joinAfterMs: number;
  compensateDrift?: boolean;
  pingSchedule?: PingSchedule;
}

export type SimCommand =
  | { type: "listeners"; specs: SimSpec[] }
  /** `token`: a publish token for the stream (the nodes enforce them). */
  | { type: "broadcaster"; url: string; streamId: string; packets: Buffer[]; skewPpm: number; token: string }
  | { type: "stop" };

export type SimReply =
  | { type: "started" }
  | { type: "listeners"; results: SimListenerResult[] }
  | { type: "broadcaster"; capturedUs: number[] }
  | { type: "error"; message: string };

const send = (reply: SimReply, then?: () => void) => process.send?.(reply, undefined, undefined, () => then?.());

let stop: (() => SimReply) | null = null;

process.on("message", (cmd: SimCommand) => {
  void handle(cmd).catch((err: unknown) => {
    send({ type: "error", message: err instanceof Error ? err.stack ?? err.message : String(err) });
  });
});

async function handle(cmd: SimCommand): Promise<void> {
  if (cmd.type === "stop") {
    // leave once the (large) reply is flushed
    send(stop?.() ?? { type: "error", message: "stop before run" }, () => process.disconnect?.());
    return;
  }
  if (cmd.type === "broadcaster") {
    const broadcaster = new SkewedBroadcaster(cmd.url, cmd.streamId, cmd.packets, cmd.skewPpm, cmd.token);
    stop = () => (broadcaster.stop(), { type: "broadcaster", capturedUs: broadcaster.capturedUs });
    await broadcaster.start();
    send({ type: "started" });
    return;
  }
  const sims = cmd.specs.map(
    (s) =>
      new SimListener({
        url: s.url,
        streamId: s.streamId,
        clock: new VirtualClock(s.offsetUs, s.driftPpm),
        upJitterMs: s.upJitterMs,
        downJitterMs: s.downJitterMs,
        random: seededRandom(s.seed),
        compensateDrift: s.compensateDrift,
        pingSchedule: s.pingSchedule,
      }),
  );
  // one render loop for all of this process's listeners (a timer each would load the event loop)
  const renderTimer = setInterval(() => sims.forEach((s) => s.render()), 10);
  const joins = sims.map((sim, i) => setTimeout(() => void sim.start().catch(() => undefined), cmd.specs[i]!.joinAfterMs));
  stop = () => {
    clearInterval(renderTimer);
    joins.forEach(clearTimeout);
    sims.forEach((s) => s.stop());
    return { type: "listeners", results: sims.map((s) => s.result()) };
  };
  send({ type: "started" });
}
