/**
 * Icecast with real peers on a real node (ICECAST_PORT=0, MAX_BACKPRESSURE_BYTES=16384):
 * liquidsoap's `output.icecast` (SOURCE, MP3, as a station runs it) is the source, with a
 * metadata update (liquidsoap sends it by /admin/metadata); a WebSocket listener hears the
 * recording and gets the update as stream.metadata; Chromium's `<audio>` plays `/live/<id>.ogg`
 * from the Icecast port on a page of the main port (cross-origin: `crossorigin="anonymous"` and
 * the answer's `Access-Control-Allow-Origin: *` let WebAudio read it) audibly; a stalled HTTP
 * listener is dropped and counted while another HTTP listener and the WebSocket listener miss
 * nothing.
 *
 * The stalled listener is a python3 socket (python3 comes with yamllint, which .ci/run installs):
 * Node cannot set SO_RCVBUF or TCP_MAXSEG on a TCP socket, and with loopback's defaults the
 * kernel buffers of a socket that stops reading hold over a megabyte (a minute of this stream)
 * before the server queues anything. A 536-byte MSS keeps the server's send buffer small, so
 * its queue passes the node's 16 KiB limit within seconds.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Listener } from "../../bin/commands/listen";
import type { AudioFrame } from "../../media/wire";
import { bestAlignment, decodeFileWithFfmpeg, decodeOpusPackets } from "../support/audio-match";
import { testToken } from "../support/auth";
import { launchChromium, waitForValue, type Browser } from "../support/browser";
import { openListeners } from "../support/broadcast";
import { icecastPortOf } from "../support/icecast";
import { MEDIA, sleep, startNodeProcess, stopChild, waitFor, type NodeProcess } from "../support/node-process";
import { metric } from "../support/raw-socket";

const STREAM = "liquid";
/** What liquidsoap's update sends as `song`: "<artist> - <title>". */
const SONG = "Liq Band - Liquid Tune ü";

/** A liquidsoap script: the recording, in real time, to the Icecast port as MP3; new metadata after 3 s. */
function liquidsoapScript(port: number, password: string): string {
  return `
settings.init.allow_root.set(true)
settings.log.stdout.set(true)
settings.log.file.set(false)
settings.log.level.set(3)
s = insert_metadata(single(${JSON.stringify(path.join(MEDIA, "machine-wars.mp3"))}))
thread.run(delay=3., fun () -> s.insert_metadata([("artist", "Liq Band"), ("title", "Liquid Tune ü")]))
output.icecast(%mp3(bitrate=128), host="127.0.0.1", port=${port}, password=${JSON.stringify(password)},
  mount="/${STREAM}.mp3", name="Liquid Radio", genre="test", fallible=true, mksafe(s))
`;
}

/** A client that sends its request, then never reads: 4 KiB receive buffer, 536-byte MSS (see the file's comment). */
const STALLED_PY = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET %s HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n" % sys.argv[2]).encode())
print("sent", flush=True)
time.sleep(60)
`;

/**
 * An HTTP listener reading an Ogg stream: counts pages and the gaps in their sequence numbers
 * after the two header pages (the live pages continue the stream's numbering).
 */
class OggReader {
  pages = 0;
  gaps = 0;
  private lastSeq = -1;
  private buf = Buffer.alloc(0);
  private readonly ac = new AbortController();
  readonly done: Promise<void>;

  constructor(url: string) {
    this.done = (async () => {
      const res = await fetch(url, { signal: this.ac.signal });
      assert.equal(res.status, 200);
      const body = res.body!.getReader();
      for (;;) {
        const r = await body.read().catch(() => ({ done: true as const, value: undefined }));
        if (r.done || !r.value) return;
        this.push(Buffer.from(r.value));
      }
    })();
  }

  private push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length < 27) return;
      assert.equal(this.buf.toString("latin1", 0, 4), "OggS", "pages follow each other");
      const segments = this.buf[26]!;
      if (this.buf.length < 27 + segments) return;
      let size = 27 + segments;
      for (let i = 0; i < segments; i++) size += this.buf[27 + i]!;
      if (this.buf.length < size) return;
      const seq = this.buf.readUInt32LE(18);
      if (this.pages >= 3 && seq !== this.lastSeq + 1) this.gaps++;
      this.lastSeq = seq;
      this.pages++;
      this.buf = this.buf.subarray(size);
    }
  }

  close(): Promise<void> {
    this.ac.abort();
    return this.done;
  }
}

describe("icecast: real peers (liquidsoap source, Chromium <audio>, a stalled HTTP listener)", function () {
  this.timeout(60_000);
  let node: NodeProcess;
  let port: number;
  let token: string;
  let liquidsoap: ChildProcess;
  let listener: Listener;
  const packets: Uint8Array[] = [];
  let tmp: string;
  let lqLog = "";
  let browser: Browser | null = null;

  before(async () => {
    node = await startNodeProcess(["--log-format", "json"], { ICECAST_PORT: "0", MAX_BACKPRESSURE_BYTES: "16384" });
    port = icecastPortOf(node);
    token = await testToken("publish", [STREAM]);
    [listener] = (await openListeners(node.url, STREAM, 1)) as [Listener];
    listener.onFrame = (frame: AudioFrame) => packets.push(frame.packet.slice());
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "veza-liquidsoap-"));
    fs.writeFileSync(path.join(tmp, "station.liq"), liquidsoapScript(port, token));
    liquidsoap = spawn("liquidsoap", [path.join(tmp, "station.liq")], { cwd: tmp, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (d: Buffer) => (lqLog = (lqLog + d.toString()).slice(-8000));
    liquidsoap.stdout!.on("data", keep);
    liquidsoap.stderr!.on("data", keep);
  });
  after(async () => {
    listener?.close();
    await browser?.close();
    if (liquidsoap) await stopChild(liquidsoap, 2000);
    await node?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("liquidsoap output.icecast (SOURCE, MP3): a WebSocket listener hears the recording and gets liquidsoap's metadata update as stream.metadata", async () => {
    await waitFor(() => packets.length >= 200, 20_000, `4 s of Opus frames from liquidsoap (its log: ${lqLog.slice(-1500)})`);
    assert.ok(node.output().includes('"method":"SOURCE"'), "liquidsoap came by SOURCE");
    const info = (await (await fetch(`${node.http}/api/streams/${STREAM}`)).json()) as { state: string; format: string; metadata: Record<string, string> };
    assert.equal(info.state, "live");
    assert.equal(info.format, "mp3");
    assert.equal(info.metadata.name, "Liquid Radio", "name= arrived as ice-name");

    await waitFor(() => listener.last("stream.metadata")?.title === SONG, 10_000, `stream.metadata "${SONG}" (last: ${JSON.stringify(listener.last("stream.metadata"))})`);
    const status = (await (await fetch(`http://127.0.0.1:${port}/status-json.xsl`)).json()) as { icestats: { source: Record<string, unknown> } };
    assert.equal(status.icestats.source.title, SONG);

    const received = await decodeOpusPackets(packets.slice(0, 200), 2);
    const recording = await decodeFileWithFfmpeg(path.join(MEDIA, "machine-wars.mp3"), { seconds: 20 });
    const match = bestAlignment(received.subarray(4800), recording);
    console.log(`      liquidsoap → WebSocket: ${packets.length} frames, correlation ${match.correlation.toFixed(3)} at ${(match.lagSamples / 48).toFixed(0)} ms into the recording`);
    assert.ok(match.correlation >= 0.9, `the listener hears the recording: r = ${match.correlation.toFixed(3)}`);
    assert.equal(listener.stats.seqGaps, 0);
  });

  it("Chromium <audio crossorigin> plays /live/liquid.ogg from the Icecast port on a page of the main port: time advances, WebAudio hears sound", async () => {
    const url = `http://127.0.0.1:${port}/live/${STREAM}.ogg`;
    const head = await fetch(url, { method: "HEAD" });
    assert.equal(head.headers.get("access-control-allow-origin"), "*", "CORS: a page of another origin may read the audio (WebAudio)");
    const main = await fetch(`${node.http}/live/${STREAM}.ogg`, { method: "HEAD" });
    assert.equal(main.headers.get("access-control-allow-origin"), "*");

    browser = await launchChromium();
    const page = await browser.newPage();
    // a page of the main port without the pages' CSP (media-src 'self' would refuse the Icecast port)
    await page.goto(`${node.http}/health`);
    // plain JavaScript in the page: the Node tsconfig has no DOM types
    await page.evaluate(`(() => {
      const audio = document.createElement("audio");
      audio.crossOrigin = "anonymous";
      audio.src = ${JSON.stringify(url)};
      document.body.append(audio);
      const ctx = new AudioContext();
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 2048;
      ctx.createMediaElementSource(audio).connect(analyser);
      analyser.connect(ctx.destination);
      const samples = new Float32Array(analyser.fftSize);
      window.levels = { maxRms: 0, reads: 0, errors: [] };
      audio.addEventListener("error", () => window.levels.errors.push(String(audio.error && audio.error.message)));
      setInterval(() => {
        analyser.getFloatTimeDomainData(samples);
        let sum = 0;
        for (const v of samples) sum += v * v;
        const rms = Math.sqrt(sum / samples.length);
        window.levels.reads++;
        if (rms > window.levels.maxRms) window.levels.maxRms = rms;
      }, 50);
      window.audioState = () => ({
        currentTime: audio.currentTime, readyState: audio.readyState, paused: audio.paused,
        played: audio.played.length ? audio.played.end(audio.played.length - 1) - audio.played.start(0) : 0,
        ctx: ctx.state, maxRms: window.levels.maxRms, errors: window.levels.errors,
      });
      return audio.play();
    })()`);
    type State = { currentTime: number; readyState: number; paused: boolean; played: number; ctx: string; maxRms: number; errors: string[] };
    const read = () => page.evaluate("window.audioState()") as Promise<State>;
    const first = await waitForValue(read, (s) => s.currentTime > 0.5 || s.errors.length > 0, 15_000, "playback started");
    assert.deepEqual(first.errors, []);
    const later = await waitForValue(read, (s) => s.currentTime >= first.currentTime + 2, 10_000, "2 s more of playback");
    console.log(`      Chromium <audio>: currentTime ${later.currentTime.toFixed(2)} s, readyState ${later.readyState}, played ${later.played.toFixed(2)} s, WebAudio max RMS ${later.maxRms.toFixed(3)}`);
    assert.equal(later.paused, false);
    assert.ok(later.readyState >= 3, `readyState ${later.readyState}: data for the current position and beyond`);
    assert.ok(later.played >= 2, `played ranges cover ${later.played.toFixed(2)} s`);
    assert.equal(later.ctx, "running");
    // a cross-origin answer without CORS would reach WebAudio as zeros
    assert.ok(later.maxRms > 0.01, `audible: RMS ${later.maxRms.toFixed(4)}`);
    // Chromium asks /health's origin for /favicon.ico: 404, logged as "Failed to load resource"
    assert.deepEqual(browser.errors.filter((e) => !/Failed to load resource: .* 404/.test(e)), []);
    await browser.close();
    browser = null;
  });

  it("a stalled HTTP listener is dropped and counted in veza_listeners_dropped_total; another HTTP listener and the WebSocket listener miss nothing", async () => {
    const reader = new OggReader(`http://127.0.0.1:${port}/live/${STREAM}.ogg`);
    await waitFor(() => reader.pages >= 5, 5000, "the reading HTTP listener gets pages");
    const droppedBefore = await metric(node, "veza_listeners_dropped_total");
    const framesBefore = listener.stats.frames;
    const stalled = spawn("python3", ["-c", STALLED_PY, String(node.port), `/live/${STREAM}.ogg`], { stdio: ["ignore", "pipe", "pipe"] });
    let stalledOut = "";
    stalled.stdout!.on("data", (d: Buffer) => (stalledOut += d.toString()));
    stalled.stderr!.on("data", (d: Buffer) => (stalledOut += d.toString()));
    const t0 = Date.now();
    try {
      await waitFor(async () => (await metric(node, "veza_listeners_dropped_total")) > droppedBefore, 20_000, `the stalled listener dropped (python3: ${stalledOut})`);
      const droppedAfterMs = Date.now() - t0;
      const log = node.logs.find((l) => l.msg === "dropping slow http listener");
      assert.ok(log, "the drop is logged");
      assert.equal(log.streamId, STREAM);
      // the others go on: a second of audio more, nothing missing
      const pages = reader.pages;
      const frames = listener.stats.frames;
      await sleep(1000);
      console.log(`      stalled listener dropped after ${droppedAfterMs} ms (queued ${String(log.queued)} bytes); meanwhile the reader got ${reader.pages} pages, the WebSocket listener ${listener.stats.frames - framesBefore} frames`);
      assert.ok(reader.pages >= pages + 5, `the reading HTTP listener goes on (${reader.pages - pages} pages in 1 s)`);
      assert.equal(reader.gaps, 0, "no Ogg page missing");
      assert.ok(listener.stats.frames >= frames + 40, `the WebSocket listener goes on (${listener.stats.frames - frames} frames in 1 s)`);
      assert.equal(listener.stats.seqGaps, 0, "no frame missing");
      assert.equal(listener.stats.closeCode, null, "the WebSocket listener is still connected");
      assert.equal(await metric(node, "veza_listeners_dropped_total"), droppedBefore + 1, "only the stalled listener was dropped");
    } finally {
      await stopChild(stalled, 1000);
      await reader.close();
    }
  });
});
