/**
 * Node configuration: one schema (zod) read from environment variables and command-line flags,
 * flags winning. Bad values are refused with {@link ConfigError} naming the variable. The README's
 * configuration table lists the same keys; test/unit/config.test.ts checks every key is documented.
 */
import os from "node:os";
import { z } from "zod";

const ROLES = ["gateway", "stream", "encoder", "relay"] as const;
export type Role = (typeof ROLES)[number];

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** The schema: key → (env variable, default, description). */
export const CONFIG_SCHEMA = z.object({
  port: int(0, 65535).default(8080).describe("PORT|--port|HTTP and WebSocket port (0 picks a free port)"),
  host: z.string().min(1).default("0.0.0.0").describe("HOST|--host|address to listen on"),
  nodeId: z.string().regex(/^[\w.-]{1,64}$/).default(`${os.hostname()}-${process.pid}`).describe("NODE_ID|--node-id|Moleculer node id"),
  natsUrl: z.string().regex(/^nats:\/\/\S+$/, "must be a nats:// URL").optional().describe("NATS_URL|--nats|NATS server; unset runs the whole cluster in this process"),
  namespace: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).default("veza").describe("CLUSTER_NAMESPACE|--namespace|cluster name: Moleculer namespace, NATS subject and Redis key prefix; nodes join only their own"),
  redisUrl: z.string().regex(/^rediss?:\/\/\S+$/, "must be a redis:// URL").optional().describe("REDIS_URL|--redis|Redis for stream leases and listener sessions in a cluster; unset keeps them in memory (one node)"),
  services: z
    .string()
    .default(ROLES.join(","))
    .transform((s, ctx) => {
      const roles = s.split(",").map((r) => r.trim()).filter(Boolean);
      for (const r of roles) {
        if (!(ROLES as readonly string[]).includes(r)) ctx.addIssue({ code: "custom", message: `unknown role "${r}" (known: ${ROLES.join(", ")})` });
      }
      return roles as Role[];
    })
    .describe("SERVICES|--services|roles this node runs, comma-separated"),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info").describe("LOG_LEVEL|--log-level|pino log level"),
  opusBitrate: int(6_000, 510_000).default(128_000).describe("OPUS_BITRATE|--opus-bitrate|encoder bit rate, bit/s (RFC 6716: 6-510 kbit/s)"),
  playoutDelayMs: int(20, 10_000).default(120).describe("PLAYOUT_DELAY_MS|--playout-delay|default playout delay of synchronised listeners, ms (a stream.start may set its own)"),
  maxBackpressureBytes: int(4_096, 64 * 1024 * 1024).default(256 * 1024).describe("MAX_BACKPRESSURE_BYTES|--max-backpressure|bytes queued for one listener before it is dropped"),
  maxListeners: int(1, 10_000_000).default(100_000).describe("MAX_LISTENERS|--max-listeners|listener sockets this gateway accepts"),
  startTimeoutMs: int(100, 600_000).default(10_000).describe("START_TIMEOUT_MS|--start-timeout|ms a broadcaster has to send stream.start"),
  ffmpegPath: z.string().min(1).optional().describe("FFMPEG_PATH|--ffmpeg|ffmpeg binary; default: ffmpeg on PATH, else @ffmpeg-installer/ffmpeg"),
  demo: z.string().min(1).optional().describe("DEMO_FILE|--demo|audio file broadcast in a loop on stream DEMO_STREAM"),
  demoStream: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default("demo").describe("DEMO_STREAM|--demo-stream|stream id of the demo broadcast"),
});

export type Config = z.infer<typeof CONFIG_SCHEMA>;
export type ConfigInput = Partial<Record<keyof Config, string | number | undefined>>;

/** One documented key: its environment variable, its flag, its description. */
export interface ConfigKey {
  key: keyof Config;
  env: string;
  flag: string;
  description: string;
}

/** All keys with their environment variable and flag, in schema order. */
export function configKeys(): ConfigKey[] {
  return Object.entries(CONFIG_SCHEMA.shape).map(([key, schema]) => {
    const [env = "", flag = "", description = ""] = (schema.description ?? "").split("|");
    return { key: key as keyof Config, env, flag, description };
  });
}

/** Thrown for configuration that does not validate; the message names each bad variable. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/**
 * Builds the configuration from `env` (e.g. process.env) overlaid with `flags` (parsed CLI flags).
 * @throws ConfigError listing every invalid key with its env variable and the reason.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, flags: ConfigInput = {}): Config {
  const input: Record<string, unknown> = {};
  for (const { key, env: name } of configKeys()) {
    const fromEnv = env[name];
    if (fromEnv !== undefined && fromEnv !== "") input[key] = fromEnv;
    const fromFlag = flags[key];
    if (fromFlag !== undefined) input[key] = fromFlag;
  }
  const parsed = CONFIG_SCHEMA.safeParse(input);
  if (!parsed.success) {
    const byKey = new Map(configKeys().map((k) => [k.key as string, k]));
    const lines = parsed.error.issues.map((issue) => {
      const k = byKey.get(String(issue.path[0]));
      return `  ${k ? `${k.env} (${k.flag})` : String(issue.path[0])}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  return parsed.data;
}
