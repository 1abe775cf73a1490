/**
 * The veza-stream command line (commander): `start`, `broadcast`, `listen`. Every flag of `start`
 * comes from the config schema, so the README table, the env variables and the flags agree.
 */
import { Command, Option } from "commander";
import { ServiceBroker } from "moleculer";
import pino from "pino";
import { ConfigError, configKeys, loadConfig, type ConfigInput } from "../config";
import { createLogger, startNode } from "../actors/node";
import { resolveFfmpegPath } from "../transports/ffmpeg/ffmpeg-path";
import { Broadcast } from "./commands/broadcast";
import { listen } from "./commands/listen";
import { replCommands } from "./commands/repl";
import { brokerOptions } from "../moleculer.config";

const program = new Command("veza-stream").description("Live-audio streaming cluster").showHelpAfterError();

const start = program.command("start").description("start a node (all roles, in one process, unless configured otherwise)");
for (const k of configKeys()) {
  const flag = k.flag.replace(/^--/, "");
  start.addOption(new Option(`--${flag} <value>`, `${k.description} [env ${k.env}]`));
}
start.action(async (opts: Record<string, string>) => {
  const flags: ConfigInput = {};
  for (const k of configKeys()) {
    const camel = k.flag.replace(/^--/, "").replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    if (opts[camel] !== undefined) flags[k.key] = opts[camel];
  }
  let config;
  try {
    config = loadConfig(process.env, flags);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`veza-stream: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config);
  const node = await startNode(config, log);
  let demo: Broadcast | null = null;
  if (config.demo) {
    demo = new Broadcast({
      url: `ws://127.0.0.1:${node.port}`, streamId: config.demoStream, input: config.demo, send: "opus", loop: true,
      title: config.demo.split("/").pop(), ffmpegPath: node.context.ffmpegPath, log: log.child({ mod: "demo" }),
    });
    await demo.start();
    log.info({ streamId: config.demoStream, file: config.demo }, "demo broadcast on air");
  }
  const shutdown = async (signal: string) => {
    log.info({ signal }, "shutting down");
    await demo?.stop();
    await node.stop();
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
});

program
  .command("broadcast <input>")
  .description("push a file (or - for stdin) to a stream in real time")
  .requiredOption("--stream <id>", "stream id")
  .option("--url <urls>", "gateway URL, or several comma-separated to fail over between", "ws://127.0.0.1:8080")
  .option("--no-reconnect", "give up when the connection is lost")
  .option("--send <format>", "opus (encode here) | ogg | mp3 | webm | wav (server encodes)", "opus")
  .option("--title <title>", "stream title")
  .option("--loop", "loop the input for ever", false)
  .option("--ss <seconds>", "start this many seconds into the input")
  .action(async (input: string, opts: { stream: string; url: string; reconnect: boolean; send: string; title?: string; loop: boolean; ss?: string }) => {
    const log = pino({ level: process.env.LOG_LEVEL ?? "info" });
    const broadcast = new Broadcast({
      url: opts.url.split(",").map((u) => u.trim()).filter(Boolean), reconnect: opts.reconnect, streamId: opts.stream, input, send: opts.send as "opus", loop: opts.loop, title: opts.title,
      startSeconds: opts.ss ? Number(opts.ss) : undefined, ffmpegPath: resolveFfmpegPath(process.env.FFMPEG_PATH), log,
    });
    broadcast.on("close", (code: number, reason: string) => {
      log.info({ code, reason, frames: broadcast.framesSent }, "connection closed");
      process.exit(code === 1000 ? 0 : 1);
    });
    broadcast.on("end", () => void broadcast.stop());
    process.once("SIGINT", () => void broadcast.stop());
    try {
      await broadcast.start();
    } catch (err) {
      log.error({ err }, "broadcast refused");
      process.exit(1);
    }
    log.info({ streamId: opts.stream }, "on air");
  });

program
  .command("listen <streamId>")
  .description("listen to a stream; write it to an Ogg/Opus file; print JSON stats")
  .option("--url <urls>", "gateway URL, or several comma-separated to fail over between", "ws://127.0.0.1:8080")
  .option("--no-reconnect", "do not reconnect when the connection is lost")
  .option("--out <file>", "write the audio to this .ogg file")
  .option("--seconds <n>", "stop after this many seconds of audio")
  .action(async (streamId: string, opts: { url: string; reconnect: boolean; out?: string; seconds?: string }) => {
    const urls = opts.url.split(",").map((u) => u.trim()).filter(Boolean);
    const stats = await listen({ url: urls, reconnect: opts.reconnect, streamId, out: opts.out, seconds: opts.seconds ? Number(opts.seconds) : undefined });
    process.stdout.write(`${JSON.stringify(stats)}\n`);
    process.exit(0);
  });

program
  .command("repl")
  .description("join the cluster (NATS_URL) as an operator console: streams, listeners, kick, stream stop, nodes, stats")
  .action(async () => {
    let config;
    try {
      config = loadConfig(process.env, { services: "", nodeId: `repl-${process.pid}`, logLevel: process.env.LOG_LEVEL ?? "warn" });
    } catch (err) {
      process.stderr.write(`veza-stream: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(2);
    }
    if (!config.natsUrl) {
      process.stderr.write("veza-stream repl joins a cluster: set NATS_URL (and CLUSTER_NAMESPACE if not veza)\n");
      process.exit(2);
    }
    const broker = new ServiceBroker(brokerOptions(config, createLogger(config)));
    await broker.start();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const repl = require("moleculer-repl") as (b: ServiceBroker, o: object) => unknown;
    repl(broker, { delimiter: "veza $", customCommands: replCommands() });
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`veza-stream: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
