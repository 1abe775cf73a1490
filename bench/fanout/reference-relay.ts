/**
 * Reference for the fan-out bench: the least a uWS server can do for the same protocol. Publishers
 * on /ws/publish/:id get stream.started for stream.start, and each binary message they send is
 * relayed untouched with app.publish(id); listeners on /ws/listen/:id get a hello and subscribe.
 * No validation, no re-stamping, no actors: the floor veza-stream is compared against.
 *
 * Run: tsx bench/fanout/reference-relay.ts --port 9001 [--max-backpressure 262144] (the gateway default)
 *      [--close-on-backpressure true|false] [--verbose]
 */
import { parseArgs } from "node:util";
import * as uWS from "@trufflesuite/uws-js-unofficial";

if (!uWS.App.toString().includes("[native code]")) {
  console.error("reference-relay: uWS native binary not loaded (JS fallback); refusing to benchmark it");
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "9001" },
    "max-backpressure": { type: "string", default: String(256 * 1024) },
    "close-on-backpressure": { type: "string", default: "false" },
    verbose: { type: "boolean", default: false },
  },
});
const port = Number(values.port);
const verbose = values.verbose ?? false;
const log = (line: string): void => void (verbose && process.stderr.write(`reference-relay: ${line}\n`));

interface Conn {
  id: string;
  started: boolean;
}

const upgrade = (res: uWS.HttpResponse, req: uWS.HttpRequest, ctx: uWS.us_socket_context_t): void => {
  res.upgrade<Conn>(
    { id: req.getParameter(0), started: false },
    req.getHeader("sec-websocket-key"),
    req.getHeader("sec-websocket-protocol"),
    req.getHeader("sec-websocket-extensions"),
    ctx,
  );
};

const app = uWS.App();
app.ws<Conn>("/ws/publish/:id", {
  compression: uWS.DISABLED,
  maxPayloadLength: 16 * 1024,
  upgrade,
  message: (ws, message, isBinary) => {
    const conn = ws.getUserData();
    if (isBinary) {
      if (conn.started) app.publish(conn.id, message, true);
      return;
    }
    const msg = JSON.parse(Buffer.from(message).toString("utf8")) as { type?: string };
    if (msg.type === "stream.start" && !conn.started) {
      conn.started = true;
      ws.send(JSON.stringify({ type: "stream.started", streamId: conn.id, sessionId: "reference", state: "live" }), false);
    }
  },
  close: (ws, code) => log(`publisher ${ws.getUserData().id} closed ${code}`),
});
app.ws<Conn>("/ws/listen/:id", {
  compression: uWS.DISABLED,
  maxPayloadLength: 1024,
  maxBackpressure: Number(values["max-backpressure"]),
  closeOnBackpressureLimit: values["close-on-backpressure"] === "true" ? 1 : 0,
  upgrade,
  open: (ws) => {
    const { id } = ws.getUserData();
    ws.send(JSON.stringify({ type: "hello", protocolVersion: 1, sessionId: "reference", streamId: id, codec: "opus", sampleRate: 48_000, channels: 2, frameDurationMs: 20, rendition: 0 }), false);
    ws.subscribe(id);
  },
  drain: (ws) => log(`listener drain, buffered ${ws.getBufferedAmount()}`),
  close: (_ws, code, message) => log(`listener closed ${code} ${Buffer.from(message).toString("utf8")}`),
});
app.get("/ready", (res) => void res.end("ok"));
app.listen("127.0.0.1", port, (socket) => {
  if (!socket) {
    console.error(`reference-relay: cannot listen on 127.0.0.1:${port}`);
    process.exit(1);
  }
  log(`listening on 127.0.0.1:${port}`);
});
