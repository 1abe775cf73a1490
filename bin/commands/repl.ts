/**
 * `veza-stream repl --token <admin token>`: a node with no roles that joins the cluster (NATS_URL)
 * and opens the Moleculer REPL (moleculer-repl) with operator commands: `streams`, `listeners
 * <streamId>`, `kick <sessionId>`, `stream stop <streamId>`, `revoke <jti> <exp>`, `roles`,
 * `stats`, `relay pull|push <streamId> <uri> [node]`, `relay stop <id>`, `relays`, `analytics <streamId> [hours]`, `record <streamId> on|off`. Moleculer's own commands (`nodes`, `call`, `services`, `actions`, …) are there too.
 *
 * Access: every call the console makes carries its token in `meta.token` (a broker middleware);
 * each operator command first asks the cluster (`auth.whoami`) whether the token is an admin
 * token, and the admin actions check it again where they run. Without an admin token every
 * operator command is refused with the server's code (UNAUTHORIZED, FORBIDDEN, TOKEN_EXPIRED).
 */
import { ServiceBroker, type Middleware } from "moleculer";
import { createLogger } from "../../actors/node";
import { listAllStreams, liveNodes, nodesRunning } from "../../actors/cluster/members";
import { call } from "../../actors/contract";
import { errorCodeOf } from "../../actors/errors";
import { loadConfig } from "../../config";
import { brokerOptions } from "../../moleculer.config";

type Table = (rows: unknown[][]) => string;
interface Helpers {
  table: Table;
}

const print = (text: string): void => void process.stdout.write(`${text}\n`);

/** A middleware putting `token` in the meta of every call this broker makes (never in params, never logged). */
export function tokenMiddleware(token: string | undefined): Middleware {
  return {
    name: "AdminToken",
    call(next: (name: string, params: unknown, opts?: { meta?: object }) => Promise<unknown>) {
      return (name: string, params: unknown, opts: { meta?: object } = {}) => next(name, params, { ...opts, meta: { ...opts.meta, token } });
    },
  } as unknown as Middleware;
}

interface Command {
  command: string;
  description: string;
  action(broker: ServiceBroker, args: never, helpers: Helpers): Promise<void>;
}

/** Runs `action` once the cluster says the console's token is an admin token; else prints the refusal. */
function adminOnly(c: Command): Command {
  return {
    ...c,
    async action(broker, args, helpers) {
      try {
        await broker.call("auth.whoami");
      } catch (err) {
        return print(`refused: ${errorCodeOf(err)}: ${(err as Error).message}`);
      }
      await c.action(broker, args, helpers);
    },
  };
}

/** The custom commands, in moleculer-repl's format; every one needs an admin token. */
export function replCommands(): unknown[] {
  return operatorCommands().map(adminOnly);
}

function operatorCommands(): Command[] {
  return [
    {
      command: "streams",
      description: "all streams on all nodes: owner, state, listeners, bit rate",
      async action(broker: ServiceBroker, _args: unknown, { table }: Helpers) {
        const rows = (await listAllStreams(broker)).streams.map((s) => [s.streamId, s.owner, s.state, s.listeners, `${Math.round(s.bitrate / 1000)} kbit/s`, s.title]);
        print(table([["stream", "owner", "state", "listeners", "bitrate", "title"], ...rows]));
      },
    },
    {
      command: "listeners <streamId>",
      description: "listener sessions of a stream, per gateway",
      async action(broker: ServiceBroker, args: { streamId: string }, { table }: Helpers) {
        const rows: unknown[][] = [];
        for (const nodeID of nodesRunning(broker, "gateway")) {
          for (const s of await call(broker, "listener-session.list", { streamId: args.streamId }, { nodeID })) {
            rows.push([nodeID, s.sessionId, s.kind, s.sub ?? "", s.framesSent ?? "", s.framesDropped ?? "", s.reconnects ?? "", s.bytes ?? "", `${Math.round(s.connectedMs / 1000)} s`]);
          }
        }
        print(table([["gateway", "session", "kind", "user", "frames sent", "dropped", "reconnects", "bytes", "connected"], ...rows]));
      },
    },
    {
      command: "kick <sessionId>",
      description: "close a listener session (WebSocket 1008, HTTP or SRT: the connection) on whichever gateway holds it",
      async action(broker: ServiceBroker, args: { sessionId: string }) {
        for (const nodeID of nodesRunning(broker, "gateway")) {
          const done = await call(broker, "listener-session.kick", { sessionId: String(args.sessionId) }, { nodeID }).then(() => true, (err: unknown) => {
            if (errorCodeOf(err) !== "SESSION_NOT_FOUND") print(`${nodeID}: ${errorCodeOf(err)}: ${(err as Error).message}`);
            return false;
          });
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
        const owner = (await listAllStreams(broker)).streams.find((s) => s.streamId === args.streamId && s.state === "live")?.owner;
        if (!owner) return print(`stream ${args.streamId} is not live`);
        const info = await call(broker, "stream.end", { streamId: args.streamId }, { nodeID: owner });
        print(`stream ${info.streamId} is ${info.state}`);
      },
    },
    {
      command: "record <streamId> <onOff>",
      description: "record <streamId> on|off: start recording a live stream, or stop it (its recording ends; README, Recording)",
      async action(broker: ServiceBroker, args: { streamId: string; onOff: string }) {
        if (args.onOff !== "on" && args.onOff !== "off") return print(`try "record <streamId> on" or "record <streamId> off"`);
        const owner = (await listAllStreams(broker)).streams.find((s) => s.streamId === args.streamId && s.state === "live")?.owner;
        if (!owner) return print(`stream ${args.streamId} is not live`);
        const r = await call(broker, "stream.record", { streamId: String(args.streamId), on: args.onOff === "on" }, { nodeID: owner });
        print(r.recording ? `recording ${r.streamId} into ${r.recording.id} (GET /api/recordings?stream=${r.streamId})` : `recording of ${r.streamId} stopped`);
      },
    },
    {
      command: "relay <verb> <first> [uri] [node]",
      description: "relay pull <streamId> <srt://…|rist://…> [node]: put a remote endpoint's MPEG-TS on air; relay push <streamId> <uri> [node]: send the stream there; relay stop <id>",
      async action(broker: ServiceBroker, args: { verb: string; first: string; uri?: string; node?: string }) {
        const relayNodes = nodesRunning(broker, "relay").filter((n) => nodesRunning(broker, "gateway").includes(n));
        if (args.verb === "stop") {
          for (const nodeID of relayNodes) {
            const mine = (await call(broker, "relay.remotes", {}, { nodeID })).some((r) => r.id === args.first);
            if (mine) return print(`stopped relay ${(await call(broker, "relay.stop", { id: String(args.first) }, { nodeID })).id}`);
          }
          return print(`no relay ${args.first}`);
        }
        if ((args.verb !== "pull" && args.verb !== "push") || !args.uri) return print(`try "relay pull <streamId> <uri> [node]", "relay push <streamId> <uri> [node]" or "relay stop <id>"`);
        const nodeID = args.node ?? relayNodes[0];
        if (!nodeID) return print("no node runs both the gateway and relay roles");
        const r = await call(broker, "relay.start", { streamId: String(args.first), uri: String(args.uri), direction: args.verb }, { nodeID });
        print(`relay ${r.id}: ${r.direction} ${r.streamId} ${r.direction === "pull" ? "from" : "to"} ${r.endpoint} on ${r.node}`);
      },
    },
    {
      command: "analytics <streamId> [hours]",
      description: "a stream's listening over the last hours (default 24): listens, unique users, listening hours, peak concurrent, by hour",
      async action(broker: ServiceBroker, args: { streamId: string; hours?: string }, { table }: Helpers) {
        const to = Date.now();
        const r = await call(broker, "analytics.query", { streamId: String(args.streamId), from: to - Number(args.hours ?? 24) * 3_600_000, to });
        print(`${r.streamId} from ${r.from} to ${r.to}: ${r.listens} listens, ${r.uniqueUsers} unique users, ${r.listeningHours.toFixed(2)} listening hours, peak ${r.peakConcurrent} concurrent, ${r.listening} listening now`);
        if (r.byHour.length) print(table([["hour", "listens", "listening hours", "peak"], ...r.byHour.map((h) => [h.hour, h.listens, h.listeningHours.toFixed(2), h.peakConcurrent])]));
      },
    },
    {
      command: "relays",
      description: "remote SRT/RIST relays on every node: stream, direction, endpoint, peers, bit rate so far",
      async action(broker: ServiceBroker, _args: unknown, { table }: Helpers) {
        const rows: unknown[][] = [];
        for (const nodeID of nodesRunning(broker, "relay")) {
          for (const r of await call(broker, "relay.remotes", {}, { nodeID })) rows.push([r.id, r.node, r.streamId, r.direction, r.endpoint, r.active ? "yes" : "no", r.stats.peers, `${(r.stats.bytes / 1e6).toFixed(1)} MB`]);
        }
        print(table([["id", "node", "stream", "direction", "endpoint", "active", "peers", "moved"], ...rows]));
      },
    },
    {
      command: "revoke <jti> <exp>",
      description: "revoke a token by its jti until its exp (s since the epoch), on every node sharing the revocation list",
      async action(broker: ServiceBroker, args: { jti: string; exp: string }) {
        const r = (await broker.call("auth.revoke", { jti: String(args.jti), exp: Number(args.exp) })) as { revoked: string; until: number };
        print(`revoked ${r.revoked} until ${new Date(r.until * 1000).toISOString()}`);
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
        const { streams } = await listAllStreams(broker);
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

/**
 * Starts the console: joins the cluster of NATS_URL / CLUSTER_NAMESPACE with no roles.
 * Exits 2 when the configuration is invalid or NATS_URL is unset.
 */
export async function runRepl(o: { token?: string }): Promise<void> {
  const say = (m: string) => process.stderr.write(`veza-stream repl: ${m}\n`);
  let config;
  try {
    config = loadConfig(process.env, { services: "", nodeId: `repl-${process.pid}`, logLevel: process.env.LOG_LEVEL ?? "warn" });
  } catch (err) {
    say(err instanceof Error ? err.message : String(err));
    process.exit(2);
  }
  if (!config.natsUrl) {
    say("the console joins a cluster: set NATS_URL (and CLUSTER_NAMESPACE if not veza)");
    process.exit(2);
  }
  if (!o.token) say("no token: operator commands need an admin token (--token or VEZA_TOKEN; veza-stream token --scope admin:*)");
  const options = brokerOptions(config, createLogger(config));
  const broker = new ServiceBroker({ ...options, middlewares: [...(options.middlewares ?? []), tokenMiddleware(o.token)] });
  await broker.start();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const repl = require("moleculer-repl") as (b: ServiceBroker, o: object) => unknown;
  repl(broker, { delimiter: "veza $", customCommands: replCommands() });
}
