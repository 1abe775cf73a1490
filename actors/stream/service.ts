/**
 * The stream actor host: one {@link LiveStream} per stream this node owns. It takes broadcasters on
 * and off air, opens an encoder for container formats, stamps every frame with the stream's
 * sequence number and media time and publishes it on `audio.<id>.<rendition>`, and tells every node
 * about state changes with `stream.*` events.
 */
import type { Context, ServiceSchema } from "moleculer";
import { clusterNowUs } from "../../media/clock/cluster-time";
import { AUDIO_HEADER_BYTES } from "../../media/wire/constants";
import type { StreamInfo } from "../../media/wire/control";
import { subjects } from "../../transports";
import { BEAT_INTERVAL_MS } from "../cluster/liveness";
import { isNodeAlive } from "../cluster/placement";
import type { StreamClockState } from "../cluster/store";
import { call, emitEvent, parseParams, type EventPayloads } from "../contract";
import { requireAdmin } from "../auth/service";
import { VezaError } from "../errors";
import type { NodeContext } from "../node-context";
import { EncoderDemand } from "./encoder-demand";
import { LadderDemand } from "./ladder-demand";
import { ladderOf, type Rendition } from "../../media/ladder";
import { LiveStream } from "./live-stream";
import { Recordings } from "../recording/recordings";

/** A stream with no broadcaster and no listeners is forgotten after this long (ms). */
const IDLE_FORGET_MS = 60_000;
/** Listener-count-only status updates go out at most this often per stream (ms). */
const STATUS_INTERVAL_MS = 250;
/**
 * How long a node must stay disconnected before the streams whose broadcaster it held go off air
 * (ms): two of Moleculer's 1 s heartbeats (moleculer.config.ts), so a node that was itself away
 * sees the others again first.
 */
const NODE_GONE_GRACE_MS = 2000;
/** Ownership lease of a live stream (ms), renewed every third of it, with the stream's clock state. */
const LEASE_TTL_MS = 3000;
/** A live stream's clock state (media time, seq, clock mapping) is kept this long after its last save (ms). */
const STATE_TTL_MS = IDLE_FORGET_MS;
/** How long a new owner waits for the former owner's clock state before starting without it (ms). */
const STATE_LOAD_TIMEOUT_MS = 300;

export function streamService(node: NodeContext): ServiceSchema {
  const streams = new Map<string, LiveStream>();
  /** Unsubscribe functions of each stream's audio input (ingest or encoded subject). */
  const inputs = new Map<string, () => void>();
  const statusTimers = new Map<string, NodeJS.Timeout>();
  /** Streams whose encoder is draining before they go off air. */
  const closing = new Set<string>();
  /**
   * Streams whose frames are refused until this node confirms it still holds their lease: its
   * event loop stalled long enough for the others to suspect it and re-home them (a frozen owner
   * that wakes up must never stamp beside its successor).
   */
  const fenced = new Set<string>();
  // one node alone (no NATS) has nobody to be replaced by: it never fences
  const fenceAfterMs = node.config.natsUrl ? Math.max(2 * BEAT_INTERVAL_MS, node.config.failoverDetectMs - 2 * BEAT_INTERVAL_MS) : Infinity;
  let gcTimer: NodeJS.Timeout | null = null;
  let leaseTimer: NodeJS.Timeout | null = null;
  let tickTimer: NodeJS.Timeout | null = null;
  let broker: Context["broker"] | null = null;
  const recordings = new Recordings(node, node.objects);
  const encoderCall = async (action: "encoder.pause" | "encoder.resume", streamId: string) => {
    if (!broker) return { paused: false, changed: false };
    return call(broker, action, { streamId }, { nodeID: broker.nodeID });
  };
  const ladder = new LadderDemand({
    apply: async (streamId, rungs) => (broker ? (await call(broker, "encoder.ladder", { streamId, rungs }, { nodeID: broker.nodeID })).running : []),
    onError: (err, streamId) => node.log.warn({ err, streamId }, "ladder rungs could not be set"),
  });
  const demand = new EncoderDemand({
    idleMs: node.config.encoderIdleMs,
    pause: (id) => encoderCall("encoder.pause", id),
    resume: (id) => encoderCall("encoder.resume", id),
    onError: (err, streamId) => node.log.warn({ err, streamId }, "encoder pause/resume failed"),
  });

  return {
    name: "stream",
    actions: {
      async start(ctx: Context) {
        const p = parseParams("stream.start", ctx.params);
        const renditions = renditionsOf(p.ladder);
        const me = this.broker.nodeID;
        const holder = await node.store.claimOwner(p.streamId, me, (id) => isNodeAlive(this.broker, id, node.liveness), LEASE_TTL_MS);
        if (holder !== me) throw new VezaError("STREAM_MOVED", `stream ${p.streamId} is owned by ${holder}`, { owner: holder });
        const created = !streams.has(p.streamId);
        const former = created ? await loadState(p.streamId) : null;
        const stream = getOrCreate(p.streamId, me);
        // throws BROADCASTER_EXISTS before anything of the broadcaster on air is touched
        stream.start(
          { sessionId: p.broadcaster.sessionId, nodeID: p.broadcaster.nodeID, sub: p.broadcaster.sub, format: p.format, channels: p.channels ?? 2, startedAt: Date.now() },
          p.title,
          p.metadata,
          p.resume,
        );
        fenced.delete(p.streamId);
        if (former) stream.continueFrom(former, former.sessionId === p.broadcaster.sessionId || former.sessionId === p.resume);
        stream.playoutDelayMs = p.playoutDelayMs ?? node.config.playoutDelayMs;
        stream.renditions = renditions;
        closeInput(p.streamId);
        demand.reset(p.streamId);
        // before the first frame: a recording gets all of it
        await recordings.onLive(stream, { record: p.record, began: created ? (former ? "failover" : "start") : "resume" }).catch((err: unknown) => {
          node.log.error({ err, streamId: p.streamId }, "recording could not start; the stream goes live unrecorded");
        });
        try {
          if (p.format === "opus") {
            inputs.set(p.streamId, node.bus.subscribe(subjects.ingest(p.streamId), (m) => onFrame(this.broker, stream, m)));
          } else {
            inputs.set(p.streamId, node.bus.subscribe(subjects.encoded(p.streamId, 0), (m) => onFrame(this.broker, stream, m)));
            await call(ctx, "encoder.open", { streamId: p.streamId, format: p.format, sampleRate: p.sampleRate, channels: p.channels }, { nodeID: this.broker.nodeID });
          }
        } catch (err) {
          closeInput(p.streamId);
          stream.stop(p.broadcaster.sessionId, "error");
          if (stream.lifecycle.state !== "live") await node.store.releaseOwner(p.streamId, me);
          throw err;
        }
        node.metrics.streamsLive.set(liveCount());
        const info = stream.info();
        node.log.info({ streamId: p.streamId, format: p.format, broadcaster: p.broadcaster.sessionId }, "stream live");
        emitEvent(this.broker, "stream.start", { ...info, sessionId: p.broadcaster.sessionId });
        emitEvent(this.broker, "stream.status", info);
        return info;
      },

      async stop(ctx: Context) {
        const p = parseParams("stream.stop", ctx.params);
        const stream = streams.get(p.streamId);
        if (!stream) throw new VezaError("STREAM_NOT_FOUND", `no stream ${p.streamId}`);
        await takeOffAir(this.broker, stream, p.sessionId, p.reason, { ingestBytes: p.ingestBytes });
        return stream.info();
      },

      async end(ctx: Context) {
        const p = parseParams("stream.end", ctx.params);
        const admin = await requireAdmin(node, ctx, p.streamId);
        const stream = streams.get(p.streamId);
        if (!stream) throw new VezaError("STREAM_NOT_FOUND", `no stream ${p.streamId}`);
        if (stream.lifecycle.state === "live") {
          node.access.auditEvent("stream.end", { streamId: p.streamId, sub: admin.sub, broadcaster: stream.lifecycle.broadcaster.sub, from: ctx.nodeID });
          await takeOffAir(this.broker, stream, stream.lifecycle.broadcaster.sessionId, "stop", { code: "STREAM_ENDED" });
        }
        return stream.info();
      },

      metadata(ctx: Context) {
        const p = parseParams("stream.metadata", ctx.params);
        const stream = streams.get(p.streamId);
        if (!stream) throw new VezaError("STREAM_NOT_FOUND", `no stream ${p.streamId}`);
        if (!stream.isOnAir(p.sessionId)) throw new VezaError("NOT_STARTED", "only the broadcaster on air may set metadata");
        if (p.title !== undefined) stream.title = p.title;
        if (p.metadata !== undefined) stream.metadata = p.metadata;
        const info = stream.info();
        emitEvent(this.broker, "stream.metadata", info);
        return info;
      },

      async record(ctx: Context) {
        const p = parseParams("stream.record", ctx.params);
        const admin = await requireAdmin(node, ctx, p.streamId);
        const stream = streams.get(p.streamId);
        if (!stream || stream.lifecycle.state !== "live") throw new VezaError("STREAM_NOT_FOUND", `stream ${p.streamId} is not live on this node`);
        const recording = await recordings.set(stream, p.on);
        node.access.auditEvent(p.on ? "recording.start" : "recording.stop", { streamId: p.streamId, sub: admin.sub, recording: recording?.id, from: ctx.nodeID });
        return { streamId: p.streamId, recording };
      },

      get(ctx: Context) {
        const p = parseParams("stream.get", ctx.params);
        const stream = streams.get(p.streamId);
        if (!stream) throw new VezaError("STREAM_NOT_FOUND", `no stream ${p.streamId}`);
        return stream.info();
      },

      list() {
        return [...streams.values()].map((s) => s.info());
      },

      listeners(ctx: Context) {
        const p = parseParams("stream.listeners", ctx.params);
        // listeners waiting for a stream no broadcaster created leave no state here; gateways
        // re-report their counts every 2 s and at stream.start, so the count is known once it exists
        const stream = streams.get(p.streamId);
        if (!stream) return null;
        if (stream.setListeners(p.nodeID, p.count, p.passthrough, p.renditions)) scheduleStatus(this.broker, stream);
        demand.update(stream);
        ladder.update(stream);
        return stream.info();
      },
    },

    events: {
      /**
       * Another node took a stream over (failover): forget this node's stale copy of it. Still live
       * here, this node was suspected (frozen, cut off) and replaced: it goes off air without a word.
       */
      "stream.start"(ctx: Context<EventPayloads["stream.start"]>) {
        const own = streams.get(ctx.params.streamId);
        if (!own || ctx.params.owner === this.broker.nodeID) return;
        if (own.lifecycle.state === "live") void takeOffAir(this.broker, own, own.lifecycle.broadcaster.sessionId, "error", { replacedBy: ctx.params.owner });
        else streams.delete(ctx.params.streamId);
      },
      "encoder.restarted"(ctx: Context<EventPayloads["encoder.restarted"]>) {
        streams.get(ctx.params.streamId)?.markDiscontinuity();
      },
      async "encoder.failed"(ctx: Context<EventPayloads["encoder.failed"]>) {
        const stream = streams.get(ctx.params.streamId);
        if (stream?.lifecycle.state === "live") {
          await takeOffAir(this.broker, stream, stream.lifecycle.broadcaster.sessionId, "error", { code: ctx.params.code });
        }
      },
      "$node.disconnected"(ctx: Context<{ node: { id: string } }>) {
        const gone = ctx.params.node.id;
        for (const stream of streams.values()) if (stream.dropNode(gone)) scheduleStatus(this.broker, stream);
        // the gateway holding a broadcaster died: free its streams for the broadcaster's reconnect,
        // if the node is still gone after a grace period. This node may be the one that was away
        // (frozen, SIGSTOP, a long GC: it finds every other node's heartbeat late when it wakes,
        // and sees them again within a heartbeat); taking the stream off air then would leave the
        // broadcaster on a gateway that was never told, sending to an owner that drops its frames
        const broker = this.broker;
        setTimeout(() => {
          if (isNodeAlive(broker, gone)) return;
          for (const stream of streams.values()) {
            if (stream.lifecycle.state === "live" && stream.lifecycle.broadcaster.nodeID === gone) {
              void takeOffAir(broker, stream, stream.lifecycle.broadcaster.sessionId, "disconnect");
            }
          }
        }, NODE_GONE_GRACE_MS).unref();
      },
    },

    async started() {
      broker = this.broker;
      await recordings.start();
      gcTimer = setInterval(() => {
        const now = Date.now();
        for (const [id, s] of streams) {
          if (s.lifecycle.state !== "live" && s.listeners === 0 && now - s.lastActiveAt > IDLE_FORGET_MS) {
            streams.delete(id);
            demand.forget(id);
            ladder.forget(id);
          }
        }
      }, 10_000);
      gcTimer.unref();
      leaseTimer = setInterval(() => void renewLeases(this.broker), LEASE_TTL_MS / 3);
      leaseTimer.unref();
      node.liveness.onStall((gapMs) => fenceAll(this.broker, gapMs));
      tickTimer = setInterval(() => {
        for (const s of streams.values()) {
          if (fenced.has(s.streamId)) continue;
          const tick = s.syncTick(true);
          if (tick) emitEvent(this.broker, "stream.clock", { streamId: s.streamId, tick });
          demand.update(s);
          ladder.update(s);
        }
      }, 1000);
      tickTimer.unref();
    },

    async stopped() {
      if (gcTimer) clearInterval(gcTimer);
      if (leaseTimer) clearInterval(leaseTimer);
      if (tickTimer) clearInterval(tickTimer);
      for (const t of statusTimers.values()) clearTimeout(t);
      for (const id of [...inputs.keys()]) closeInput(id);
      await recordings.stop();
    },
  };

  /**
   * A broadcast's renditions: 0 at OPUS_BITRATE, then the rungs of its `ladder` or the node's LADDER.
   * @throws VezaError BAD_REQUEST for a ladder that does not parse.
   */
  function renditionsOf(text: string | undefined): Rendition[] {
    try {
      return ladderOf(node.config.opusBitrate, text ?? node.config.ladder);
    } catch (err) {
      throw new VezaError("BAD_REQUEST", (err as Error).message);
    }
  }

  function getOrCreate(streamId: string, owner: string): LiveStream {
    let stream = streams.get(streamId);
    if (!stream) {
      const pacing = { rate: node.config.maxIngestSpeed, burstMs: node.config.ingestBurstMs };
      streams.set(streamId, (stream = new LiveStream(streamId, owner, node.config.playoutDelayMs, pacing)));
    }
    return stream;
  }

  function liveCount(): number {
    let n = 0;
    for (const s of streams.values()) if (s.lifecycle.state === "live") n++;
    return n;
  }

  function closeInput(streamId: string): void {
    inputs.get(streamId)?.();
    inputs.delete(streamId);
  }

  /**
   * Stamps one audio.data message (owned by us) and publishes it to listeners. Its duration field
   * is the one the packet's TOC byte gives: written by the gateway that checked the broadcaster's
   * frame, or by the encoder.
   */
  function onFrame(broker: Context["broker"], stream: LiveStream, message: Uint8Array): void {
    const arrivalUs = clusterNowUs();
    if (stream.lifecycle.state !== "live" || message.length <= AUDIO_HEADER_BYTES) return;
    fenceAll(broker, node.liveness.unseenMs());
    if (fenced.has(stream.streamId)) {
      node.metrics.framesDropped.inc({ reason: "fenced" });
      return;
    }
    const duration = ((message[14] ?? 0) << 8) | (message[15] ?? 0);
    if (duration === 0) {
      node.metrics.framesDropped.inc({ reason: "bad_frame" });
      return;
    }
    const verdict = stream.policer.admit(duration, performance.now());
    if (verdict !== "pass") {
      node.metrics.framesDropped.inc({ reason: "too_fast" });
      if (verdict === "abuse" && stream.lifecycle.state === "live") {
        node.log.warn({ streamId: stream.streamId, droppedMs: stream.policer.droppedSamples / 48 }, "broadcaster faster than real time; closing it");
        void takeOffAir(broker, stream, stream.lifecycle.broadcaster.sessionId, "error", { code: "BROADCASTER_TOO_FAST" });
      }
      return;
    }
    stream.stamp(message, 0, duration, arrivalUs);
    node.metrics.framesIn.inc();
    recordings.frame(stream.streamId, message);
    // after a clock reset the tick goes out before the frame it applies to
    const tick = stream.syncTick(false);
    if (tick) emitEvent(broker, "stream.clock", { streamId: stream.streamId, tick });
    node.bus.publish(subjects.audio(stream.streamId, 0), message);
  }

  /**
   * Takes broadcaster `sessionId` off air. For a container format the encoder is closed first,
   * while the stream is still live, so the frames ffmpeg flushes at the end (the input's last
   * bytes) are still stamped and published; then the stream goes off air. `o.code` is told to the
   * broadcaster's gateway in stream.stop; `o.replacedBy`: another node owns the stream now, so the
   * stream goes off air here without a word (no lease to release, no event: the gateways follow
   * the new owner, and the broadcaster stays on air there).
   */
  async function takeOffAir(broker: Context["broker"], stream: LiveStream, sessionId: string, reason: "stop" | "disconnect" | "error", o: { code?: string; ingestBytes?: number; replacedBy?: string } = {}): Promise<void> {
    const { code, ingestBytes, replacedBy } = o;
    const format = stream.format;
    if (!stream.isOnAir(sessionId) || closing.has(stream.streamId)) return;
    if (format && format !== "opus") {
      closing.add(stream.streamId);
      try {
        await call(broker, "encoder.close", { streamId: stream.streamId, ingestBytes }, { nodeID: broker.nodeID });
      } catch (err) {
        node.log.warn({ err, streamId: stream.streamId }, "encoder close failed");
      } finally {
        closing.delete(stream.streamId);
      }
    }
    if (!stream.stop(sessionId, reason)) return;
    closeInput(stream.streamId);
    await recordings.offAir(stream.streamId, reason === "stop" && !replacedBy);
    fenced.delete(stream.streamId);
    demand.reset(stream.streamId);
    ladder.update(stream);
    if (replacedBy) {
      // not ours any more: forget it, so that nothing here speaks for it again
      streams.delete(stream.streamId);
      demand.forget(stream.streamId);
      ladder.forget(stream.streamId);
      clearTimeout(statusTimers.get(stream.streamId));
      statusTimers.delete(stream.streamId);
      node.metrics.streamsLive.set(liveCount());
      node.log.warn({ streamId: stream.streamId, owner: replacedBy }, "stream taken over by another node; off air here");
      return;
    }
    await node.store.releaseOwner(stream.streamId, broker.nodeID).catch((err: unknown) => node.log.warn({ err, streamId: stream.streamId }, "lease release failed"));
    node.metrics.streamsLive.set(liveCount());
    const info: StreamInfo = stream.info();
    node.log.info({ streamId: stream.streamId, reason, state: info.state }, "stream off air");
    emitEvent(broker, "stream.stop", { ...info, reason, sessionId, ...(code ? { code } : {}) });
    emitEvent(broker, "stream.status", info);
  }

  /**
   * Renews the lease of every live stream and saves its clock state; one that was lost (taken
   * over) goes off air here without a word. A fenced stream is unfenced once its lease is renewed.
   */
  async function renewLeases(broker: Context["broker"], only?: LiveStream): Promise<void> {
    for (const stream of only ? [only] : [...streams.values()]) {
      if (stream.lifecycle.state !== "live") continue;
      const sessionId = stream.lifecycle.broadcaster.sessionId;
      const held = await node.store.renewOwner(stream.streamId, broker.nodeID, LEASE_TTL_MS).catch((err: unknown) => {
        node.log.warn({ err, streamId: stream.streamId }, "lease renewal failed");
        return true; // the store is unreachable: keep serving, the lease holds until its TTL
      });
      if (!held) {
        await takeOffAir(broker, stream, sessionId, "error", { replacedBy: "another node (lease lost)" });
        continue;
      }
      if (fenced.delete(stream.streamId)) node.log.info({ streamId: stream.streamId }, "lease still held after a stall: stamping again");
      const state = stream.clockState();
      if (state) await node.store.saveStreamState(stream.streamId, state, STATE_TTL_MS).catch(() => undefined);
    }
  }

  /**
   * The others may not have heard this node for `gapMs` (liveness.ts: its event loop stalled, or
   * it was cut off from the bus): long enough for them to suspect it. Every live stream refuses
   * frames until its lease is confirmed.
   */
  function fenceAll(broker: Context["broker"], gapMs: number): void {
    if (gapMs <= fenceAfterMs) return;
    for (const stream of streams.values()) {
      if (stream.lifecycle.state !== "live" || fenced.has(stream.streamId)) continue;
      fenced.add(stream.streamId);
      node.log.warn({ streamId: stream.streamId, stallMs: Math.round(gapMs) }, "unseen by the cluster (stalled or cut off): frames refused until the lease is confirmed");
      void renewLeases(broker, stream);
    }
  }

  /** The clock state a former owner saved, or null (none, or the store slower than {@link STATE_LOAD_TIMEOUT_MS}). */
  async function loadState(streamId: string): Promise<StreamClockState | null> {
    const timeout = new Promise<null>((r) => setTimeout(() => r(null), STATE_LOAD_TIMEOUT_MS).unref());
    return Promise.race([node.store.loadStreamState(streamId).catch(() => null), timeout]);
  }

  function scheduleStatus(broker: Context["broker"], stream: LiveStream): void {
    if (statusTimers.has(stream.streamId)) return;
    statusTimers.set(
      stream.streamId,
      setTimeout(() => {
        statusTimers.delete(stream.streamId);
        emitEvent(broker, "stream.status", stream.info());
      }, STATUS_INTERVAL_MS),
    );
  }
}
