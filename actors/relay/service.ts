/**
 * The relay actor host: lists the relays of this node (each gateway fan-out's origin feed) with
 * their frames in and out and sequence gaps (counters also in /metrics, `veza_relay_*`), and runs
 * operators' relays from and to remote SRT and RIST endpoints (`relay.start`, `relay.stop`,
 * `relay.remotes`: gateway/remote-relays.ts) on this node's gateway.
 */
import type { Context, ServiceSchema } from "moleculer";
import type { Gateway } from "../../gateway/gateway";
import { requireAdmin } from "../auth/service";
import { parseParams } from "../contract";
import { VezaError } from "../errors";
import type { NodeContext } from "../node-context";

/** @param gateway this node's gateway once it listens (null on a node without the gateway role). */
export function relayService(node: NodeContext, gateway: () => Gateway | null): ServiceSchema {
  const gw = (): Gateway => {
    const g = gateway();
    if (!g) throw new VezaError("BAD_REQUEST", "remote relays run on a node with the gateway role too");
    return g;
  };
  return {
    name: "relay",
    actions: {
      list() {
        return [...node.relays.values()].map((r) => r.snapshot());
      },
      async start(ctx: Context) {
        const p = parseParams("relay.start", ctx.params);
        const admin = await requireAdmin(node, ctx, p.streamId);
        return gw().remoteRelays.start(p, admin.sub);
      },
      async stop(ctx: Context) {
        const p = parseParams("relay.stop", ctx.params);
        const g = gw();
        const relay = g.remoteRelays.list().find((r) => r.id === p.id);
        await requireAdmin(node, ctx, relay?.streamId);
        return g.remoteRelays.stop(p.id);
      },
      async remotes(ctx: Context) {
        await requireAdmin(node, ctx);
        return gateway()?.remoteRelays.list() ?? [];
      },
    },
  };
}
