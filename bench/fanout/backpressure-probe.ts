/**
 * What a listener sees when it stops reading and passes uWS's maxBackpressure, in four server
 * variants. Not a benchmark: a probe of uWS behaviour, reported in docs/benchmarks.md.
 *
 *   skip        closeOnBackpressureLimit 0: uWS skips the socket while it is over the limit
 *   uws-close   closeOnBackpressureLimit 1: uWS closes the socket itself
 *   sweep-end   closeOnBackpressureLimit 0 + a 100 ms sweep doing ws.end(4503) over the limit
 *   sweep-close closeOnBackpressureLimit 0 + a 100 ms sweep doing ws.close() over the limit
 *   end-below   closeOnBackpressureLimit 0 + ws.end(4503) as soon as half the limit is queued
 *
 * A uWS app in this process publishes 7000-byte messages (a u32 counter first) every ms to a
 * topic with two listeners (RawWsClient): one reads, one pauses its socket for `--pause` seconds,
 * so the kernel buffers and then uWS's queue fill. Run: npx tsx bench/fanout/backpressure-probe.ts
 */
import { parseArgs } from "node:util";
import * as uWS from "@trufflesuite/uws-js-unofficial";
import { freePort, sleep } from "./children";
import { RawWsClient, type WsHandlers } from "./ws-client";

type Variant = "skip" | "uws-close" | "sweep-end" | "sweep-close" | "end-below";
const LIMIT = 64 * 1024;
const MESSAGE_BYTES = 7000;

const { values } = parseArgs({ options: { pause: { type: "string", default: "4" }, variant: { type: "string" } } });

/** A listener that counts messages and holes in the counter. */
class ProbeListener implements WsHandlers {
  readonly client: RawWsClient;
  messages = 0;
  gaps = 0;
  last = -1;
  close: { code: number; reason: string; afterMessages: number } | null = null;

  constructor(port: number, private readonly pauseOnOpen: boolean) {
    this.client = new RawWsClient(port, "/ws/listen/probe", this);
  }

  open(): void {
    if (this.pauseOnOpen) this.client.socket.pause();
  }

  text(): void {}

  binary(buf: Buffer, start: number): void {
    const n = buf.readUInt32BE(start);
    if (this.last >= 0 && n !== this.last + 1) this.gaps += n - this.last - 1;
    this.last = n;
    this.messages++;
  }

  closed(code: number, reason: string): void {
    this.close = { code, reason, afterMessages: this.messages };
  }
}

async function probe(variant: Variant, pauseSec: number): Promise<string> {
  const port = await freePort();
  const serverCloses: string[] = [];
  const sockets = new Set<uWS.WebSocket<{ id: number }>>();
  let nextId = 0;
  const app = uWS.App();
  app.ws<{ id: number }>("/ws/listen/:id", {
    maxBackpressure: LIMIT,
    closeOnBackpressureLimit: variant === "uws-close" ? 1 : 0,
    compression: uWS.DISABLED,
    upgrade: (res, req, ctx) =>
      res.upgrade({ id: nextId++ }, req.getHeader("sec-websocket-key"), req.getHeader("sec-websocket-protocol"), req.getHeader("sec-websocket-extensions"), ctx),
    open: (ws) => {
      sockets.add(ws);
      ws.subscribe("probe");
    },
    close: (ws, code, msg) => {
      sockets.delete(ws);
      serverCloses.push(`listener ${ws.getUserData().id}: close handler code ${code}${msg.byteLength ? ` "${Buffer.from(msg).toString()}"` : ""}`);
    },
  });
  let listen: uWS.us_listen_socket | false = false;
  app.listen("127.0.0.1", port, (s) => {
    listen = s;
  });
  if (!listen) throw new Error("probe: cannot listen");

  const reader = new ProbeListener(port, false);
  const slow = new ProbeListener(port, true);
  await sleep(300);
  let counter = 0;
  let maxBuffered = 0;
  const message = Buffer.alloc(MESSAGE_BYTES);
  const publisher = setInterval(() => {
    message.writeUInt32BE(counter++, 0);
    app.publish("probe", message, true);
    if (variant !== "end-below") return;
    for (const ws of sockets) if (ws.getBufferedAmount() >= LIMIT / 2) ws.end(4503, "slow listener");
  }, 1);
  const sweeper = setInterval(() => {
    for (const ws of sockets) {
      const buffered = ws.getBufferedAmount();
      maxBuffered = Math.max(maxBuffered, buffered);
      if (buffered < LIMIT) continue;
      if (variant === "sweep-end") ws.end(4503, "slow listener");
      else if (variant === "sweep-close") ws.close();
    }
  }, 100);
  await sleep(pauseSec * 1000);
  slow.client.socket.resume();
  await sleep(2000);
  clearInterval(publisher);
  clearInterval(sweeper);
  await sleep(200);
  const fmt = (l: ProbeListener): string =>
    `${l.messages} messages, ${l.gaps} missing` +
    (l.close ? `, closed with code ${l.close.code}${l.close.reason ? ` "${l.close.reason}"` : ""} after ${l.close.afterMessages} messages` : ", still open");
  const report = [
    `${variant}: published ${counter} messages of ${MESSAGE_BYTES} B; slow listener paused ${pauseSec} s; largest getBufferedAmount seen ${maxBuffered} B (limit ${LIMIT})`,
    `  reading listener: ${fmt(reader)}`,
    `  paused listener:  ${fmt(slow)}`,
    ...serverCloses.map((s) => `  server: ${s}`),
  ].join("\n");
  reader.client.destroy();
  slow.client.destroy();
  uWS.us_listen_socket_close(listen);
  for (const ws of sockets) ws.close();
  return report;
}

async function main(): Promise<void> {
  const variants: Variant[] = values.variant ? [values.variant as Variant] : ["skip", "uws-close", "sweep-end", "sweep-close", "end-below"];
  for (const v of variants) console.log(await probe(v, Number(values.pause)));
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
