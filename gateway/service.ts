/**
 * The gateway as a Moleculer service: starts the uWS server when the broker starts, relays stream
 * events to local sockets, and exposes its listener sessions to operators.
 */
import type { Context, ServiceSchema } from "moleculer";
import type { EventPayloads } from "../actors/contract";
import { requireAdmin } from "../actors/auth/service";
import { VezaError } from "../actors/errors";
import type { NodeContext } from "../actors/node-context";
import { Gateway } from "./gateway";

/** @param onListening called once the gateway listens, with its port and the gateway (for {@link Gateway.drain}). */
export function gatewayService(node: NodeContext, onListening: (port: number, gateway: Gateway) => void): ServiceSchema {
  let gw: Gateway | null = null;
  return {
    name: "gateway",
    actions: {
      /** Listener sessions on this gateway, optionally of one stream (admin). */
      async listeners(ctx: Context<{ streamId?: string }>) {
        await requireAdmin(node, ctx, ctx.params.streamId);
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
      /** Closes one listener session (1008 policy violation; admin on its stream). */
      async kick(ctx: Context<{ sessionId: string }>) {
        const ws = gw?.sessions.get(ctx.params.sessionId);
        if (!ws) {
          await requireAdmin(node, ctx); // an unknown session tells nothing to a caller who is not admin
          throw new VezaError("STREAM_NOT_FOUND", `no session ${ctx.params.sessionId} on this gateway`);
        }
        const admin = await requireAdmin(node, ctx, ws.getUserData().streamId);
        if (ws.getUserData().closed) return { kicked: ctx.params.sessionId };
        node.access.auditEvent("listener.kick", { sessionId: ctx.params.sessionId, streamId: ws.getUserData().streamId, sub: admin.sub, from: ctx.nodeID });
        ws.end(1008, "kicked");
        return { kicked: ctx.params.sessionId };
      },
    },
    events: {
      "stream.start"(ctx: Context<EventPayloads["stream.start"]>) {
        gw?.onStreamEvent("start", ctx.params);
      },
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
        gw?.onClockTick(ctx.params.streamId, ctx.params.tick, ctx.nodeID ?? this.broker.nodeID);
      },
      "$node.disconnected"(ctx: Context<{ node: { id: string } }>) {
        gw?.onNodeLeft(ctx.params.node.id);
      },
    },
    async started() {
      gw = new Gateway(this.broker, node);
      node.liveness.onSuspect((id) => gw?.onNodeLeft(id, true));
      node.peerClocks.onReady((peer) => gw?.onPeerClockReady(peer));
      onListening(await gw.listen(), gw);
    },
    stopped() {
      gw?.close();
      gw = null;
    },
  };
}
