/**
 * The gateway as a Moleculer service: starts the uWS server when the broker starts, relays stream
 * events to local sockets, and exposes its listener sessions to operators.
 */
import type { Context, ServiceSchema } from "moleculer";
import type { EventPayloads } from "../actors/contract";
import { VezaError } from "../actors/errors";
import type { NodeContext } from "../actors/node-context";
import { Gateway } from "./gateway";

export function gatewayService(node: NodeContext, onListening: (port: number) => void): ServiceSchema {
  let gw: Gateway | null = null;
  return {
    name: "gateway",
    actions: {
      /** Listener sessions on this gateway, optionally of one stream. */
      listeners(ctx: Context<{ streamId?: string }>) {
        if (!gw) return [];
        const out = [];
        for (const ws of gw.sessions.values()) {
          const d = ws.getUserData();
          if (!d.session || (ctx.params.streamId && d.streamId !== ctx.params.streamId)) continue;
          out.push(d.session.stats(gw.fanout.framesPublished(d.streamId)));
        }
        return out;
      },
      /** This gateway's totals: listener sockets, streams with listeners, frames fanned out. */
      stats() {
        return {
          nodeID: this.broker.nodeID,
          listeners: gw?.listenerCount ?? 0,
          streams: gw?.fanout.streamIds().length ?? 0,
          relays: [...node.relays.values()].map((r) => r.snapshot()),
        };
      },
      /** Closes one listener session (1008 policy violation). */
      kick(ctx: Context<{ sessionId: string }>) {
        const ws = gw?.sessions.get(ctx.params.sessionId);
        if (!ws) throw new VezaError("STREAM_NOT_FOUND", `no session ${ctx.params.sessionId} on this gateway`);
        ws.end(1008, "kicked");
        return { kicked: ctx.params.sessionId };
      },
    },
    events: {
      "stream.status"(ctx: Context<EventPayloads["stream.status"]>) {
        gw?.onStreamEvent("status", ctx.params);
      },
      "stream.metadata"(ctx: Context<EventPayloads["stream.metadata"]>) {
        gw?.onStreamEvent("metadata", ctx.params);
      },
      "stream.stop"(ctx: Context<EventPayloads["stream.stop"]>) {
        gw?.onStreamEvent("stop", ctx.params);
      },
      "stream.clock"(ctx: Context<EventPayloads["stream.clock"]>) {
        gw?.onClockTick(ctx.params.streamId, ctx.params.tick);
      },
      "$node.disconnected"(ctx: Context<{ node: { id: string } }>) {
        gw?.onNodeLeft(ctx.params.node.id);
      },
    },
    async started() {
      gw = new Gateway(this.broker, node);
      onListening(await gw.listen());
    },
    stopped() {
      gw?.close();
      gw = null;
    },
  };
}
