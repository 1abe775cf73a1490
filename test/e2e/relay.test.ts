/**
 * `veza-stream relay` with real SRT peers: ffmpeg (libsrt) publishes MPEG-TS/AAC into the relay,
 * ffmpeg and srt-live-transmit read it from its listening output (fan-out) and the audio matches
 * the recording; through a lossy, jittery UDP forwarder (test/support/lossy-udp.ts) the loss and
 * jitter metrics move while SRT's retransmission recovers every packet within the latency (nothing
 * dropped, the audio still matches); a calling input whose publisher is killed and started again
 * reconnects (counted) and the output resumes; every log line is JSON without the passphrase or
 * the streamid; bad arguments exit 2 and an address in use exits 3.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import WebSocket from "ws";
import { bestAlignment, decodeFileWithFfmpeg } from "../support/audio-match";
import { lossyUdp } from "../support/lossy-udp";
import { freePort, MEDIA, ROOT, sleep, stopChild, waitFor } from "../support/node-process";
import { ffmpegSrtPublish, ffmpegSrtRead, freeUdpPort, SRT_FFMPEG, srtPeersMissing } from "../support/srt";
import { SrtListener, srtConnect } from "../../transports/srt/libsrt";

interface RelayProcess {
  proc: ChildProcess;
  http: string;
  lines: string[];
  exited: Promise<number | null>;
}

/** Starts `veza-stream relay <args>` with its HTTP on a free port; resolves once /health answers 200. */
async function startRelay(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RelayProcess> {
  const port = await freePort();
  const proc = spawn(process.execPath, [path.join(ROOT, "bin/veza-stream"), "relay", ...args, "--http-addr", `127.0.0.1:${port}`], { env: { ...process.env, LOG_LEVEL: "debug", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  readline.createInterface({ input: proc.stdout! }).on("line", (l) => lines.push(l));
  proc.stderr!.on("data", (d: Buffer) => lines.push(`stderr: ${d.toString()}`));
  const exited = new Promise<number | null>((r) => proc.on("exit", r));
  const http = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${http}/health`).catch(() => null))?.status === 200, 10_000, "the relay's /health");
  return { proc, http, lines, exited };
}

/** Runs the relay command to its exit; its code and stderr. */
function relayExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(ROOT, "bin/veza-stream"), "relay", ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("exit", (code) => resolve({ code, stderr }));
  });
}

/** A metric's value from a Prometheus text exposition, by name and label substring. */
async function metric(http: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  assert.ok(line, `${name}{${labels}} is exposed`);
  return Number(line.split(" ").pop());
}

describe("relay: veza-stream relay with real SRT peers", function () {
  this.timeout(90_000);
  const children: ChildProcess[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "veza-relay-"));
  let source: Float32Array;

  before(async () => {
    const missing = srtPeersMissing();
    assert.equal(missing, null, `${missing} (.ci/run installs it)`);
    source = await decodeFileWithFfmpeg(path.join(MEDIA, "awakening.ogg"), { seconds: 40 });
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => stopChild(c, 2000)));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** Reads `seconds` from an SRT URL and returns its correlation with the recording. */
  async function readAndMatch(url: string, seconds: number, name: string): Promise<number> {
    const wav = path.join(tmp, `${name}.wav`);
    const r = await ffmpegSrtRead(url, seconds, wav);
    assert.equal(r.code, 0, `ffmpeg read ${name}: ${r.stderr}`);
    const got = await decodeFileWithFfmpeg(wav, { seconds });
    return bestAlignment(got.subarray(0, 48_000 * (seconds - 1)), source).correlation;
  }

  it("ffmpeg → relay → ffmpeg and srt-live-transmit (fan-out): both hear the recording; /health, the five metrics, the stats feed, JSON logs without secrets", async () => {
    const [inPort, outPort] = [await freeUdpPort(), await freeUdpPort()];
    const passphrase = "relay-passphrase-0123";
    const relay = await startRelay([`srt://:${inPort}?passphrase=${passphrase}&latency=120`, `srt://:${outPort}`]);
    children.push(relay.proc);
    const health = (await (await fetch(`${relay.http}/health`)).json()) as { status: string; endpoints: unknown[] };
    assert.equal(health.status, "ok");
    assert.equal(health.endpoints.length, 2);
    const feed = new WebSocket(`${relay.http.replace("http", "ws")}/ws/stats`);
    const snapshots: Array<{ endpoints: Array<{ direction: string; bitrateKbps: number }> }> = [];
    feed.on("message", (d) => snapshots.push(JSON.parse(d.toString()) as (typeof snapshots)[number]));

    const pub = ffmpegSrtPublish("awakening.ogg", `srt://127.0.0.1:${inPort}?passphrase=${passphrase}&streamid=publish:field-1:reporter:secret-token-xyz`, "aac", 40);
    children.push(pub);
    await waitFor(async () => (await metric(relay.http, "relay_peers", 'direction="in"')) === 1, 10_000, "the publisher connected");
    // a second reader through srt-live-transmit, at the same time as ffmpeg
    const sltOut = path.join(tmp, "slt.ts");
    const slt = spawn("srt-live-transmit", ["-q", `srt://127.0.0.1:${outPort}`, `file://con`], { stdio: ["ignore", fs.openSync(sltOut, "w"), "ignore"] });
    children.push(slt);
    const r = await readAndMatch(`srt://127.0.0.1:${outPort}`, 6, "fanout-ffmpeg");
    await stopChild(slt, 1000);
    const sltWav = path.join(tmp, "slt.wav");
    await new Promise((res) => spawn(SRT_FFMPEG, ["-v", "error", "-i", sltOut, "-ac", "1", "-ar", "48000", "-y", sltWav]).on("exit", res));
    const sltAudio = await decodeFileWithFfmpeg(sltWav, { seconds: 5 });
    const r2 = bestAlignment(sltAudio.subarray(0, 48_000 * 4), source).correlation;
    console.log(`      relay fan-out: ffmpeg r = ${r.toFixed(3)}, srt-live-transmit r = ${r2.toFixed(3)} (${(sltAudio.length / 48_000).toFixed(1)} s)`);
    assert.ok(r >= 0.9 && r2 >= 0.9, `both readers hear the recording: ${r.toFixed(3)}, ${r2.toFixed(3)}`);

    for (const name of ["relay_peers", "relay_bitrate_kbps", "relay_reconnects_total", "relay_packets_lost_total", "relay_jitter_ms"]) await metric(relay.http, name, 'direction="in"');
    assert.ok((await metric(relay.http, "relay_bitrate_kbps", 'direction="in"')) > 100, "the input's bit rate");
    assert.match(await (await fetch(`${relay.http}/metrics`)).text(), /^process_cpu_seconds_total /m, "process metrics");
    assert.ok(snapshots.some((s) => s.endpoints.some((e) => e.direction === "out" && e.bitrateKbps > 100)), "the stats feed carries the output's bit rate");
    feed.close();

    relay.proc.kill("SIGTERM");
    assert.equal(await relay.exited, 0, "SIGTERM: exit 0");
    for (const line of relay.lines) {
      assert.doesNotThrow(() => JSON.parse(line), `a JSON log line: ${line}`);
      assert.ok(!line.includes(passphrase) && !line.includes("secret-token-xyz"), `no secret in: ${line}`);
    }
    assert.ok(relay.lines.some((l) => l.includes("srt publisher connected")));
  });

  it("through 5 % loss and 0-30 ms of jitter: the loss and jitter metrics move, retransmission recovers every packet, the audio still matches", async () => {
    const [inPort, outPort] = [await freeUdpPort(), await freeUdpPort()];
    const relay = await startRelay([`srt://:${inPort}?latency=300`, `srt://:${outPort}`]);
    children.push(relay.proc);
    const lossy = await lossyUdp(inPort, { loss: 0.05, jitterMs: 30 });
    try {
      children.push(ffmpegSrtPublish("awakening.ogg", `srt://127.0.0.1:${lossy.port}?latency=300000`, "aac", 40));
      await waitFor(async () => (await metric(relay.http, "relay_peers", 'direction="in"')) === 1, 10_000, "the publisher connected through the forwarder");
      const r = await readAndMatch(`srt://127.0.0.1:${outPort}`, 8, "lossy");
      const lost = await metric(relay.http, "relay_packets_lost_total", 'direction="in"');
      const jitter = await metric(relay.http, "relay_jitter_ms", 'direction="in"');
      const dropped = await metric(relay.http, "relay_packets_dropped_total", 'direction="in"');
      console.log(`      lossy path: forwarder dropped ${lossy.dropped} of ${lossy.dropped + lossy.forwarded}; relay lost ${lost}, dropped ${dropped}, jitter ${jitter.toFixed(1)} ms; r = ${r.toFixed(3)}`);
      assert.ok(lost > 0, "relay_packets_lost_total counts the losses");
      assert.ok(jitter > 2, `relay_jitter_ms moves: ${jitter}`);
      assert.equal(dropped, 0, "every lost packet was retransmitted within the latency");
      assert.ok(r >= 0.9, `r = ${r.toFixed(3)}`);
    } finally {
      lossy.close();
    }
  });

  it("a calling input reconnects after its publisher is killed and started again (counted), and the output resumes", async () => {
    const [pubPort, outPort] = [await freeUdpPort(), await freeUdpPort()];
    const relay = await startRelay([`srt://127.0.0.1:${pubPort}`, `srt://:${outPort}`]);
    children.push(relay.proc);
    const publisher = () => ffmpegSrtPublish("awakening.ogg", `srt://127.0.0.1:${pubPort}?mode=listener`, "aac", 40);
    let pub = publisher();
    children.push(pub);
    await waitFor(async () => (await metric(relay.http, "relay_peers", 'direction="in"')) === 1, 15_000, "the relay called the publisher");
    pub.kill("SIGKILL");
    await waitFor(async () => (await metric(relay.http, "relay_peers", 'direction="in"')) === 0, 15_000, "the relay saw the publisher go");
    await sleep(500);
    pub = publisher();
    children.push(pub);
    await waitFor(async () => (await metric(relay.http, "relay_reconnects_total", 'direction="in"')) >= 1, 15_000, "the reconnection counted");
    const r = await readAndMatch(`srt://127.0.0.1:${outPort}`, 5, "resumed");
    console.log(`      after the publisher's restart: reconnects ${await metric(relay.http, "relay_reconnects_total", 'direction="in"')}, r = ${r.toFixed(3)}`);
    assert.ok(r >= 0.9, `the output resumed: r = ${r.toFixed(3)}`);
  });

  it("RIST → RIST: ristsender (rist-tools) through 5 % loss into the relay, ffmpeg (librist) reads its listening output; the audio matches, losses recovered", async () => {
    // RIST main profile: one UDP port each (simple uses the port and port+1)
    const [udpIn, inPort, outPort] = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
    const relay = await startRelay([`rist://@127.0.0.1:${inPort}?buffer=400`, `rist://@127.0.0.1:${outPort}`]);
    children.push(relay.proc);
    const lossy = await lossyUdp(inPort, { loss: 0.05, jitterMs: 0 });
    try {
      const sender = spawn("ristsender", ["-i", `udp://127.0.0.1:${udpIn}`, "-o", `rist://127.0.0.1:${lossy.port}?buffer=400`, "-p", "1", "-v", "3", "-S", "0"], { stdio: "ignore" });
      children.push(sender);
      await sleep(300);
      children.push(spawn(SRT_FFMPEG, ["-hide_banner", "-loglevel", "error", "-re", "-t", "40", "-i", path.join(MEDIA, "awakening.ogg"), "-vn", "-c:a", "aac", "-b:a", "128k", "-f", "mpegts", `udp://127.0.0.1:${udpIn}?pkt_size=1316`], { stdio: "ignore" }));
      await waitFor(async () => (await metric(relay.http, "relay_peers", 'direction="in"')) === 1, 10_000, "ristsender connected");
      const wav = path.join(tmp, "rist.wav");
      const r = await ffmpegSrtRead(`rist://127.0.0.1:${outPort}`, 6, wav);
      assert.equal(r.code, 0, `ffmpeg rist read: ${r.stderr}`);
      const got = await decodeFileWithFfmpeg(wav, { seconds: 6 });
      const corr = bestAlignment(got.subarray(0, 48_000 * 5), source).correlation;
      // librist reports once a second, per interval: wait for the interval that saw a loss
      await waitFor(async () => (await metric(relay.http, "relay_packets_lost_total", 'direction="in"')) > 0, 5000, "a loss in librist's statistics");
      const lost = await metric(relay.http, "relay_packets_lost_total", 'direction="in"');
      const dropped = await metric(relay.http, "relay_packets_dropped_total", 'direction="in"');
      const jitter = await metric(relay.http, "relay_jitter_ms", 'direction="in"');
      console.log(`      RIST: forwarder dropped ${lossy.dropped} of ${lossy.dropped + lossy.forwarded}; relay found ${lost} missing, ${dropped} lost for good, jitter ${jitter.toFixed(2)} ms; r = ${corr.toFixed(3)}`);
      assert.ok(corr >= 0.9, `r = ${corr.toFixed(3)}`);
      assert.ok(lost > 0, "relay_packets_lost_total counts what librist found missing");
      assert.equal(dropped, 0, "librist recovered every packet within its buffer");
    } finally {
      lossy.close();
    }
  });

  it("a rendezvous output meets srt-live-transmit in rendezvous mode; the reader hears the recording", async () => {
    const [inPort, relayLocal, peerLocal] = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
    const relay = await startRelay([`srt://:${inPort}`, `srt://127.0.0.1:${peerLocal}?mode=rendezvous&port=${relayLocal}`]);
    children.push(relay.proc);
    children.push(ffmpegSrtPublish("awakening.ogg", `srt://127.0.0.1:${inPort}`, "aac", 40));
    const out = path.join(tmp, "rendezvous.ts");
    const slt = spawn("srt-live-transmit", ["-q", `srt://127.0.0.1:${relayLocal}?mode=rendezvous&port=${peerLocal}`, "file://con"], { stdio: ["ignore", fs.openSync(out, "w"), "ignore"] });
    children.push(slt);
    await waitFor(async () => (await metric(relay.http, "relay_peers", 'direction="out"')) === 1, 15_000, "the rendezvous met");
    await sleep(5000);
    await stopChild(slt, 1000);
    const wav = path.join(tmp, "rendezvous.wav");
    await new Promise((res) => spawn(SRT_FFMPEG, ["-v", "error", "-i", out, "-ac", "1", "-ar", "48000", "-y", wav]).on("exit", res));
    const got = await decodeFileWithFfmpeg(wav, { seconds: 5 });
    const r = bestAlignment(got.subarray(0, 48_000 * 3), source).correlation;
    console.log(`      rendezvous output → srt-live-transmit: ${(got.length / 48_000).toFixed(1)} s, r = ${r.toFixed(3)}`);
    assert.ok(r >= 0.9, `r = ${r.toFixed(3)}`);
  });

  it("--buffer-ms 300 holds each packet 300 ms after its send time: probe packets arrive that much later than without it", async () => {
    const latencyP50 = async (bufferMs: number): Promise<number> => {
      const [inPort, outPort] = [await freeUdpPort(), await freeUdpPort()];
      const received: number[] = [];
      const reader = SrtListener.listen("127.0.0.1", outPort, { latencyMs: 120 });
      reader.onAccept = (conn) => (conn.onData = (packets) => packets.forEach((p) => received.push(performance.now() - p.readDoubleBE(0))));
      const relay = await startRelay([`srt://:${inPort}?latency=120`, `srt://127.0.0.1:${outPort}?latency=120`, "--buffer-ms", String(bufferMs)]);
      children.push(relay.proc);
      const sender = srtConnect("127.0.0.1", inPort, { latencyMs: 120 });
      await new Promise<void>((resolve) => (sender.onConnect = resolve));
      await waitFor(async () => (await metric(relay.http, "relay_peers", 'direction="out"')) === 1, 10_000, "the relay's output connected");
      const packet = Buffer.alloc(1316);
      for (let i = 0; i < 300; i++) {
        packet.writeDoubleBE(performance.now(), 0);
        sender.send(packet);
        await sleep(5);
      }
      await sleep(bufferMs + 600);
      sender.close();
      reader.close();
      await stopChild(relay.proc, 2000);
      assert.ok(received.length >= 290, `${received.length} of 300 probe packets arrived`);
      return received.sort((x, y) => x - y)[Math.floor(received.length / 2)]!;
    };
    const plain = await latencyP50(0);
    const buffered = await latencyP50(300);
    console.log(`      probe latency p50: ${plain.toFixed(1)} ms without the buffer, ${buffered.toFixed(1)} ms with --buffer-ms 300`);
    // without: the receiver's SRT latency; with: the buffer on top (± scheduling)
    assert.ok(plain >= 110 && plain < 200, `without the buffer: ${plain} ms`);
    assert.ok(buffered - plain >= 270 && buffered - plain <= 380, `the buffer adds ${(buffered - plain).toFixed(1)} ms`);
  });

  it("bad arguments exit 2, an address in use exits 3, each with one line saying why", async () => {
    const bad = [
      ["srt://:9000"],
      ["srt://:9000", "rist://127.0.0.1:9001"],
      ["rist://@:9000?profile=advanced", "rist://127.0.0.1:9002"],
      ["rist://9000", "rist://127.0.0.1:9002"],
      ["udp://:9000", "udp://:9001"],
      ["srt://:9000?latency=abc", "srt://:9001"],
      ["srt://:9000?passphrase=short", "srt://:9001"],
      ["srt://:9000?bogus=1", "srt://:9001"],
      ["srt://:9000", "srt://:9001", "--buffer-ms", "-5"],
      ["srt://:9000", "srt://:9001", "--http-addr", "nowhere"],
    ];
    for (const args of bad) {
      const r = await relayExit(args);
      assert.equal(r.code, 2, `${args.join(" ")} → exit ${r.code}: ${r.stderr}`);
      assert.ok(!r.stderr.includes("short"), "the passphrase is not repeated");
    }
    const blocker = await startRelay([`srt://:${await freeUdpPort()}`, `srt://:${await freeUdpPort()}`]);
    children.push(blocker.proc);
    const busyHttp = Number(new URL(blocker.http).port);
    const inUse = await relayExit([`srt://:${await freeUdpPort()}`, `srt://:${await freeUdpPort()}`, "--http-addr", `127.0.0.1:${busyHttp}`]);
    assert.equal(inUse.code, 3, inUse.stderr);
    assert.match(inUse.stderr, /EADDRINUSE/);
  });
});
