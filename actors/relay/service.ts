/**
 * The relay actor host: lists the relays of this node (each gateway fan-out's origin feed) with
 * their frames in and out and sequence gaps. Counters are also in /metrics (`veza_relay_*`).
 */
import type { ServiceSchema } from "moleculer";
import type { NodeContext } from "../node-context";

export function relayService(node: NodeContext): ServiceSchema {
  return {
    name: "relay",
    actions: {
      list() {
        return [...node.relays.values()].map((r) => r.snapshot());
      },
    },
  };
}
