/**
 * The gateway as a Moleculer service: starts the uWS server when the broker starts, relays stream
 * events to local sockets, and gives its totals (`gateway.stats`). Its listener sessions are the
 * listener-session actor's (actors/listener/service.ts).
 */
import type { Context, ServiceSchema } from "moleculer";
import type { EventPayloads } from "../actors/contract";
import type { NodeContext } from "../actors/node-context";
import { Gateway } from "./gateway";

/** @param onListening called once the gateway listens, with its port and the gateway (for {@link Gateway.drain}). */
export function gatewayService(node: NodeContext, onListening: (port: number, gateway: Gateway) => void): ServiceSchema {
  let gw: Gateway | null = null;
  return {
    name: "gateway",
    actions: {
      /** This gateway's totals: listener sockets, streams with listeners, frames fanned out. */
      stats() {
        return {
          nodeID: this.broker.nodeID,
          listeners: gw?.listenerCount ?? 0,
          streams: gw?.fanout.streamIds().length ?? 0,
          relays: [...node.relays.values()].map((r) => r.snapshot()),
        };
      },
    },
    events: {
      "analytics.update"(ctx: Context<EventPayloads["analytics.update"]>) {
        gw?.admins.analyticsUpdate(ctx.params);
      },
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
