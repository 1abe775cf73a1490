/**
 * Assembles one node: logger, media bus, Moleculer broker and the services of its roles.
 * `startNode` is what `veza-stream start` runs and what tests run in process.
 */
import { ServiceBroker } from "moleculer";
import pino, { type Logger } from "pino";
import type { Config } from "../config";
import { gatewayService } from "../gateway/service";
import { brokerOptions } from "../moleculer.config";
import { createMediaBus } from "../transports";
import { resolveFfmpegPath } from "../transports/ffmpeg/ffmpeg-path";
import { createClusterStore } from "./cluster/store";
import { encoderService } from "./encoder/service";
import { NodeMetrics } from "./metrics";
import type { NodeContext } from "./node-context";
import { relayService } from "./relay/service";
import { streamService } from "./stream/service";

export interface RunningNode {
  broker: ServiceBroker;
  context: NodeContext;
  /** Port the gateway listens on; 0 without the gateway role. */
  port: number;
  stop(): Promise<void>;
}

/** Root logger: JSON lines on stdout (pino), level from config. */
export function createLogger(config: Config): Logger {
  return pino({ level: config.logLevel, base: { nodeID: config.nodeId } });
}

/**
 * Starts a node with the roles in `config.services`.
 * @throws Error when uWS did not load natively, the port is taken, or NATS is unreachable.
 */
export async function startNode(config: Config, log: Logger = createLogger(config)): Promise<RunningNode> {
  const metrics = new NodeMetrics();
  const bus = await createMediaBus(config.natsUrl, config.nodeId, config.namespace, log.child({ mod: "bus" }), () => metrics.busReconnects.inc());
  const store = createClusterStore(config.redisUrl, config.namespace);
  const context: NodeContext = { config, bus, store, metrics, relays: new Map(), log, ffmpegPath: resolveFfmpegPath(config.ffmpegPath) };
  const broker = new ServiceBroker(brokerOptions(config, log));
  let port = 0;
  const roles = new Set(config.services);
  if (roles.has("stream")) broker.createService(streamService(context));
  if (roles.has("encoder")) broker.createService(encoderService(context));
  if (roles.has("relay")) broker.createService(relayService(context));
  if (roles.has("gateway")) broker.createService(gatewayService(context, (p) => (port = p)));
  try {
    await broker.start();
  } catch (err) {
    await bus.close();
    await store.close();
    throw err;
  }
  log.info({ roles: [...roles], bus: bus.kind, store: store.kind, port, ffmpeg: context.ffmpegPath }, "node started");
  return {
    broker,
    context,
    get port() {
      return port;
    },
    async stop() {
      await broker.stop();
      await bus.close();
      await store.close();
    },
  };
}
