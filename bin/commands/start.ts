/**
 * `veza-stream start [flags]`: one node. Every flag is a configuration key (config/index.ts).
 * Exit code 2 for anything the user must fix before the node can run (bad configuration, a demo
 * file that cannot be read, a port in use); a demo broadcast that fails later is logged and never
 * takes the node down. SIGINT/SIGTERM stop the node within 2 s (bin/signals.ts).
 */
import type { Command } from "commander";
import { Option } from "commander";
import type { Logger } from "pino";
import { createLogger, startNode, StartupError, type RunningNode } from "../../actors/node";
import { ConfigError, configKeys, loadConfig, type Config, type ConfigInput } from "../../config";
import { resolveFfprobePath } from "../../transports/ffmpeg/ffmpeg-path";
import { GRACE_MS, onStopSignal } from "../signals";
import { Broadcast } from "./broadcast";
import { BUILTIN_DEMO, demoSource } from "./demo-source";
import { InputError, checkReadable, probeAudioCodec } from "./input-check";

/** Exit code for a problem the user must fix before the node can start. */
export const EXIT_USAGE = 2;

function fail(message: string): never {
  process.stderr.write(`veza-stream start: ${message}\n`);
  process.exit(EXIT_USAGE);
}

/** The flag's camel-case name as commander stores it (`--node-id` → `nodeId`). */
const camel = (flag: string) => flag.replace(/^--/, "").replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

/** Adds `start` to `program`: one option per configuration key, its default and variable in the help. */
export function addStartCommand(program: Command): void {
  const start = program.command("start").description("start a node (all roles in one process unless --services says otherwise)");
  const defaults = loadConfig({}, {}) as Record<string, unknown>;
  for (const k of configKeys()) {
    const value = defaults[k.key];
    const shown = k.key === "nodeId" ? "<hostname>-<pid>" : Array.isArray(value) ? value.join(",") : value;
    const suffix = `${shown === undefined ? "" : ` (default: ${String(shown)})`} [env ${k.env}]`;
    if (k.key === "reusePort") start.addOption(new Option(k.flag, k.description + suffix));
    else if (k.key === "demo") start.addOption(new Option(`${k.flag} [file]`, k.description + suffix));
    else start.addOption(new Option(`${k.flag} <value>`, k.description + suffix));
  }
  start.action(async (opts: Record<string, string | boolean | undefined>) => {
    const flags: ConfigInput = {};
    for (const k of configKeys()) {
      const v = opts[camel(k.flag)];
      if (v !== undefined) flags[k.key] = k.key === "demo" && v === true ? BUILTIN_DEMO : v;
    }
    let config: Config;
    try {
      config = loadConfig(process.env, flags);
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message);
      throw err;
    }
    await runNode(config);
  });
}

/** Checks the demo input before the node starts. Exits with {@link EXIT_USAGE} when it cannot play. */
async function checkDemo(config: Config): Promise<void> {
  if (!config.demo || config.demo === BUILTIN_DEMO) return;
  try {
    checkReadable(config.demo);
    await probeAudioCodec(config.demo, resolveFfprobePath());
  } catch (err) {
    if (err instanceof InputError) fail(`demo: ${err.message} (DEMO_FILE / --demo; --demo alone plays the built-in chords)`);
    throw err;
  }
}

async function runNode(config: Config): Promise<void> {
  await checkDemo(config);
  const log = createLogger(config);
  // last resort: a promise rejected without a handler is a bug, but never a reason to drop every
  // listener of the node (Node 20 exits on one by default); it is logged at error level instead
  process.on("unhandledRejection", (err: unknown) => log.error({ err }, "unhandled promise rejection (a bug: please report it)"));
  let node: RunningNode | null = null;
  let demo: Broadcast | null = null;
  let stopping = false;
  onStopSignal((signal) => {
    stopping = true;
    log.info({ signal }, "shutting down");
    void (async () => {
      void demo?.stop().catch((err: unknown) => log.warn({ err }, "demo stop failed")); // its ffmpeg may take 2 s: not waited for
      // clients move to other gateways first (NODE_DRAINING, 1012), then the node leaves the cluster
      await node?.drain(config.drainTimeoutMs).catch((err: unknown) => log.warn({ err }, "drain failed"));
      await node?.stop().catch((err: unknown) => log.warn({ err }, "node stop failed"));
      process.exit(0);
    })();
  }, config.drainTimeoutMs + GRACE_MS);
  try {
    node = await startNode(config, log);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (err instanceof StartupError) fail(err.message);
    if (e.code === "EADDRINUSE" && /^Icecast port/.test(e.message)) fail(`${e.message} (another veza-stream or Icecast?)`);
    if (/^SRT port/.test(e.message)) fail(e.message);
    if (e.code === "EADDRINUSE") fail(`port ${config.port} is in use (another veza-stream?); choose --port or set REUSE_PORT=1`);
    throw err;
  }
  if (stopping) return;
  if (node.port) {
    const host = ["0.0.0.0", "::", "127.0.0.1", "::1"].includes(config.host) ? "localhost" : config.host.includes(":") ? `[${config.host}]` : config.host;
    log.info({ url: `http://${host}:${node.port}/` }, `open http://${host}:${node.port}/`);
    if (node.context.access.verifier.generatedKeyFile) await printLocalToken(node, `http://${host}:${node.port}`, log);
  }
  if (config.demo) demo = startDemo(config, node, log.child({ mod: "demo" }));
}

/** Starts the demo broadcast on this node; failures are logged, never thrown. */
function startDemo(config: Config, node: RunningNode, log: Logger): Broadcast | null {
  if (!node.port) {
    log.warn({ streamId: config.demoStream }, "no demo broadcast: this node runs no gateway");
    return null;
  }
  const source = demoSource(config.demo!);
  // the demo needs no token from anyone: the node mints one only it verifies (in memory, never shown)
  const token = () => node.context.access.mintLocal([{ action: "publish", streams: [config.demoStream] }], "demo");
  const demo = new Broadcast({
    url: `ws://127.0.0.1:${node.port}`, streamId: config.demoStream, token, input: source.input, inputFormat: source.inputFormat, send: "opus",
    loop: source.inputFormat === undefined, reconnect: true, title: source.title, ffmpegPath: node.context.ffmpegPath, log,
  });
  demo.on("error", (err: Error) => log.error({ err, streamId: config.demoStream }, "demo broadcast failed"));
  demo.on("retry", (r: { failure: { describe(): string }; delayMs: number }) => log.warn({ streamId: config.demoStream, delayMs: r.delayMs }, `demo broadcast: ${r.failure.describe()}, retrying`));
  demo.on("close", (code: number, reason: string) => log[code === 1000 ? "info" : "warn"]({ streamId: config.demoStream, code, reason }, "demo broadcast closed"));
  demo.start().then(
    () => log.info({ streamId: config.demoStream, source: source.title, listen: `http://localhost:${node.port}/listen/${config.demoStream}` }, "demo broadcast on air"),
    (err: unknown) => log.error({ err, streamId: config.demoStream }, "demo broadcast could not start"),
  );
  return demo;
}

/** Lifetime of the broadcaster token printed at start on the generated key, s. */
const LOCAL_TOKEN_TTL_S = 24 * 3600;

/**
 * On a fresh install (the generated key): prints a broadcaster token for this machine, with the
 * broadcaster page's URL carrying it in the fragment (never sent to the server, so never in any
 * log). Written to stderr, not to the log: the log is for events, this is for the person at the
 * terminal, and tokens never go in logs.
 */
async function printLocalToken(node: RunningNode, base: string, log: Logger): Promise<void> {
  try {
    const token = await node.context.access.verifier.mint({ scopes: [{ action: "publish", streams: ["*"] }], ttlS: LOCAL_TOKEN_TTL_S, sub: "local" });
    process.stderr.write(
      [
        "",
        "  Broadcasting needs a token. One for this machine (publish on any stream, valid 24 h):",
        `    ${token}`,
        "  Broadcast from the browser:",
        `    ${base}/broadcast/radio#token=${token}`,
        "  or from the command line:",
        `    VEZA_TOKEN=${token} npx veza-stream broadcast builtin --stream radio`,
        "  More tokens: npx veza-stream token --scope publish:radio --ttl 1h   (docs/security.md)",
        "",
      ].join("\n") + "\n",
    );
  } catch (err) {
    log.warn({ err: (err as Error).message }, "could not mint the local broadcaster token");
  }
}
