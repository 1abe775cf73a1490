/**
 * The one place that decides how a node joins the cluster: with NATS_URL set, Moleculer uses the
 * NATS transporter (control only: actions and events); without it there is no transporter and every
 * actor is local. Logs go through the node's pino logger.
 */
import type { BrokerOptions } from "moleculer";
import type { Logger } from "pino";
import type { Config } from "./config";

export function brokerOptions(config: Config, log: Logger): BrokerOptions {
  return {
    nodeID: config.nodeId,
    namespace: config.namespace,
    transporter: config.natsUrl ? { type: "NATS", options: { url: config.natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 250 } } : null,
    serializer: "JSON",
    requestTimeout: 10_000,
    retryPolicy: { enabled: false },
    // a dead node is noticed within ~4 s (its sockets' clients notice at once: TCP closes)
    heartbeatInterval: 1,
    heartbeatTimeout: 4,
    registry: { strategy: "RoundRobin", preferLocal: true },
    logger: {
      type: "Pino",
      options: {
        level: config.logLevel === "silent" ? "fatal" : config.logLevel,
        pino: { createLogger: (level: string, bindings: Record<string, unknown>) => log.child({ mod: bindings.mod }, { level }) },
      },
    },
    // the typed contract (actors/contract.ts) validates params with zod
    validator: false,
  };
}
