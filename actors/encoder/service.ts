/**
 * The encoder actor: one {@link StreamEncoder} (one ffmpeg) per stream whose broadcaster sends a
 * container format. Opened by the stream actor on the same node; reports restarts and failures as
 * events so the stream actor can mark a discontinuity or take the stream off air.
 */
import type { Context, ServiceSchema } from "moleculer";
import { emitEvent, parseParams, type EncoderInfo } from "../contract";
import { VezaError } from "../errors";
import type { NodeContext } from "../node-context";
import { StreamEncoder } from "./stream-encoder";

export function encoderService(node: NodeContext): ServiceSchema {
  const encoders = new Map<string, { encoder: StreamEncoder; format: string }>();

  const info = (streamId: string): EncoderInfo => {
    const entry = encoders.get(streamId);
    return {
      streamId,
      format: entry?.format ?? "",
      pid: entry?.encoder.pid ?? null,
      restarts: entry?.encoder.restarts ?? 0,
      framesOut: entry?.encoder.framesOut ?? 0,
    };
  };

  const close = async (streamId: string): Promise<boolean> => {
    const entry = encoders.get(streamId);
    if (!entry) return false;
    encoders.delete(streamId);
    await entry.encoder.stop();
    return true;
  };

  return {
    name: "encoder",
    actions: {
      async open(ctx: Context) {
        const p = parseParams("encoder.open", ctx.params);
        await close(p.streamId);
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
        return { closed: await close(p.streamId) };
      },
      list() {
        return [...encoders.keys()].map(info);
      },
    },
    async stopped() {
      await Promise.all([...encoders.keys()].map(close));
    },
  };
}
