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
        // Moleculer's PinoLogger reads `createLogger` here, not under `pino` (where it was ignored and
        // Moleculer logged through a pino of its own on stdout, outside the node's logger)
        createLogger: (level: string, bindings: Record<string, unknown>) => log.child({ mod: bindings.mod }, { level }),
      },
    },
    // the typed contract (actors/contract.ts) validates params with zod
    validator: false,
    tracing: tracingOptions(config),
  };
}

/**
 * Moleculer's tracing with its Zipkin exporter (JSON v2 spans, POST <TRACING_URL>/api/v2/spans,
 * batched every second) when TRACING_URL is set: every action a node runs is a span, and a call
 * carries its trace to the node that runs it (the gateway opens the first span of a broadcaster's
 * `stream.start`, gateway/publish-route.ts). Every call is sampled.
 */
function tracingOptions(config: Config): BrokerOptions["tracing"] {
  if (!config.tracingUrl) return { enabled: false };
  return {
    enabled: true,
    sampling: { rate: 1 },
    exporter: { type: "Zipkin", options: { baseURL: config.tracingUrl.replace(/\/+$/, ""), interval: 1, payloadOptions: { debug: false, shared: false }, defaultTags: { namespace: config.namespace } } },
  };
}
