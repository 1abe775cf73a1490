/**
 * Radio mode for WebSocket listeners (`/ws/listen/:id?batch=<ms>`, docs/protocol.md): on a real
 * node with a raw broadcaster sending 20 ms frames in real time, a listener batched by 100 ms gets
 * every frame in order, and the text messages (a metadata update) at the same place among the
 * frames as an unbatched listener of the same stream, which is unaffected (every frame, each in its
 * own write); the batched one gets several frames per socket read (one write per period). A
 * listener joining a batch topic that holds frames gets none published before it joined. Bad
 * `batch` values are refused at the upgrade (400 BAD_REQUEST). No timing is asserted: counts and
 * order only; the figures are printed.
 */
import assert from "node:assert/strict";
import WebSocket from "ws";
import { RawWsClient, type WsHandlers } from "../../bench/fanout/ws-client";
import { goLive, rawBroadcaster, sendInRealTime, type RawSocket } from "../support/raw-socket";
import { sleep, startNodeProcess, waitFor, type NodeProcess } from "../support/node-process";

const STREAM = "radio";

/** A listener on a raw socket that records each message in order and the socket read it came in. */
class Recorder implements WsHandlers {
  readonly client: RawWsClient;
  /** In order: a frame's seq, or a text message's type. */
  readonly log: Array<{ seq: number } | { type: string; title?: string }> = [];
  readonly seqs: number[] = [];
  /** Socket reads (times, ms) that carried at least one audio.data message. */
  readonly audioReads: number[] = [];
  opened = false;
  closedWith: number | null = null;

  constructor(port: number, query: string) {
    this.client = new RawWsClient(port, `/ws/listen/${STREAM}${query}`, this);
  }

  open(): void {
    this.opened = true;
  }

  text(buf: Buffer, start: number, end: number): void {
    const msg = JSON.parse(buf.toString("utf8", start, end)) as { type: string; title?: string };
    this.log.push(msg.type === "stream.metadata" ? { type: msg.type, title: msg.title } : { type: msg.type });
  }

  binary(buf: Buffer, start: number, _end: number, atMs: number): void {
    assert.equal(buf[start + 1], 0x01, "audio.data");
    const seq = buf.readUInt32BE(start + 4);
    this.seqs.push(seq);
    this.log.push({ seq });
    if (this.audioReads.at(-1) !== atMs) this.audioReads.push(atMs);
  }

  closed(code: number): void {
    this.closedWith = code;
  }

  /** The seq of the last frame before the text message of `type` (and `title`), or null. */
  seqBefore(type: string, title: string): number | null {
    let last: number | null = null;
    for (const m of this.log) {
      if ("seq" in m) last = m.seq;
      else if (m.type === type && m.title === title) return last;
    }
    return null;
  }
}

/** Checks that `seqs` follow each other by one. */
function assertContiguous(seqs: number[], who: string): void {
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1, `${who}: frame ${i} follows on (${seqs[i - 1]} → ${seqs[i]})`);
}

/** Writes per second and frames per write, for the log. */
function figures(r: Recorder): string {
  const gaps = r.audioReads.slice(1).map((t, i) => t - r.audioReads[i]!).sort((a, b) => a - b);
  const median = gaps[Math.floor(gaps.length / 2)] ?? 0;
  return `${r.seqs.length} frames in ${r.audioReads.length} reads (${(r.seqs.length / Math.max(1, r.audioReads.length)).toFixed(1)} frames per read, median ${median.toFixed(1)} ms between reads)`;
}

describe("radio mode: WebSocket listeners batched by ?batch=<ms>", function () {
  this.timeout(60_000);
  let node: NodeProcess;
  let broadcaster: RawSocket;
  let stopSending: () => void;
  const recorders: Recorder[] = [];

  before(async () => {
    node = await startNodeProcess(["--log-format", "json"]);
    broadcaster = await rawBroadcaster(node.url, STREAM);
    await goLive(broadcaster);
    stopSending = sendInRealTime(broadcaster);
  });
  after(async () => {
    stopSending?.();
    for (const r of recorders) r.client.destroy();
    broadcaster?.ws.close();
    await node?.stop();
  });

  const listen = async (query: string): Promise<Recorder> => {
    const r = new Recorder(node.port, query);
    recorders.push(r);
    await waitFor(() => r.opened || r.closedWith !== null, 5000, `listener ${query} open`);
    assert.ok(r.opened, `listener ${query} opened`);
    return r;
  };

  it("a batched listener gets every frame in order, metadata in the same place, in fewer writes; an unbatched one on the same stream is unaffected", async () => {
    const plain = await listen("");
    const batched = await listen("?batch=100");
    await waitFor(() => plain.seqs.length >= 50 && batched.seqs.length >= 50, 10_000, "a second of audio on both");
    broadcaster.ws.send(JSON.stringify({ type: "stream.metadata", title: "Now Playing 1" }));
    await sleep(2000);
    broadcaster.ws.send(JSON.stringify({ type: "stream.metadata", title: "Now Playing 2" }));
    await waitFor(() => batched.log.some((m) => "type" in m && m.title === "Now Playing 2"), 5000, "the second title on the batched listener");
    await sleep(500);

    assert.equal(batched.log[0] && "type" in batched.log[0] ? batched.log[0].type : null, "hello", "hello first");
    assertContiguous(plain.seqs, "unbatched");
    assertContiguous(batched.seqs, "batched");
    // the batched listener lags by at most a period: what it has, the unbatched one had too
    const lastBatched = batched.seqs.at(-1)!;
    assert.ok(plain.seqs.includes(lastBatched), "the batched frames are the stream's frames");
    for (const title of ["Now Playing 1", "Now Playing 2"]) {
      const p = plain.seqBefore("stream.metadata", title);
      const b = batched.seqBefore("stream.metadata", title);
      assert.ok(p !== null && b !== null, `${title} reached both`);
      assert.equal(b, p, `${title}: after the same frame on both listeners`);
    }
    console.log(`      unbatched: ${figures(plain)}`);
    console.log(`      batch=100: ${figures(batched)}`);
    // one write per period holds about 5 frames; allow for reads split or merged on a loaded machine
    assert.ok(batched.audioReads.length * 2 <= batched.seqs.length, `several frames per write (${figures(batched)})`);
    assert.equal(plain.closedWith, null);
    assert.equal(batched.closedWith, null);
  });

  it("listeners of several periods and a late joiner: each gets the frames from its join on, none twice, none missing", async () => {
    const b40 = await listen("?batch=40");
    const b1000 = await listen("?batch=1000");
    await sleep(500);
    // joins a topic that holds frames (up to 1 s of them): it gets none of those
    const late = await listen("?batch=1000");
    const firstAtJoin = b1000.seqs.length;
    await waitFor(() => late.seqs.length >= 100 && b40.seqs.length >= 100, 10_000, "2 s of audio on the late joiner");
    await sleep(1100);
    for (const [r, who] of [[b40, "batch=40"], [b1000, "batch=1000"], [late, "late batch=1000"]] as const) {
      assertContiguous(r.seqs, who);
      console.log(`      ${who}: ${figures(r)}`);
    }
    const lateFirst = late.seqs[0]!;
    const earlierIndex = b1000.seqs.indexOf(lateFirst);
    assert.ok(earlierIndex >= firstAtJoin, `the late joiner's first frame (${lateFirst}) came to the earlier listener after the late one joined`);
    // the two 1 s listeners share one topic: from the late one's first frame on, the same frames
    assert.deepEqual(late.seqs, b1000.seqs.slice(earlierIndex, earlierIndex + late.seqs.length));
  });

  it("a batch outside 20-1000 ms is refused at the upgrade with 400 BAD_REQUEST; batch=0 is none", async () => {
    for (const bad of ["5", "1001", "abc", "100.5", "-20"]) {
      const ws = new WebSocket(`${node.url}/ws/listen/${STREAM}?batch=${bad}`);
      const [status, body] = await new Promise<[number, string]>((resolve, reject) => {
        ws.once("open", () => reject(new Error(`batch=${bad} was accepted`)));
        ws.once("error", () => undefined);
        ws.once("unexpected-response", (_req, res) => {
          let text = "";
          res.on("data", (d: Buffer) => (text += d.toString()));
          res.on("end", () => resolve([res.statusCode ?? 0, text]));
        });
      });
      assert.equal(status, 400, `batch=${bad}`);
      assert.equal((JSON.parse(body) as { error: string }).error, "BAD_REQUEST", body);
    }
    const none = await listen("?batch=0");
    await waitFor(() => none.seqs.length >= 20, 5000, "frames with batch=0");
    assertContiguous(none.seqs, "batch=0");
  });
});
