/**
 * Re-homing: the stream of a broadcaster on this gateway lost its owner (the failure detector
 * suspects the node, actors/cluster/liveness.ts, or it left the cluster). The gateway puts the
 * same session on air on the next owner (placement without the lost node) with the stream.start it
 * was started with, and goes on forwarding the broadcaster's frames: the broadcaster never notices,
 * and listeners hear a gap as long as the detection, with media time and the clock mapping going on
 * (actors/stream/live-stream.ts `continueFrom`). Times measured: docs/failover.md.
 *
 * Only formats whose bytes can be picked up anywhere are re-homed so: Opus frames, MP3 and ADTS AAC
 * (ffmpeg finds the next frame sync) and raw PCM. The others (Ogg, WebM, WAV, FLAC) need headers the
 * new owner's encoder never saw: their broadcaster is closed with OWNER_LOST (1012) and reconnects.
 */
import { call, type ActionParams } from "../actors/contract";
import { errorCodeOf } from "../actors/errors";
import type { IngestFormat } from "../media/wire/control";
import type { Gateway } from "./gateway";

/** A broadcaster on air through this gateway (a WebSocket broadcaster's data, an Icecast source). */
export interface OnAirSession {
  readonly streamId: string;
  readonly sessionId: string;
  /** Node that owns the stream actor. */
  owner: string | null;
  /** The stream.start it was put on air with. */
  start: Omit<ActionParams<"stream.start">, "resume"> | null;
  /** A re-homing is in flight. */
  rehoming: boolean;
  /** Bytes published on `ingest.<id>` so far. */
  ingestBytes: number;
}

const RESUMABLE: ReadonlySet<IngestFormat> = new Set(["opus", "mp3", "aac", "pcm_s16le", "mpegts"]);
/** Answers worth another try: the next owner still sees the lost one as the lease holder, or no answer (Moleculer's time-out). */
const RETRY_ON: ReadonlySet<string> = new Set(["STREAM_MOVED", "NO_WORKER", "INTERNAL"]);
/**
 * stream.start tries and the pause between them (ms): the next owner may not suspect the lost one
 * yet (its detector checks every 100 ms) and answer STREAM_MOVED; 40 tries span about a second.
 */
const ATTEMPTS = 40;
const RETRY_MS = 25;
/** Time-out of one stream.start try (ms). */
const START_TIMEOUT_MS = 2000;

/**
 * Re-homes the stream of broadcaster `data` away from `lost`; `closed()` tells whether the
 * broadcaster left meanwhile, and `giveUp()` closes it with OWNER_LOST when the stream cannot be re-homed.
 */
export async function rehome(gw: Gateway, data: OnAirSession, lost: string, closed: () => boolean, giveUp: () => void): Promise<void> {
  if (closed() || data.rehoming || data.owner !== lost) return;
  if (!data.start || !RESUMABLE.has(data.start.format)) return giveUp();
  data.rehoming = true;
  const t0 = performance.now();
  let code: string = "NO_WORKER";
  try {
    for (let attempt = 1; attempt <= ATTEMPTS && !closed(); attempt++) {
      const target = gw.placement.ownerOf(data.streamId);
      if (target && target !== lost) {
        try {
          const info = await call(gw.broker, "stream.start", { ...data.start, resume: data.sessionId }, { nodeID: target, timeout: START_TIMEOUT_MS, retries: 0 });
          gw.placement.learn(info);
          if (closed()) {
            await call(gw.broker, "stream.stop", { streamId: data.streamId, sessionId: data.sessionId, reason: "disconnect", ingestBytes: data.ingestBytes }, { nodeID: info.owner });
            return;
          }
          data.owner = info.owner;
          // the new owner's encoder counts from its start (it waits for these bytes at the stream's end)
          data.ingestBytes = 0;
          gw.metrics.rehomes.inc({ result: "ok" });
          gw.log.info({ streamId: data.streamId, from: lost, to: info.owner, ms: Math.round(performance.now() - t0), attempt }, "stream re-homed");
          return;
        } catch (err) {
          code = errorCodeOf(err);
          const owner = (err as { data?: { owner?: unknown } }).data?.owner;
          if (code === "STREAM_MOVED" && typeof owner === "string") gw.placement.learn({ streamId: data.streamId, owner, state: "live" });
          else if (!RETRY_ON.has(code)) break;
        }
      } else code = "NO_WORKER";
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
    gw.metrics.rehomes.inc({ result: "failed" });
    gw.log.warn({ streamId: data.streamId, from: lost, code }, "stream could not be re-homed; asking the broadcaster to reconnect");
    giveUp();
  } finally {
    data.rehoming = false;
  }
}
