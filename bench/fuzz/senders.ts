/**
 * Puts fuzz inputs on real sockets to the node under test: WebSocket messages on a small pool of
 * fuzz broadcasters and listeners (reopened whenever the server closes one), and raw TCP
 * connections for HTTP requests and upgrades. Every fuzz connection comes from a source address
 * 127.0.0.2-127.0.0.254 taken in turn, so per-address limits and the client's ephemeral ports
 * (TIME_WAIT) are spread over many addresses; the good pair and the checks use 127.0.0.1.
 */
import net from "node:net";
import WebSocket from "ws";
import { poolToken } from "./auth";
import type { AuthInput, FuzzInput, UpgradeInput, WsTarget } from "./inputs";
import { materialize, materializeText } from "./inputs";
import { clientFrame, readFrames } from "./ws-frames";

/** Source addresses for fuzz connections (loopback only). */
let nextAddress = 0;
export function fuzzAddress(): string {
  nextAddress = (nextAddress % 253) + 1;
  return `127.0.0.${nextAddress + 1}`;
}

/** What came back for one input, for the summary (e.g. `http 404`, `ws close 1009`). */
export type Outcome = string;

interface PooledSocket {
  ws: WebSocket;
  open: Promise<boolean>;
  /** Close code and reason, once closed. */
  closed: string | null;
}

/** Fuzz streams' ids: the fuzz broadcasters publish on these, never on the good stream. */
export const FUZZ_STREAMS = ["fz-0", "fz-1", "fz-2", "fz-3"];

/**
 * A pool of fuzz WebSockets per target. A socket the server closed is replaced on next use; a
 * `publish-fresh` socket is replaced after every message (each message is the first it sends).
 */
export class WsPool {
  private readonly sockets = new Map<string, PooledSocket>();
  /** Close codes seen, by code, for the summary. */
  readonly closes = new Map<number, number>();
  private slot = 0;
  /** Each socket slot's token (`Authorization: Bearer`), minted once. */
  private readonly tokens = new Map<string, string>();
  /** Per live-broadcaster slot, how many times its stream id was changed (see {@link suspects}). */
  private readonly generation = new Map<number, number>();
  /**
   * Stream ids whose `stream.start` was refused with BROADCASTER_EXISTS although this pool's own
   * broadcaster of it had closed: the slot moves to a new id, and the checks find out whether the
   * old one is stuck (a broadcaster the stream still counts on air with no connection) or was a race.
   */
  readonly suspects = new Set<string>();

  /**
   * @param spareLive send text messages over 64 KiB meant for a live broadcaster to a fresh one
   *   instead: such a message leaves its stream with a ghost broadcaster for ever (and ~0.5 MiB of
   *   the node's memory), which a run that measures memory for everything else may avoid.
   */
  constructor(private readonly url: string, private readonly goodStream: string, private readonly spareLive = false, private readonly size = 4) {}

  /** Sends one message to a socket of `target`; resolves once it is written (or the socket could not open). */
  async send(target: WsTarget, data: Buffer | string, binary: boolean): Promise<Outcome> {
    if (this.spareLive && target === "publish-live" && !binary && Buffer.byteLength(data) > 64 * 1024) target = "publish-fresh";
    this.slot = (this.slot + 1) % this.size;
    const key = `${target}:${this.slot}`;
    let s = this.sockets.get(key);
    if (!s || s.ws.readyState > WebSocket.OPEN) {
      s = this.open(target, this.slot);
      this.sockets.set(key, s);
    }
    if (!(await s.open) || s.ws.readyState !== WebSocket.OPEN) {
      if (this.sockets.get(key) === s) this.sockets.delete(key);
      if (target === "publish-live" && s.closed?.includes("BROADCASTER_EXISTS") && this.suspects.size < 1000) {
        this.suspects.add(this.liveStream(this.slot));
        this.generation.set(this.slot, (this.generation.get(this.slot) ?? 0) + 1);
      }
      return `ws ${target} not open (${s.closed ?? "timeout"})`;
    }
    const ws = s.ws;
    await new Promise<void>((resolve) => ws.send(data, { binary }, () => resolve()));
    if (target === "publish-fresh") {
      this.sockets.delete(key);
      setTimeout(() => ws.terminate(), 200); // long enough for an answer to be sent
    }
    return `ws ${target}`;
  }

  /** The stream id of live-broadcaster slot `slot`: `fz-<slot>`, then `fz-<slot>-g<n>` after n moves. */
  private liveStream(slot: number): string {
    const g = this.generation.get(slot) ?? 0;
    const base = FUZZ_STREAMS[slot % FUZZ_STREAMS.length]!;
    return g === 0 ? base : `${base}-g${g}`;
  }

  private open(target: WsTarget, slot: number): PooledSocket {
    const stream = FUZZ_STREAMS[slot % FUZZ_STREAMS.length]!;
    const path = target === "listen" ? `/ws/listen/${slot === 0 ? this.goodStream : stream}` : `/ws/publish/${target === "publish-fresh" ? `${stream}-f${slot}` : this.liveStream(slot)}`;
    const key = `${target}-${slot}`;
    let token = this.tokens.get(key);
    if (!token) this.tokens.set(key, (token = poolToken(key)));
    const ws = new WebSocket(`${this.url}${path}`, { localAddress: fuzzAddress(), maxPayload: 8 * 1024 * 1024, handshakeTimeout: 5000, headers: { Authorization: `Bearer ${token}` } });
    ws.on("error", () => {}); // errors end in 'close'; nothing to do
    ws.on("close", (code, reason) => {
      this.closes.set(code, (this.closes.get(code) ?? 0) + 1);
      pooled.closed = `${code} ${reason.toString().slice(0, 40)}`.trim();
    });
    const open = new Promise<boolean>((resolve) => {
      ws.once("open", () => {
        if (target !== "publish-live") return resolve(true);
        ws.send(JSON.stringify({ type: "stream.start", format: "opus", title: "fuzz" }));
        const timer = setTimeout(() => resolve(false), 5000);
        ws.on("message", (d, isBinary) => {
          if (!isBinary && d.toString().includes('"stream.started"')) {
            clearTimeout(timer);
            resolve(true);
          }
        });
        ws.once("close", () => (clearTimeout(timer), resolve(false)));
      });
      ws.once("close", () => resolve(false));
    });
    const pooled: PooledSocket = { ws, open, closed: null };
    return pooled;
  }

  /** Closes every fuzz socket at once (no close handshake). */
  closeAll(): void {
    for (const s of this.sockets.values()) s.ws.terminate();
    this.sockets.clear();
  }
}

/**
 * Writes `chunks` to a new TCP connection to 127.0.0.1:`port`, waits for the first line of an
 * answer (or the server's close, or `timeoutMs`), then holds it `holdMs` more and closes it.
 * Resolves with the HTTP status line's code, `closed`, or `timeout`.
 */
export function rawExchange(port: number, chunks: Buffer[], opts: { timeoutMs: number; holdMs?: number; partial?: number | null; after?: Buffer }): Promise<Outcome> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: "127.0.0.1", localAddress: fuzzAddress() });
    let answer = "";
    let done = false;
    const finish = (outcome: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const hold = opts.holdMs ?? 0;
      if (hold > 0 && !sock.destroyed) setTimeout(() => sock.destroy(), hold);
      else sock.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish(opts.partial != null ? "held" : "timeout"), opts.timeoutMs);
    sock.on("error", () => finish("error"));
    sock.on("close", () => finish(answer ? statusOf(answer) : "closed"));
    sock.on("data", (d: Buffer) => {
      answer += d.toString("latin1");
      if (!answer.includes("\r\n")) return;
      const status = statusOf(answer);
      if (status === "101" && opts.after && opts.after.length > 0) sock.write(opts.after);
      finish(status);
    });
    sock.on("connect", () => {
      if (opts.partial != null) {
        const all = Buffer.concat(chunks);
        sock.write(all.subarray(0, opts.partial)); // slowloris: the rest never comes
        return;
      }
      for (const c of chunks) if (c.length > 0) sock.write(c);
    });
  });
}

/**
 * An upgrade that carries a token (bench/fuzz/gen-auth.ts), on a new TCP connection: writes the
 * request; `abort` closes the connection `abortMs` later, whatever came back (the server may still
 * be checking the token); else, after a 101, sends `message` (if any) as a masked text frame and
 * reads the server's frames for up to 1 s. Resolves with the status, the first three kinds of text
 * message (types, with error codes) and the close code, e.g. `101 error:UNAUTHORIZED close 4401`.
 */
export function authUpgrade(port: number, input: AuthInput): Promise<Outcome> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: "127.0.0.1", localAddress: fuzzAddress() });
    let head = "";
    let status: string | null = null;
    let frames: Buffer = Buffer.alloc(0);
    const seen: string[] = [];
    let done = false;
    const finish = (end: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve([status ?? end, seen.join(","), status === "101" ? end : ""].filter(Boolean).join(" "));
    };
    const timer = setTimeout(() => finish(status === null ? "timeout" : "open"), 1000);
    sock.on("error", () => finish("error"));
    sock.on("close", () => finish("closed"));
    sock.on("connect", () => {
      sock.write(Buffer.from(input.request, "latin1"));
      if (input.then === "abort") setTimeout(() => finish("aborted"), input.abortMs);
    });
    sock.on("data", (d: Buffer) => {
      if (status === null) {
        head += d.toString("latin1");
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        status = /^HTTP\/\d\.\d (\d{3})/.exec(head)?.[1] ?? "garbled";
        if (status !== "101") return finish("");
        frames = Buffer.from(head.slice(end + 4), "latin1");
        if (input.then !== "abort" && input.message) sock.write(clientFrame(1, Buffer.from(input.message)));
      } else frames = Buffer.concat([frames, d]);
      const read = readFrames(frames);
      frames = read.rest;
      for (const f of read.frames) {
        if (f.opcode === 8) return finish(`close ${f.payload.length >= 2 ? f.payload.readUInt16BE(0) : "-"}`);
        if (f.opcode !== 1) continue;
        const m = /"type":"([^"]{1,40})"(?:.*"code":"([A-Z_]{1,40})")?/.exec(f.payload.toString());
        const what = m ? (m[2] ? `${m[1]}:${m[2]}` : m[1]!) : "text";
        if (!seen.includes(what) && seen.length < 3) seen.push(what); // the first three kinds of message, so outcomes stay few
        if (m?.[1] === "stream.started") {
          sock.write(clientFrame(1, Buffer.from(JSON.stringify({ type: "stream.stop" }))));
          return finish("started");
        }
      }
    });
  });
}

/** `404` from `HTTP/1.1 404 Not Found…`, else `garbled`. */
function statusOf(answer: string): string {
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(answer);
  return m ? m[1]! : "garbled";
}

/** The senders for one node: `send(input)` resolves with its outcome. */
export class Senders {
  readonly pool: WsPool;

  constructor(private readonly port: number, goodStream: string, spareLive = false) {
    this.pool = new WsPool(`ws://127.0.0.1:${port}`, goodStream, spareLive);
  }

  send(input: FuzzInput): Promise<Outcome> {
    switch (input.kind) {
      case "binary":
        return this.pool.send(input.target, materialize(input.data), true);
      case "json":
        return this.pool.send(input.target, materializeText(input.text), false);
      case "ping":
        return this.pool.send("listen", input.text, false);
      case "http":
        return rawExchange(this.port, [Buffer.from(input.head, "latin1"), materialize(input.body)], { timeoutMs: 500 }).then((o) => `http ${o}`);
      case "upgrade":
        return this.upgrade(input);
      case "auth":
        return input.door === "refresh" ? this.pool.send(input.target, input.message, false) : authUpgrade(this.port, input).then((o) => `auth ${o}`);
    }
  }

  private upgrade(input: UpgradeInput): Promise<Outcome> {
    const request = Buffer.from(input.request, "latin1");
    return rawExchange(this.port, [request], {
      timeoutMs: input.partialBytes != null ? input.holdMs : 1500,
      holdMs: input.partialBytes != null ? 0 : 20,
      partial: input.partialBytes,
      after: Buffer.from(input.after),
    }).then((o) => `upgrade ${o}`);
  }

  close(): void {
    this.pool.closeAll();
  }
}
