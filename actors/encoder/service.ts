/**
 * The encoder actor: one {@link StreamEncoder} (one ffmpeg) per stream whose broadcaster sends a
 * container format. Opened by the stream actor on the same node; reports restarts and failures as
 * events so the stream actor can mark a discontinuity or take the stream off air.
 *
 * `encoder.pause` stops a stream's ffmpeg while no listener needs Opus, `encoder.resume` starts it
 * again (the stream actor decides, after ENCODER_IDLE_MS; see StreamEncoder.pause).
 *
 * `encoder.ladder` sets the ladder rungs that run for a stream (one ffmpeg each, made from its
 * rendition 0: rung-encoder.ts); the stream actor asks for those someone uses.
 *
 * `encoder.close` drains: it resolves only after ffmpeg has encoded all the input received before
 * the call and the last frame was published on `encoded.<id>.0`, so the stream actor, which awaits
 * it while the stream is still live, stamps the stream's tail too (at most 2000 ms, then ffmpeg is
 * killed).
 */
import type { Context, ServiceSchema } from "moleculer";
import { emitEvent, parseParams, type EncoderInfo } from "../contract";
import { VezaError } from "../errors";
import type { NodeContext } from "../node-context";
import { RungEncoder } from "./rung-encoder";
import { StreamEncoder } from "./stream-encoder";

/** Longest wait in `encoder.close` for ffmpeg to finish its input and write its last frame, ms. */
const DRAIN_TIMEOUT_MS = 2000;

export function encoderService(node: NodeContext): ServiceSchema {
  const encoders = new Map<string, { encoder: StreamEncoder; format: string }>();
  /** Running ladder rungs by stream id, then rendition id. */
  const ladders = new Map<string, Map<number, RungEncoder>>();

  /** Stops the rungs of `streamId` not in `keep`. */
  const stopRungs = async (streamId: string, keep: ReadonlySet<number> = new Set()): Promise<void> => {
    const rungs = ladders.get(streamId);
    if (!rungs) return;
    const stopping = [...rungs].filter(([id]) => !keep.has(id));
    for (const [id] of stopping) rungs.delete(id);
    if (rungs.size === 0) ladders.delete(streamId);
    await Promise.all(stopping.map(([id, rung]) => rung.stop().then(() => node.log.info({ streamId, rendition: id, actor: "encoder" }, "rung stopped"))));
  };

  const info = (streamId: string): EncoderInfo => {
    const entry = encoders.get(streamId);
    return {
      streamId,
      format: entry?.format ?? "",
      pid: entry?.encoder.pid ?? null,
      restarts: entry?.encoder.restarts ?? 0,
      framesOut: entry?.encoder.framesOut ?? 0,
      paused: entry?.encoder.paused ?? false,
    };
  };

  /**
   * Ends a stream's encoder. `drain`: ffmpeg finishes its input and every frame it makes is
   * published before this resolves (at most 2000 ms, then it is killed); else it is killed at once.
   * `ingestBytes`: the input bytes the broadcaster's gateway published, waited for before the drain.
   */
  const close = async (streamId: string, drain: boolean, ingestBytes?: number): Promise<boolean> => {
    const entry = encoders.get(streamId);
    if (!entry) return false;
    encoders.delete(streamId);
    if (drain) await entry.encoder.close(DRAIN_TIMEOUT_MS, ingestBytes);
    else await entry.encoder.stop();
    return true;
  };

  return {
    name: "encoder",
    actions: {
      async open(ctx: Context) {
        const p = parseParams("encoder.open", ctx.params);
        // a new broadcaster: the previous one's tail must not reach its stream
        await close(p.streamId, false);
        const log = node.log.child({ streamId: p.streamId, actor: "encoder" });
        const encoder = new StreamEncoder({
          ...p,
          bitrate: node.config.opusBitrate,
          ffmpegPath: node.ffmpegPath,
          bus: node.bus,
          log,
          onRestart: ({ restarts, error }) => {
            node.metrics.encoderRestarts.inc();
            emitEvent(this.broker, "encoder.restarted", { streamId: p.streamId, restarts, exitCode: error.exitCode, signal: error.signal });
          },
          onFailed: (error) => {
            encoders.delete(p.streamId);
            void encoder.stop();
            const failed = new VezaError("ENCODER_FAILED", error.message);
            emitEvent(this.broker, "encoder.failed", { streamId: p.streamId, code: failed.errorCode, message: failed.message });
          },
        });
        encoders.set(p.streamId, { encoder, format: p.format });
        encoder.start();
        log.info({ format: p.format }, "encoder opened");
        return info(p.streamId);
      },
      async close(ctx: Context) {
        const p = parseParams("encoder.close", ctx.params);
        return { closed: await close(p.streamId, true, p.ingestBytes) };
      },
      /** Stops the stream's ffmpeg while no listener needs Opus (the stream actor's call); see StreamEncoder.pause. */
      async pause(ctx: Context) {
        const p = parseParams("encoder.pause", ctx.params);
        const encoder = encoders.get(p.streamId)?.encoder;
        const changed = encoder ? await encoder.pause() : false;
        if (changed) node.log.info({ streamId: p.streamId, actor: "encoder" }, "encoder paused: no listener needs Opus");
        return { paused: encoder?.paused ?? false, changed };
      },
      resume(ctx: Context) {
        const p = parseParams("encoder.resume", ctx.params);
        const encoder = encoders.get(p.streamId)?.encoder;
        const changed = encoder?.resume() ?? false;
        if (changed) node.log.info({ streamId: p.streamId, actor: "encoder" }, "encoder resumed");
        return { paused: encoder?.paused ?? false, changed };
      },
      async ladder(ctx: Context) {
        const p = parseParams("encoder.ladder", ctx.params);
        await stopRungs(p.streamId, new Set(p.rungs.map((r) => r.id)));
        let rungs = ladders.get(p.streamId);
        for (const rung of p.rungs) {
          if (rungs?.has(rung.id)) continue;
          if (!rungs) ladders.set(p.streamId, (rungs = new Map()));
          const log = node.log.child({ streamId: p.streamId, actor: "encoder", rendition: rung.id });
          const encoder = new RungEncoder({ streamId: p.streamId, rung, ffmpegPath: node.ffmpegPath, bus: node.bus, log });
          rungs.set(rung.id, encoder);
          encoder.start();
          log.info({ codec: rung.codec, bitrate: rung.bitrate, channels: rung.channels }, "rung started");
        }
        return { running: [...(ladders.get(p.streamId)?.keys() ?? [])] };
      },
      list() {
        return [...encoders.keys()].map(info);
      },
    },
    async stopped() {
      await Promise.all([...encoders.keys()].map((id) => close(id, false)));
      await Promise.all([...ladders.keys()].map((id) => stopRungs(id)));
    },
  };
}
