/**
 * `veza-stream repl`: a node with no roles that joins the cluster (NATS_URL) and opens the
 * Moleculer REPL (moleculer-repl) with operator commands: `streams`, `listeners <streamId>`,
 * `kick <sessionId>`, `stream stop <streamId>`, `roles`, `stats`. Moleculer's own commands
 * (`nodes`, `call`, `services`, `actions`, …) are there too.
 */
import type { ServiceBroker } from "moleculer";
import { listAllStreams, liveNodes, nodesRunning } from "../../actors/cluster/members";
import { call } from "../../actors/contract";

type Table = (rows: unknown[][]) => string;
interface Helpers {
  table: Table;
}

const print = (text: string) => process.stdout.write(`${text}\n`);

/** The custom commands, in moleculer-repl's format. */
export function replCommands(): unknown[] {
  return [
    {
      command: "streams",
      description: "all streams on all nodes: owner, state, listeners, bit rate",
      async action(broker: ServiceBroker, _args: unknown, { table }: Helpers) {
        const rows = (await listAllStreams(broker)).map((s) => [s.streamId, s.owner, s.state, s.listeners, `${Math.round(s.bitrate / 1000)} kbit/s`, s.title]);
        print(table([["stream", "owner", "state", "listeners", "bitrate", "title"], ...rows]));
      },
    },
    {
      command: "listeners <streamId>",
      description: "listener sessions of a stream, per gateway",
      async action(broker: ServiceBroker, args: { streamId: string }, { table }: Helpers) {
        const rows: unknown[][] = [];
        for (const nodeID of nodesRunning(broker, "gateway")) {
          const sessions = (await broker.call("gateway.listeners", { streamId: args.streamId }, { nodeID })) as Array<Record<string, unknown>>;
          for (const s of sessions) rows.push([nodeID, s.sessionId, s.framesSent, s.framesDropped, s.reconnects, `${Math.round(Number(s.connectedMs) / 1000)} s`]);
        }
        print(table([["gateway", "session", "frames sent", "dropped", "reconnects", "connected"], ...rows]));
      },
    },
    {
      command: "kick <sessionId>",
      description: "close a listener session (1008) on whichever gateway holds it",
      async action(broker: ServiceBroker, args: { sessionId: string }) {
        for (const nodeID of nodesRunning(broker, "gateway")) {
          const done = await broker.call("gateway.kick", { sessionId: args.sessionId }, { nodeID }).then(() => true, () => false);
          if (done) return print(`kicked ${args.sessionId} on ${nodeID}`);
        }
        print(`no session ${args.sessionId} on any gateway`);
      },
    },
    {
      command: "stream <verb> <streamId>",
      description: "stream stop <streamId>: end the broadcast on air (4410 to the broadcaster)",
      async action(broker: ServiceBroker, args: { verb: string; streamId: string }) {
        if (args.verb !== "stop") return print(`unknown verb ${args.verb}: try "stream stop <streamId>"`);
        const owner = (await listAllStreams(broker)).find((s) => s.streamId === args.streamId && s.state === "live")?.owner;
        if (!owner) return print(`stream ${args.streamId} is not live`);
        const info = await call(broker, "stream.end", { streamId: args.streamId }, { nodeID: owner });
        print(`stream ${info.streamId} is ${info.state}`);
      },
    },
    {
      // moleculer-repl's own `nodes` (node, service count, CPU; `nodes -d` lists services) stays;
      // this is the compact view by veza-stream role
      command: "roles",
      description: "cluster nodes with their veza-stream roles and CPU load",
      async action(broker: ServiceBroker, _args: unknown, { table }: Helpers) {
        const rows = liveNodes(broker).map((n) => [
          n.id,
          (n.services ?? []).map((s) => s.name).filter((s) => !s.startsWith("$")).sort().join(",") || "(repl)",
          n.cpu === null ? "-" : `${n.cpu}%`,
        ]);
        print(table([["node", "roles", "cpu"], ...rows]));
      },
    },
    {
      command: "stats",
      description: "cluster totals: streams live, listeners per gateway, relay frames and gaps",
      async action(broker: ServiceBroker, _args: unknown, { table }: Helpers) {
        const streams = await listAllStreams(broker);
        const rows: unknown[][] = [];
        for (const nodeID of nodesRunning(broker, "gateway")) {
          const s = (await broker.call("gateway.stats", {}, { nodeID })) as { listeners: number; streams: number; relays: Array<{ framesIn: number; gapFrames: number }> };
          rows.push([nodeID, s.listeners, s.streams, s.relays.reduce((n, r) => n + r.framesIn, 0), s.relays.reduce((n, r) => n + r.gapFrames, 0)]);
        }
        print(`streams: ${streams.length}, live: ${streams.filter((s) => s.state === "live").length}`);
        print(table([["gateway", "listeners", "streams", "relay frames in", "relay gap frames"], ...rows]));
      },
    },
  ];
}
