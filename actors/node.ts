/**
 * Assembles one node: logger, media bus, Moleculer broker and the services of its roles.
 * `startNode` is what `veza-stream start` runs and what tests run in process.
 */
import fs from "node:fs";
import tty from "node:tty";
import Redis from "ioredis";
import { ServiceBroker } from "moleculer";
import pino, { type Logger } from "pino";
import type { Config } from "../config";
import type { Gateway } from "../gateway/gateway";
import { gatewayService } from "../gateway/service";
import { brokerOptions } from "../moleculer.config";
import { createMediaBus } from "../transports";
import { resolveFfmpegPath } from "../transports/ffmpeg/ffmpeg-path";
import { Access } from "./auth/access";
import { authService } from "./auth/service";
import { usesGeneratedKey } from "./auth/default-key";
import { Liveness } from "./cluster/liveness";
import { PeerClocks } from "./cluster/peer-clock";
import { TEST_CLOCK_SKEW } from "../media/clock/cluster-time";
import { createClusterStore } from "./cluster/store";
import { encoderService } from "./encoder/service";
import { NodeMetrics } from "./metrics";
import type { NodeContext } from "./node-context";
import { openObjectStore } from "../transports/objects/object-store";
import { resolveDataDir } from "./auth/default-key";
import { relayService } from "./relay/service";
import { analyticsService } from "./analytics/service";
import { listenerSessionService } from "./listener/service";
import { streamService } from "./stream/service";

export interface RunningNode {
  broker: ServiceBroker;
  context: NodeContext;
  /** Port the gateway listens on; 0 without the gateway role. */
  port: number;
  /**
   * Graceful shutdown's first half (SIGTERM): the gateway, if any, tells its clients to move to
   * another gateway and waits for them to leave, at most `timeoutMs` (Gateway.drain). Then {@link stop}.
   */
  drain(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Root logger (pino), level from config, on stdout (fd 1): JSON lines, or with `logFormat` pretty
 * (or auto and stdout a terminal) one readable line per event through pino-pretty, formatted in
 * this thread (no transport worker). Writes are synchronous and never block exit: a full pipe
 * (EAGAIN) is retried for at most 1 s per line, then lines are dropped until the reader drains;
 * a reader that went away (EPIPE) or any other write error stops logging. pino's own stdout
 * destination (sonic-boom) instead retries a failed write for ever in Atomics.wait at exit, which
 * hung `npm start | tee log` after Ctrl-C.
 */
export function createLogger(config: Config, fd = 1): Logger {
  const pretty = config.logFormat === "pretty" || (config.logFormat === "auto" && tty.isatty(fd));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const format = pretty ? (require("pino-pretty") as typeof import("pino-pretty")).prettyFactory({ colorize: tty.isatty(fd), singleLine: true, ignore: "pid,hostname,nodeID,ns,mod,svc", messageFormat: "{if mod}{mod}: {end}{msg}", translateTime: "HH:MM:ss.l" }) : null;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let broken = false;
  let congested = false;
  const write = (line: string): void => {
    if (broken) return;
    const bytes = Buffer.from(format ? format(line) : line);
    let offset = 0;
    for (let waitedMs = 0; offset < bytes.length; ) {
      try {
        offset += fs.writeSync(fd, bytes, offset);
        congested = false;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") return void (broken = true);
        if (congested || waitedMs >= 1000) return void (congested = true);
        Atomics.wait(pause, 0, 0, 10);
        waitedMs += 10;
      }
    }
  };
  return pino({ level: config.logLevel, base: { nodeID: config.nodeId }, redact: { paths: REDACTED, censor: "[redacted]" } }, { write });
}

/**
 * Log fields never written (pino redact): credentials wherever a caller might put them. Tokens and
 * secrets are also kept out by construction (Secrets prints as [redacted]; errors never quote a
 * token); this is the second line. test/e2e/auth-logs.test.ts greps a whole run's logs for them.
 */
export const REDACTED = [
  "authorization", "*.authorization", "headers.authorization", "req.headers.authorization",
  "token", "*.token", "password", "*.password", "secret", "*.secret", "jwtSecret", "*.jwtSecret", "metricsToken", "*.metricsToken",
];

/**
 * Thrown by {@link startNode} for a configuration that cannot run (exit code 2 at the command line).
 */
export class StartupError extends Error {
  override readonly name = "StartupError";
}

/**
 * Starts a node with the roles in `config.services`.
 * @throws Error when uWS did not load natively, the port is taken, or NATS is unreachable.
 */
export async function startNode(config: Config, log: Logger = createLogger(config)): Promise<RunningNode> {
  const metrics = new NodeMetrics();
  const bus = await createMediaBus(config.natsUrl, config.nodeId, config.namespace, log.child({ mod: "bus" }), () => metrics.busReconnects.inc());
  if (config.natsUrl && usesGeneratedKey(config)) {
    await bus.close();
    throw new StartupError("NATS_URL is set but no token key is configured: every node of a cluster must share its keys, and a generated key is this machine's alone. Set JWT_SECRET (the same on every node; e.g. openssl rand -base64 32), JWKS_FILE or JWKS_URL (docs/security.md)");
  }
  const store = createClusterStore(config.redisUrl, config.namespace);
  // limits share counts through Redis; rate-limiter-flexible needs no offline queue (it falls back to memory)
  const limitsRedis = config.redisUrl ? new Redis(config.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false }) : null;
  limitsRedis?.on("error", () => undefined); // reconnects by itself; limits answer from memory meanwhile
  let access: Access;
  try {
    access = new Access({ config, log, registry: metrics.registry, redis: limitsRedis });
  } catch (err) {
    await bus.close();
    await store.close();
    limitsRedis?.disconnect();
    throw new StartupError(`token keys: ${(err as Error).message}`);
  }
  access.verifier.prefetch().catch((err: unknown) => log.warn({ err: (err as Error).message }, "JWKS_URL could not be fetched at start; tokens of its keys are refused until it can"));
  const liveness = new Liveness(bus, config.nodeId, config.failoverDetectMs, log.child({ mod: "liveness" }));
  const peerClocks = new PeerClocks(bus, config.nodeId, config.peerClock, metrics, log.child({ mod: "peer-clock" }));
  const objects = openObjectStore(config, resolveDataDir(config));
  if (config.natsUrl && objects.kind === "fs" && config.services.includes("stream")) {
    log.warn({ recordings: objects.location }, "no S3_BUCKET in a cluster: this node keeps its recordings in its own DATA_DIR, where other nodes cannot serve them (README, Recording)");
  }
  const context: NodeContext = { config, bus, store, metrics, relays: new Map(), log, access, liveness, peerClocks, objects, ffmpegPath: resolveFfmpegPath(config.ffmpegPath) };
  const broker = new ServiceBroker(brokerOptions(config, log));
  let port = 0;
  const roles = new Set(config.services);
  broker.createService(authService(context));
  if (roles.has("stream")) {
    broker.createService(streamService(context));
    broker.createService(analyticsService(context));
  }
  if (roles.has("encoder")) broker.createService(encoderService(context));
  let gateway: Gateway | null = null;
  if (roles.has("relay")) broker.createService(relayService(context, () => gateway));
  if (roles.has("gateway")) {
    broker.createService(gatewayService(context, (p, gw) => ((port = p), (gateway = gw))));
    broker.createService(listenerSessionService(context, () => gateway));
  }
  liveness.start();
  peerClocks.start();
  if (TEST_CLOCK_SKEW) log.warn(TEST_CLOCK_SKEW, "VEZA_TEST_CLOCK_SKEW: this node's cluster time is skewed on purpose (tests only)");
  try {
    await broker.start();
  } catch (err) {
    liveness.stop();
    peerClocks.stop();
    await bus.close();
    await store.close();
    await access.close();
    limitsRedis?.disconnect();
    objects.close();
    throw err;
  }
  const icecastPort = (gateway as Gateway | null)?.icecastPort ?? 0;
  const srtPort = (gateway as Gateway | null)?.srt.port ?? 0;
  log.info({ roles: [...roles], bus: bus.kind, store: store.kind, recordings: objects.location, port, icecastPort, srtPort, ffmpeg: context.ffmpegPath }, "node started");
  return {
    broker,
    context,
    get port() {
      return port;
    },
    async drain(timeoutMs: number) {
      await (gateway as Gateway | null)?.drain(timeoutMs);
    },
    async stop() {
      await broker.stop();
      liveness.stop();
      peerClocks.stop();
      await bus.close();
      await store.close();
      await access.close();
      limitsRedis?.disconnect();
      objects.close();
    },
  };
}
