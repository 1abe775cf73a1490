/**
 * Raw protocol clients for tests that speak the wire format directly (docs/protocol.md), as an
 * independent client would: a broadcaster socket that collects every text message (each must be
 * JSON), synthetic Opus frames, and a Prometheus metric reader.
 */
import WebSocket from "ws";
import { encodeAudioData } from "../../media/wire";
import type { ServerMessage } from "../../media/wire/control";
import { testToken } from "./auth";
import type { NodeProcess } from "./node-process";

export interface RawSocket {
  ws: WebSocket;
  /** Every text message received, parsed (JSON.parse throws on one that is not JSON). */
  texts: ServerMessage[];
  /** Resolves with the close code. */
  closed: Promise<number>;
  /** Errors the socket reported after it opened (e.g. a frame `ws` found invalid: it then closes with 1006). */
  errors: string[];
}

/**
 * Opens a socket to `path` (e.g. `/ws/publish/x`) from `localAddress` (default 127.0.0.1), with
 * `token` as `Authorization: Bearer` when given, and collects its text messages.
 */
export async function rawSocket(url: string, path: string, localAddress?: string, token?: string): Promise<RawSocket> {
  const ws = new WebSocket(`${url}${path}`, { ...(localAddress ? { localAddress } : {}), ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
  const texts: ServerMessage[] = [];
  ws.on("message", (d, isBinary) => {
    if (!isBinary) texts.push(JSON.parse(d.toString()) as ServerMessage);
  });
  const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
  await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
  const errors: string[] = [];
  ws.on("error", (err) => errors.push(err.message));
  return { ws, texts, closed, errors };
}

/** A broadcaster socket on `/ws/publish/:streamId`, with a test token for it unless `token` is given ("" for none). */
export async function rawBroadcaster(url: string, streamId: string, token?: string): Promise<RawSocket> {
  return rawSocket(url, `/ws/publish/${streamId}`, undefined, token ?? (await testToken("publish", [streamId])));
}

/** Sends `stream.start` (format opus unless given) and waits for `stream.started`. */
export async function goLive(b: RawSocket, start: Record<string, unknown> = {}): Promise<void> {
  b.ws.send(JSON.stringify({ type: "stream.start", format: "opus", ...start }));
  const until = Date.now() + 5000;
  while (!b.texts.some((t) => t.type === "stream.started")) {
    const error = b.texts.find((t) => t.type === "error");
    if (error || Date.now() > until) throw new Error(`stream.start refused: ${JSON.stringify(error ?? "timeout")}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** TOC byte 0xfc: CELT fullband, 20 ms, stereo, one frame (RFC 6716 §3.1): a 20 ms Opus packet. */
const OPUS_20MS = Uint8Array.of(0xfc, 0xff, 0xfe);

/** audio.data message number `seq` carrying a 20 ms Opus packet. */
export function opusFrame(seq: number): Uint8Array {
  return encodeAudioData({ rendition: 0, flags: 0, seq, mediaTime: seq * 960, duration: 960, packet: OPUS_20MS });
}

/** Sends one 20 ms frame every 20 ms (real time) until the returned function is called. */
export function sendInRealTime(b: RawSocket): () => void {
  let seq = 0;
  const timer = setInterval(() => {
    if (b.ws.readyState === WebSocket.OPEN) b.ws.send(opusFrame(seq++));
  }, 20);
  return () => clearInterval(timer);
}

/** Sum of a Prometheus metric's samples (all label sets) at the node's /metrics. */
export async function metric(node: NodeProcess, name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`${node.http}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(`${name}${labels}`) && !line.startsWith("#")) sum += Number(line.split(" ").pop());
  return sum;
}
