/**
 * Ladder CPU: one node, `streams` Opus broadcasts (128 kbit/s, rendition 0 passes through), the
 * default ladder (Opus 64k and 32k stereo, AAC-LC 128k). The node's CPU (its process and every
 * ffmpeg it runs, from /proc) is measured over `seconds` in four steps, each adding users of one
 * more rung on every stream: rendition 0 only, + r1 (a WebSocket listener with ?rendition=1),
 * + r2 (?rendition=2), + r3 (an HLS client reloading r3's media playlist once a second). Each
 * step's increase divided by the streams is that rendition's cost per stream; the rung listeners'
 * frame counts show whether every rung kept real time.
 */
import { Broadcaster } from "../fanout/broadcaster";
import { sampleTree } from "../fanout/proc-stats";
import { RawWsClient } from "../fanout/ws-client";
import { testToken } from "../../test/support/auth";
import { sleep, type NodeProcess } from "../../test/support/node-process";

export interface LadderCpuStep {
  /** What ran: "r0", "r0+r1", … */
  renditions: string;
  /** Node CPU (process + ffmpeg children) over the window, cores (CPU s per s). */
  cores: number;
  /** Rung encoders (ffmpeg processes) running at the end of the window. */
  ffmpegs: number;
  /** Frames per second received by the listeners of the newest WebSocket rung, per listener (50 = real time). */
  rungFramesPerSecond: number | null;
}

export async function ladderCpu(node: NodeProcess, packets: Buffer[], streams: number, seconds: number): Promise<LadderCpuStep[]> {
  const ids = Array.from({ length: streams }, (_, i) => `lad${i}`);
  const broadcasters: Broadcaster[] = [];
  const clients: RawWsClient[] = [];
  let hlsTimer: NodeJS.Timeout | null = null;
  const steps: LadderCpuStep[] = [];
  try {
    for (const id of ids) {
      const { broadcaster } = await Broadcaster.connect(node.port, id, await testToken("publish", [id], { sub: "ladder-bench" }), 5000);
      broadcaster.start(packets, 20, () => undefined);
      broadcasters.push(broadcaster);
    }
    const frames = new Map<number, number>();
    const listen = (id: string, r: number) =>
      clients.push(
        new RawWsClient(node.port, `/ws/listen/${id}?rendition=${r}`, {
          open: () => undefined,
          text: () => undefined,
          binary: () => frames.set(r, (frames.get(r) ?? 0) + 1),
          closed: () => undefined,
        }),
      );
    for (const id of ids) listen(id, 0);
    const measure = async (renditions: string, rung: number | null) => {
      await sleep(3000); // rung encoders starting
      const before = sampleTree(node.proc.pid!);
      const framesBefore = rung === null ? 0 : (frames.get(rung) ?? 0);
      await sleep(seconds * 1000);
      const after = sampleTree(node.proc.pid!);
      const got = rung === null ? null : ((frames.get(rung) ?? 0) - framesBefore) / streams / ((after.atMs - before.atMs) / 1000);
      steps.push({ renditions, cores: (after.cpuSec - before.cpuSec) / ((after.atMs - before.atMs) / 1000), ffmpegs: after.pids.length - 1, rungFramesPerSecond: got });
    };
    await measure("r0", 0);
    for (const id of ids) listen(id, 1);
    await measure("r0+r1", 1);
    for (const id of ids) listen(id, 2);
    await measure("r0+r1+r2", 2);
    const pollHls = () => {
      for (const id of ids) void fetch(`${node.http}/hls/${id}/r3/media.m3u8`).then((r) => r.arrayBuffer()).catch(() => undefined);
    };
    pollHls();
    hlsTimer = setInterval(pollHls, 1000);
    await measure("r0+r1+r2+r3", null);
  } finally {
    if (hlsTimer) clearInterval(hlsTimer);
    for (const c of clients) c.destroy();
    for (const b of broadcasters) b.stop();
  }
  return steps;
}
