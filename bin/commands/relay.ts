/**
 * `veza-stream relay <in-uri> <out-uri> [<out-uri> …]`: the stream relay (transports/relay/relay.ts)
 * between field encoders and production, SRT to SRT (`srt://`, transports/srt/uri.ts) or RIST to
 * RIST (`rist://`, transports/rist/uri.ts), with `/health`, Prometheus `/metrics` and a WebSocket
 * feed of its stats (`/ws/stats`, one JSON snapshot a second) on `--http-addr` (HTTP_ADDR, default
 * 127.0.0.1:9100), JSON logs on stdout at LOG_LEVEL (default info) with passphrases, secrets and
 * streamids never written, and these exit codes:
 *
 * - 0: stopped by SIGINT or SIGTERM;
 * - 1: an unexpected failure;
 * - 2: bad arguments (a URI, a flag, SRT and RIST mixed);
 * - 3: an address cannot be bound (the HTTP address, a listening endpoint's port);
 * - 4: the protocol's library is not available here (README, "Stream relay", says how to install it).
 *
 * Loaded on its own by bin/veza-stream (dist/bin/relay.js), without the node's code, so that it
 * serves `/health` within the start-up budget (docs/benchmarks.md, "Relay").
 */
import http from "node:http";
import { Command, CommanderError, Option } from "commander";
import pino, { type Logger } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import type { WebSocket, WebSocketServer } from "ws";
import type { RelayInput, RelayOutput } from "../../transports/relay/endpoint";
import { Relay } from "../../transports/relay/relay";
import { EndpointUnavailable, EndpointUriError, relayEndpoint, schemeOf } from "../../transports/relay/open-endpoint";

export const RELAY_EXIT = { ok: 0, failure: 1, usage: 2, address: 3, unavailable: 4 } as const;

/** Log fields never written: SRT passphrases, RIST secrets, streamids (they may hold a token). */
const REDACTED = ["passphrase", "*.passphrase", "secret", "*.secret", "streamid", "*.streamid", "streamId", "*.streamId", "token", "*.token", "uri", "*.uri"];

class ExitError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function relayLogger(): Logger {
  return pino({ level: process.env.LOG_LEVEL || "info", base: { app: "veza-relay" }, redact: { paths: REDACTED, censor: "[redacted]" } }, pino.destination({ fd: 1, sync: true }));
}

/** `host:port` of --http-addr. @throws ExitError (usage). */
function httpAddr(text: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw new ExitError(RELAY_EXIT.usage, `--http-addr ${text}: host:port, e.g. 127.0.0.1:9100 or 0.0.0.0:9100`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, "$1") || "0.0.0.0", port: Number(m[2]) };
}

/** The endpoints of the URIs. @throws ExitError (usage, unavailable). */
function endpoints(input: string, outputs: string[], log: Logger): { in: RelayInput; out: RelayOutput[] } {
  const schemes = new Set([input, ...outputs].map(schemeOf));
  if (schemes.size > 1) throw new ExitError(RELAY_EXIT.usage, `every URI must have the same scheme (srt:// to srt://, rist:// to rist://); got ${[...schemes].map((s) => `${s}://`).join(", ")}`);
  try {
    return { in: relayEndpoint(input, "in", log), out: outputs.map((o) => relayEndpoint(o, "out", log)) };
  } catch (err) {
    if (err instanceof EndpointUriError) throw new ExitError(RELAY_EXIT.usage, err.message);
    if (err instanceof EndpointUnavailable) throw new ExitError(RELAY_EXIT.unavailable, err.message);
    throw err;
  }
}

/** Serves /health, /metrics and the /ws/stats feed. @throws ExitError (address) when the address cannot be bound. */
async function serveHttp(addr: { host: string; port: number }, relay: Relay, registry: Registry): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") return void res.writeHead(405, { Allow: "GET, HEAD" }).end();
    if (path === "/health") {
      const body = JSON.stringify({ status: "ok", ...relay.snapshot });
      return void res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-store" }).end(req.method === "HEAD" ? undefined : body);
    }
    if (path === "/metrics") {
      registry.metrics().then(
        (text) => res.writeHead(200, { "Content-Type": registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404, { "Content-Type": "text/plain" }).end("/health, /metrics, /ws/stats\n");
  });
  // ws is loaded at the first feed client (14 ms of start-up otherwise)
  let feed: WebSocketServer | null = null;
  server.on("upgrade", (req, socket, head) => {
    if ((req.url ?? "").split("?")[0] !== "/ws/stats") return void socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    feed ??= new (require("ws") as typeof import("ws")).WebSocketServer({ noServer: true, maxPayload: 1024 });
    feed.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      ws.send(JSON.stringify(relay.snapshot));
      ws.on("error", () => undefined);
    });
  });
  relay.onSnapshot = (s) => {
    const text = JSON.stringify(s);
    for (const ws of feed?.clients ?? []) if (ws.readyState === ws.OPEN && ws.bufferedAmount < 1 << 20) ws.send(text);
  };
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(new ExitError(RELAY_EXIT.address, `--http-addr ${addr.host}:${addr.port}: ${err.code ?? err.message}`)));
    server.listen(addr.port, addr.host, () => resolve());
  });
  return server;
}

/** Runs the relay command on `argv` (the words after `relay`); resolves never (the process exits). */
export async function runRelayCommand(argv: string[]): Promise<void> {
  const program = new Command("veza-stream relay")
    .description("relay a live SRT stream to SRT outputs, or RIST to RIST (callers, listeners, rendezvous), with /health, /metrics and /ws/stats")
    .argument("<in-uri>", "input, e.g. srt://:9000 (listen for a publisher), srt://encoder.example:9000 (call it), rist://@:8000 (listen for a RIST sender)")
    .argument("<out-uri...>", "outputs, e.g. srt://:9001 (listen for readers: every one gets the stream), srt://studio.example:9001, rist://studio.example:8000")
    .addOption(new Option("--http-addr <host:port>", "address of /health, /metrics and /ws/stats").env("HTTP_ADDR").default("127.0.0.1:9100"))
    .addOption(new Option("--buffer-ms <ms>", "hold each packet this long after its original send time before it goes out (absorbs jitter; 0: forward at once)").default("0"))
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .addHelpText("after", "\nsrt:// keys (as srt-live-transmit spells them): mode=caller|listener|rendezvous, latency=<ms>, passphrase=<10-79 chars>, pbkeylen=16|24|32, streamid=<text>, conntimeo=<ms>, tsbpd=true|false.\nrist:// (librist's URL syntax): rist://@:port listens, rist://host:port calls; buffer=<ms>, secret=<psk>, aes-type=128|256, cname=<name>; and profile=simple|main (default main).\nExit codes: 0 stopped by a signal, 1 failure, 2 bad arguments, 3 address in use, 4 protocol library missing.");
  let log: Logger | null = null;
  try {
    program.parse(argv, { from: "user" });
    const [input, outputs] = program.processedArgs as [string, string[]];
    const opts = program.opts<{ httpAddr: string; bufferMs: string }>();
    const bufferMs = Number(opts.bufferMs);
    if (!/^\d+$/.test(opts.bufferMs) || bufferMs > 10_000) throw new ExitError(RELAY_EXIT.usage, `--buffer-ms ${opts.bufferMs}: 0 to 10000`);
    const addr = httpAddr(opts.httpAddr);
    log = relayLogger();
    const e = endpoints(input, outputs, log);
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const relay = new Relay(e.in, e.out, { bufferMs, registry, log });
    const server = await serveHttp(addr, relay, registry);
    try {
      relay.start();
    } catch (err) {
      throw new ExitError(RELAY_EXIT.address, (err as Error).message);
    }
    log.info({ input: e.in.display, outputs: e.out.map((o) => o.display), http: `${addr.host}:${addr.port}`, bufferMs }, "relay started");
    const stop = (signal: string) => {
      log?.info({ signal }, "relay stopping");
      relay.close();
      server.close();
      process.exit(RELAY_EXIT.ok);
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : RELAY_EXIT.usage);
    const code = err instanceof ExitError ? err.code : RELAY_EXIT.failure;
    const message = err instanceof Error ? err.message : String(err);
    if (log) log.error({ code }, message);
    process.stderr.write(`veza-stream relay: ${message}\n`);
    process.exit(code);
  }
}
