/**
 * Node configuration: one schema (zod) read from environment variables and command-line flags,
 * flags winning. Bad values are refused with {@link ConfigError} naming the variable. The README's
 * configuration table lists the same keys; test/unit/config.test.ts checks every key is documented.
 */
import { DEFAULT_LADDER, parseLadder } from "../media/ladder";
import os from "node:os";
import { z } from "zod";

const ROLES = ["gateway", "stream", "encoder", "relay"] as const;
export type Role = (typeof ROLES)[number];

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** A boolean from a flag (true) or a variable: 1/0, true/false, yes/no, on/off (any case). */
const WORDS: Record<string, boolean> = { "1": true, true: true, yes: true, on: true, "0": false, false: false, no: false, off: false };
const bool = () => z.preprocess((v) => (typeof v === "string" ? (WORDS[v.trim().toLowerCase()] ?? v) : v), z.boolean({ error: "must be 1/0, true/false, yes/no or on/off" }));

/**
 * Secret values (JWT_SECRET) that never reach a log: JSON (pino), `util.inspect` and string
 * conversion all give `[redacted]`; {@link Secrets.reveal} is the only way to the values, kept in a
 * private field.
 */
export class Secrets {
  readonly #values: readonly string[];
  constructor(values: readonly string[]) {
    this.#values = [...values];
  }
  /** The secrets, in their configured order (the first one signs). */
  reveal(): readonly string[] {
    return this.#values;
  }
  get count(): number {
    return this.#values.length;
  }
  toJSON(): string {
    return "[redacted]";
  }
  toString(): string {
    return "[redacted]";
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "[redacted]";
  }
}

/** HS256 secrets, comma-separated: each at least 32 bytes (RFC 7518 §3.2: a key as long as the hash, 256 bits). */
const hsSecrets = () =>
  z.string().transform((s, ctx) => {
    const list = s.split(",").map((v) => v.trim()).filter(Boolean);
    if (list.length === 0) ctx.addIssue({ code: "custom", message: "no secret in the list" });
    list.forEach((v, i) => {
      if (Buffer.byteLength(v) < 32) ctx.addIssue({ code: "custom", message: `secret #${i + 1} is ${Buffer.byteLength(v)} bytes; HS256 needs at least 32 (RFC 7518 §3.2), e.g. openssl rand -base64 32` });
    });
    return new Secrets(list);
  });

/**
 * RATE_LIMITS: `name:value` pairs, comma-separated. A rate is `N/Ds` (N events per D seconds;
 * `N/D` too), a quota (listenersPerIp, listenersPerStream) is `N`. Names: actors/auth/limits-config.ts.
 */
const RATE_NAMES = ["connections", "authFailures", "publishStarts", "httpApi"] as const;
const QUOTA_NAMES = ["listenersPerIp", "listenersPerStream"] as const;
export type RateLimitsInput = Partial<Record<(typeof RATE_NAMES)[number], { points: number; durationS: number }> & Record<(typeof QUOTA_NAMES)[number], { max: number }>>;
const rateLimits = () =>
  z.string().transform((s, ctx) => {
    const out: Record<string, unknown> = {};
    for (const item of s.split(",").map((v) => v.trim()).filter(Boolean)) {
      const [name = "", value = ""] = item.split(":").map((v) => v.trim());
      const rate = /^(\d+)\/(\d+)s?$/.exec(value);
      if ((RATE_NAMES as readonly string[]).includes(name) && rate && Number(rate[1]) >= 1 && Number(rate[2]) >= 1) out[name] = { points: Number(rate[1]), durationS: Number(rate[2]) };
      else if ((QUOTA_NAMES as readonly string[]).includes(name) && /^\d+$/.test(value) && Number(value) >= 1) out[name] = { max: Number(value) };
      else ctx.addIssue({ code: "custom", message: `bad item "${item}": expected ${RATE_NAMES.join("|")}:N/Ds or ${QUOTA_NAMES.join("|")}:N (N, D ≥ 1)` });
    }
    return out as RateLimitsInput;
  });

/** The schema: key → (env variable, default, description). */
export const CONFIG_SCHEMA = z.object({
  port: int(0, 65535).default(8080).describe("PORT|--port|HTTP and WebSocket port (0 picks a free port)"),
  reusePort: bool().default(false).describe("REUSE_PORT|--reuse-port|share the port with other processes (SO_REUSEPORT), e.g. several nodes behind one port; off: a port in use is an error"),
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
  logFormat: z.enum(["auto", "json", "pretty"]).default("auto").describe("LOG_FORMAT|--log-format|auto: one readable line per event when stdout is a terminal, JSON lines otherwise; json; pretty"),
  opusBitrate: int(6_000, 510_000).default(128_000).describe("OPUS_BITRATE|--opus-bitrate|encoder bit rate, bit/s (RFC 6716: 6-510 kbit/s)"),
  ladder: z
    .string()
    .default(DEFAULT_LADDER)
    .superRefine((s, ctx) => {
      try {
        parseLadder(s);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
      }
    })
    .describe(`LADDER|--ladder|the renditions made below rendition 0 (the stream's Opus at OPUS_BITRATE) while someone uses them: comma-separated <opus|aac>:<bit rate>[k][:<channels>], or none (default ${DEFAULT_LADDER})`),
  abrStableMs: int(1_000, 600_000).default(10_000).describe("ABR_STABLE_MS|--abr-stable|ms a WebSocket listener in auto mode must keep up (under 60 ms of audio queued) before it moves one rendition up; doubled after an up-switch that failed (gateway/abr.ts)"),
  playoutDelayMs: int(20, 10_000).default(120).describe("PLAYOUT_DELAY_MS|--playout-delay|default playout delay of synchronised listeners, ms (a stream.start may set its own)"),
  maxBackpressureBytes: int(4_096, 64 * 1024 * 1024).default(256 * 1024).describe("MAX_BACKPRESSURE_BYTES|--max-backpressure|bytes queued for one listener before it is dropped"),
  icecastBurstBytes: int(0, 1024 * 1024).default(16 * 1024).describe("ICECAST_BURST_BYTES|--icecast-burst|bytes of recent audio an HTTP listener gets at once when it connects (Icecast's burst-size), 0 none: lets a player start at once, and delays it by as much (16 KiB ≈ 1 s at 128 kbit/s)"),
  maxListeners: int(1, 10_000_000).default(100_000).describe("MAX_LISTENERS|--max-listeners|listener sockets this gateway accepts"),
  maxWaitingPerIp: int(1, 1_000_000).default(100).describe("MAX_WAITING_PER_IP|--max-waiting-per-ip|listener sockets one IP address may hold on streams that are not live (waiting for a broadcaster)"),
  maxIngestSpeed: z.coerce.number().min(1).max(1000).default(1.02).describe("MAX_INGEST_SPEED|--max-ingest-speed|how many times faster than real time a broadcaster may send audio, sustained (docs/protocol.md, Pacing)"),
  ingestBurstMs: int(0, 600_000).default(5000).describe("INGEST_BURST_MS|--ingest-burst|ms of audio a broadcaster may send ahead of real time at once"),
  encoderIdleMs: int(0, 3_600_000).default(10_000).describe("ENCODER_IDLE_MS|--encoder-idle|a stream's Opus encoder pauses after this long (ms) with no listener that needs Opus (only listeners of the source's own MP3 or AAC, or none), and resumes with the next one; 0: it never pauses"),
  failoverDetectMs: int(200, 60_000).default(600).describe("FAILOVER_DETECT_MS|--failover-detect|ms without a node's beat on the media bus (one every 100 ms) before it is suspected: its streams are re-homed to another node and the broadcasters on the gateways re-routed there (docs/failover.md)"),
  peerClock: bool().default(true).describe("PEER_CLOCK|--peer-clock|on: each gateway estimates its clock's offset and drift to every stream owner's over the media bus and maps the owner's sync ticks into its own clock, so synchronised listeners stay in step across machines whose clocks disagree; off: trust the machines' clocks (PTP, a good NTP) (docs/protocol.md, Cluster time)"),
  drainTimeoutMs: int(0, 600_000).default(5000).describe("DRAIN_TIMEOUT_MS|--drain-timeout|on SIGTERM/SIGINT, ms a gateway waits for its clients to leave for other gateways (after telling them with NODE_DRAINING, 1012) before the node stops"),
  startTimeoutMs: int(100, 600_000).default(10_000).describe("START_TIMEOUT_MS|--start-timeout|ms a broadcaster has to send stream.start"),
  ffmpegPath: z.string().min(1).optional().describe("FFMPEG_PATH|--ffmpeg|ffmpeg binary; default: ffmpeg on PATH, else @ffmpeg-installer/ffmpeg"),
  demo: z.string().min(1).optional().describe("DEMO_FILE|--demo|audio file broadcast in a loop on stream DEMO_STREAM; `builtin` (or --demo alone): a generated chord sequence"),
  demoStream: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default("demo").describe("DEMO_STREAM|--demo-stream|stream id of the demo broadcast"),
  jwtSecret: hsSecrets().optional().describe("JWT_SECRET|--jwt-secret|HS256 secrets for tokens, comma-separated, each ≥ 32 bytes; all verify, the first signs (docs/security.md); never logged"),
  jwksFile: z.string().min(1).optional().describe("JWKS_FILE|--jwks-file|JSON Web Key Set file (RFC 7517) of public keys (ES256, EdDSA, RS256) that verify tokens, chosen by kid; re-read when it changes"),
  jwksUrl: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).optional().describe("JWKS_URL|--jwks-url|URL of a JSON Web Key Set of public keys that verify tokens; refreshed every 10 min and on an unknown kid"),
  jwtIssuer: z.string().min(1).optional().describe("JWT_ISSUER|--jwt-issuer|required iss claim of tokens; unset: not checked (minted tokens carry it)"),
  jwtAudience: z.string().min(1).optional().describe("JWT_AUDIENCE|--jwt-audience|required aud claim of tokens; unset: not checked (minted tokens carry it)"),
  listenAuth: z.enum(["none", "token"]).default("none").describe("LISTEN_AUTH|--listen-auth|none: anyone may listen and read the stream list; token: listeners and API readers need a token with a listen scope on the stream (docs/security.md). Publishing always needs a token"),
  metricsToken: z
    .string()
    .min(16, "at least 16 characters, e.g. openssl rand -base64 24")
    .transform((s) => new Secrets([s]))
    .optional()
    .describe("METRICS_TOKEN|--metrics-token|bearer token GET /metrics requires (Prometheus: authorization.credentials); unset: /metrics is open; never logged"),
  rateLimits: rateLimits().optional().describe("RATE_LIMITS|--rate-limits|changes to the rate limits and quotas, comma-separated name:value, e.g. connections:120/10s,httpApi:300/60s,listenersPerIp:500 (names and defaults: docs/security.md)"),
  tracingUrl: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).optional().describe("TRACING_URL|--tracing-url|base URL of a Zipkin-compatible trace collector (Zipkin, Jaeger's or Grafana Tempo's Zipkin receiver, an OpenTelemetry collector's zipkin receiver); spans are POSTed to <url>/api/v2/spans every second; unset: no tracing"),
  icecastPort: z
    .union([z.literal("off"), int(0, 65535)])
    .optional()
    .describe("ICECAST_PORT|--icecast-port|Icecast-compatible port for sources (PUT/SOURCE), HTTP listeners, /admin/metadata and /status-json.xsl; 0 picks a free port, off disables it; unset: 8000, skipped with a warning when taken"),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .transform((s) => new Secrets([s]))
    .optional()
    .describe("DATABASE_URL|--database-url|PostgreSQL for listening analytics (postgres://user:password@host:5432/db); unset: a SQLite file in DATA_DIR (analytics.sqlite), one per node; never logged"),
  s3Bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens").optional().describe("S3_BUCKET|--s3-bucket|S3 bucket recordings are uploaded to (created when missing); credentials from the AWS SDK's own variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, …); unset: recordings are kept in DATA_DIR/recordings on this node"),
  s3Endpoint: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).optional().describe("S3_ENDPOINT|--s3-endpoint|URL of an S3-compatible server (MinIO, Garage, s3rver: http://127.0.0.1:9000); unset: AWS S3"),
  s3Region: z.string().min(1).default("us-east-1").describe("S3_REGION|--s3-region|S3 region"),
  s3ForcePathStyle: bool().optional().describe("S3_FORCE_PATH_STYLE|--s3-force-path-style|bucket in the URL path (http://host/bucket/key), as MinIO and most S3-compatible servers want; unset: on when S3_ENDPOINT is set"),
  recordStreams: z.string().regex(/^(\*|[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64})*)$/, "* or stream ids, comma-separated").optional().describe("RECORD_STREAMS|--record-streams|streams recorded whenever they are live, comma-separated, or * for all; others are recorded when their broadcaster asks (stream.start record, broadcast --record) or an admin turns it on (POST /api/streams/:id/recording, console record)"),
  recordSegmentS: int(2, 600).default(10).describe("RECORD_SEGMENT_S|--record-segment|seconds of audio per recording segment (one Ogg/Opus object in S3 each)"),
  recordSpoolDir: z.string().min(1).optional().describe("RECORD_SPOOL_DIR|--record-spool-dir|directory recordings are written to (with fsync) before they are uploaded; default DATA_DIR/spool. Segments left there by a node that died are uploaded when it starts again"),
  recordSpoolMaxMb: int(1, 1_000_000).default(1024).describe("RECORD_SPOOL_MAX_MB|--record-spool-max|MB the spool may hold while uploads fail; when it is full, new audio is not recorded (the gap is named in the manifest, veza_recording_dropped_seconds_total counts it) and what is spooled is kept"),
  srtPort: int(0, 65535)
    .optional()
    .describe("SRT_PORT|--srt-port|UDP port for SRT publishers (streamid publish:<stream>:<user>:<token>, MPEG-TS) and readers (read:<stream>), as MediaMTX's; 0 disables it; unset: 8890, skipped with a warning when taken or when libsrt is not built"),
  srtLatencyMs: int(20, 8000)
    .default(120)
    .describe("SRT_LATENCY_MS|--srt-latency|SRT latency (TSBPD delay and the time lost packets have to be retransmitted) the SRT port offers, ms; a caller asking more gets more (libsrt takes the larger)"),
  sourcePassword: z
    .string()
    .min(8, "at least 8 characters, e.g. openssl rand -base64 18")
    .transform((s) => new Secrets([s]))
    .optional()
    .describe("SOURCE_PASSWORD|--source-password|a password Icecast sources may give (Basic source:<password>) instead of a publish token, for every mount; unset: sources need a publish token as password; never logged"),
  dataDir: z.string().min(1).optional().describe("DATA_DIR|--data-dir|directory of the node's own files (the generated token key); default $XDG_DATA_HOME/veza-stream or ~/.local/share/veza-stream"),
});

export type Config = z.infer<typeof CONFIG_SCHEMA>;
export type ConfigInput = Partial<Record<keyof Config, string | number | boolean | undefined>>;

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
