/**
 * The veza-stream command line (commander): `start`, `broadcast`, `listen`, `repl`, `token`. Flags are
 * validated by commander (required options, choices, numbers through bin/options.ts) before
 * anything runs; every failure is one line on stderr naming the cause (the server's error code and
 * text where it sent one) and a non-zero exit code. `broadcast` and `listen` send a token
 * (`--token`, `--token @file`, or VEZA_TOKEN) as `Authorization: Bearer`; a refused token
 * (UNAUTHORIZED, TOKEN_EXPIRED, FORBIDDEN) is final and the line says how to mint one.
 */
import { Command, Option } from "commander";
import { ServiceBroker } from "moleculer";
import type { Logger } from "pino";
import { createLogger } from "../actors/node";
import { loadConfig } from "../config";
import { brokerOptions } from "../moleculer.config";
import { resolveFfmpegPath, resolveFfprobePath } from "../transports/ffmpeg/ffmpeg-path";
import { Broadcast, type RetryInfo } from "./commands/broadcast";
import type { AuthEvent } from "../client/core/auth";
import { ConnectionFailure, describeWithHint, type TokenAction } from "./commands/failure";
import { BUILTIN_DEMO, demoSource } from "./commands/demo-source";
import { checkBroadcastInput, InputError } from "./commands/input-check";
import { listen } from "./commands/listen";
import { runRepl } from "./commands/repl";
import { addStartCommand } from "./commands/start";
import { addTokenCommand } from "./commands/token";
import { gatewayUrls, rendition, seconds, token } from "./options";
import { onStopSignal } from "./signals";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { version } = require("../package.json") as { version: string };

const DEFAULT_URL = "ws://127.0.0.1:8080";

/** One line on stderr, prefixed with the command. */
const say = (command: string, text: string) => process.stderr.write(`veza-stream ${command}: ${text}\n`);

/** A logger on stderr for a client command's internals (ffmpeg lines); LOG_LEVEL, default warn. */
function clientLogger(): Logger {
  let config;
  try {
    config = loadConfig({ LOG_FORMAT: process.env.LOG_FORMAT }, { logLevel: process.env.LOG_LEVEL || "warn" });
  } catch {
    config = loadConfig({}, { logLevel: "warn" });
  }
  return createLogger(config, 2);
}

/** `--url`: one or more gateway URLs, validated, default shown as the URL. */
const urlOption = () => new Option("--url <urls>", "gateway URL, or several comma-separated to fail over between").argParser(gatewayUrls).default([DEFAULT_URL], DEFAULT_URL);

/** `--token`: a JWT, `@file` to read one from a file, or VEZA_TOKEN. */
const tokenOption = (action: TokenAction, when?: string) =>
  new Option("--token <jwt>", `token with a ${action} scope on the stream${when ? ` (${when})` : ""}, sent as Authorization: Bearer; @file reads it from a file`).env("VEZA_TOKEN").argParser(token);

/** Words for a token the command cannot renew, when the server says it expires. */
function expiryWarning(command: string, e: AuthEvent): void {
  if (e.type !== "expiring" || e.refreshing) return;
  const inS = Math.max(0, Math.round(e.exp - Date.now() / 1000));
  say(command, `warning: the token expires at ${new Date(e.exp * 1000).toISOString()} (in ${inS} s) and cannot be renewed from here; the server will close the connection then (TOKEN_EXPIRED): run again with a fresh token to go on`);
}

/** One line for a failure, with how to get a token when the token was refused. */
const explain = (err: unknown, action: TokenAction, streamId: string) =>
  err instanceof ConnectionFailure ? describeWithHint(err, action, streamId) : ((err as Partial<ConnectionFailure>).describe?.() ?? String(err));

const TOKEN_HELP = (action: TokenAction) => `
Tokens: pass one with --token <jwt>, --token @file (read from a file, trimmed: keeps the secret off
the command line) or the VEZA_TOKEN environment variable; it is sent as "Authorization: Bearer".
Mint one on a node's machine with: veza-stream token --scope ${action}:<stream>${action === "publish" ? "\n(or use the broadcaster token that npm start prints)." : ""}
A refused token (UNAUTHORIZED, TOKEN_EXPIRED: close 4401; FORBIDDEN: 4403) ends the command with
exit code 1; RATE_LIMITED is retried after the server's Retry-After (unless --no-reconnect).`;

const retryLine = (command: string) => (failure: ConnectionFailure, delayMs: number, url: string) =>
  say(command, `${failure.describe()}; retrying ${url} in ${(delayMs / 1000).toFixed(1)} s`);

const program = new Command("veza-stream")
  .description("Live-audio streaming cluster: start a node, broadcast to it, listen to it")
  .version(version, "-V, --version", "print the version (from package.json)")
  .showHelpAfterError("(run with --help for usage)")
  .configureHelp({ showGlobalOptions: true });

addStartCommand(program);
addTokenCommand(program);

// bin/veza-stream runs the relay's own bundle (dist/bin/relay.js); this is the same command when
// the CLI runs through tsx
program
  .command("relay")
  .description("relay a live SRT stream to one or more SRT outputs, with /health, /metrics and /ws/stats (veza-stream relay --help)")
  .helpOption(false)
  .allowUnknownOption()
  .argument("[args...]")
  .action(async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    await (require("./commands/relay") as typeof import("./commands/relay")).runRelayCommand(process.argv.slice(3));
  });

interface BroadcastFlags { stream: string; url: string[]; reconnect: boolean; send: "opus" | "ogg" | "mp3" | "webm" | "wav"; title?: string; loop: boolean; record: boolean; ss?: number; token?: string }

program
  .command("broadcast <input>")
  .description("push an audio file (- for stdin, builtin for the generated demo chords) to a stream in real time; exit 0 when the server closed normally")
  .requiredOption("--stream <id>", "stream id, 1-64 of A-Z a-z 0-9 _ - (required)")
  .addOption(urlOption())
  .option("--no-reconnect", "give up at the first failure instead of retrying retryable ones")
  .addOption(new Option("--send <format>", "opus: encode here; ogg, mp3: send the container as is (-c copy); webm, wav: the server encodes").choices(["opus", "ogg", "mp3", "webm", "wav"]).default("opus"))
  .option("--title <title>", "stream title (default: the stream id)")
  .option("--loop", "loop the input for ever", false)
  .option("--record", "record the broadcast into the node's recordings (S3 or DATA_DIR/recordings; README, Recording)", false)
  .option("--ss <seconds>", "start this many seconds into the input", seconds(true))
  .addOption(tokenOption("publish"))
  .addHelpText("after", TOKEN_HELP("publish"))
  .action(async (input: string, opts: BroadcastFlags) => {
    try {
      if (input !== BUILTIN_DEMO) await checkBroadcastInput(input, opts.send, resolveFfprobePath());
      else if (opts.send === "ogg" || opts.send === "mp3") throw new InputError(`the built-in chords are generated PCM: --send ${opts.send} has no codec to copy; use --send opus (default), webm or wav`);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      say("broadcast", err.message);
      process.exit(1);
    }
    const log = clientLogger();
    const source = input === BUILTIN_DEMO ? demoSource(BUILTIN_DEMO) : { input, inputFormat: undefined, title: undefined };
    const broadcast = new Broadcast({
      url: opts.url, reconnect: opts.reconnect, streamId: opts.stream, input: source.input, inputFormat: source.inputFormat, send: opts.send,
      loop: opts.loop && !source.inputFormat, title: opts.title ?? source.title, startSeconds: source.inputFormat ? undefined : opts.ss, ffmpegPath: resolveFfmpegPath(process.env.FFMPEG_PATH), log,
      token: opts.token, record: opts.record,
    });
    broadcast.on("auth", (e: AuthEvent) => expiryWarning("broadcast", e));
    broadcast.on("retry", (r: RetryInfo) => retryLine("broadcast")(r.failure, r.delayMs, r.url));
    broadcast.on("lost", (failure: ConnectionFailure) => say("broadcast", `connection lost: ${failure.describe()}; reconnecting`));
    broadcast.on("reconnected", () => say("broadcast", `on air again (reconnection ${broadcast.reconnects})`));
    broadcast.on("close", (code: number, _reason: string, failure: ConnectionFailure) => {
      if (code === 1000) say("broadcast", `stream ended (${broadcast.framesSent} messages sent)`);
      else say("broadcast", describeWithHint(failure, "publish", opts.stream));
      process.exit(code === 1000 ? 0 : 1);
    });
    broadcast.on("error", (err: Error) => {
      say("broadcast", `ffmpeg failed on ${input}: ${err.message.split("\n").slice(0, 3).join(" ").slice(0, 400)}`);
      void broadcast.abort().finally(() => process.exit(1));
    });
    broadcast.on("end", () => void broadcast.stop());
    // exits on the server's close (1000, above); if none comes, bin/signals.ts's limit ends it
    let interrupted = false;
    onStopSignal(() => ((interrupted = true), void broadcast.stop()));
    try {
      await broadcast.start();
    } catch (err) {
      if (interrupted) process.exit(130); // Ctrl-C while still connecting: nothing to report
      say("broadcast", explain(err, "publish", opts.stream));
      process.exit(1);
    }
    say("broadcast", `on air: stream ${opts.stream} (${opts.send})`);
  });

program
  .command("listen <streamId>")
  .description("listen to a stream; write it to an Ogg/Opus file; print JSON stats at the end")
  .addOption(urlOption())
  .option("--no-reconnect", "stop at the first failure instead of retrying retryable ones")
  .option("--out <file>", "write the audio to this .ogg file; - writes it to stdout (the stats then go to stderr)")
  .option("--seconds <n>", "stop after this many seconds of audio (default: until the stream closes or Ctrl-C)", seconds(false))
  .option("--rendition <id>", "auto (the gateway adapts the bit rate to the link) or a rendition id of the stream (GET /api/streams/<id>)", rendition, "auto")
  .addOption(tokenOption("listen", "needed when the node runs with LISTEN_AUTH=token"))
  .addHelpText("after", TOKEN_HELP("listen"))
  .action(async (streamId: string, opts: { url: string[]; reconnect: boolean; out?: string; seconds?: number; token?: string; rendition: "auto" | number }) => {
    onStopSignal(() => undefined); // listen() stops on the signal itself; this arms the 2 s limit
    let result;
    try {
      result = await listen({ url: opts.url, reconnect: opts.reconnect, streamId, out: opts.out, seconds: opts.seconds, onRetry: retryLine("listen"), token: opts.token, onAuth: (e) => expiryWarning("listen", e), rendition: opts.rendition });
    } catch (err) {
      say("listen", explain(err, "listen", streamId));
      process.exit(1);
    }
    const statsOut = opts.out === "-" ? process.stderr : process.stdout;
    statsOut.write(`${JSON.stringify(result.stats)}\n`, () => {
      const failed = result.failure && result.failure.closeCode !== 1000;
      if (failed) say("listen", describeWithHint(result.failure!, "listen", streamId));
      process.exit(failed ? 1 : 0);
    });
  });

program
  .command("repl")
  .description("join the cluster (NATS_URL) as an operator console: streams, listeners, kick, stream stop, revoke, nodes, stats (needs an admin token)")
  .addOption(new Option("--token <jwt>", "admin token (scope admin:*); mint one with veza-stream token --scope admin:*").env("VEZA_TOKEN"))
  .action((o: { token?: string }) => runRepl(o));

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`veza-stream: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
