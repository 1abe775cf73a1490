/**
 * SRT into and out of live streams, with real peers (no simulator), on a 2-node cluster over NATS: ffmpeg
 * (Debian's, built with libsrt) publishes MPEG-TS with AAC to the SRT port of the node that is not the stream's owner
 * (streamid `publish:radio:<user>:<token>`); WebSocket listeners on both nodes hear the recording
 * (decoded audio correlates with it), and ffmpeg reads the stream back over SRT from the other node
 * (`read:radio`: the publisher's own transport stream). srt-live-transmit (srt-tools, the reference
 * tool) publishes with SRT's access-control streamid; a WebSocket broadcaster's stream is read as
 * its Opus in MPEG-TS. Refusals: no token, a token of another stream, a streamid of an unknown
 * mode, UDP garbage at the port; none of them disturbs the stream on air. An operator's remote
 * relays (POST /api/relays): a stream pulled from ffmpeg serving SRT as a listener goes on air, and
 * pushed to ffmpeg listening elsewhere.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Listener } from "../../bin/commands/listen";
import type { AudioFrame } from "../../media/wire";
import { bestAlignment, decodeFileWithFfmpeg, decodeOpusPackets } from "../support/audio-match";
import { testToken } from "../support/auth";
import { openListeners, startBroadcast } from "../support/broadcast";
import { startCluster } from "../support/cluster";
import { MEDIA, sleep, stopChild, waitFor, type NodeProcess } from "../support/node-process";
import { ffmpegSrtPublish, ffmpegSrtRead, freeUdpPort, SRT_FFMPEG, srtPeersMissing, srtUrl } from "../support/srt";
import { srtConnect } from "../../transports/srt/libsrt";

/** A WebSocket listener keeping every Opus packet it receives. */
async function recordingListener(url: string, streamId: string): Promise<{ listener: Listener; packets: Uint8Array[] }> {
  const [listener] = await openListeners(url, streamId, 1);
  const packets: Uint8Array[] = [];
  listener!.onFrame = (frame: AudioFrame) => packets.push(frame.packet.slice());
  return { listener: listener!, packets };
}

/** Correlation of 4 s of a listener's Opus packets (after the first 100 ms) with the recording. */
async function matchPackets(packets: Uint8Array[], file: string): Promise<number> {
  const received = await decodeOpusPackets(packets.slice(0, 200), 2);
  const source = await decodeFileWithFfmpeg(path.join(MEDIA, file), { seconds: 25 });
  return bestAlignment(received.subarray(4800), source).correlation;
}

describe("srt: publishers and readers (ffmpeg with libsrt, srt-live-transmit) on a 2-node cluster", function () {
  this.timeout(90_000);
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  let a: NodeProcess;
  let b: NodeProcess;
  const ports = { a: 0, b: 0 };
  const children: ChildProcess[] = [];
  const listeners: Listener[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "veza-srt-"));

  before(async function () {
    const missing = srtPeersMissing();
    assert.equal(missing, null, `${missing} (.ci/run installs it)`);
    ports.a = await freeUdpPort();
    ports.b = await freeUdpPort();
    cluster = await startCluster([
      { name: "srt-a", services: "gateway,stream,encoder,relay", env: { SRT_PORT: String(ports.a) } },
      { name: "srt-b", services: "gateway,relay", env: { SRT_PORT: String(ports.b) } },
    ]);
    a = cluster.nodes["srt-a"]!;
    b = cluster.nodes["srt-b"]!;
    for (const n of [a, b]) assert.ok(Number(n.logs.find((l) => l.msg === "node started")?.srtPort) > 0, "the node-started line names the SRT port");
  });
  after(async () => {
    for (const l of listeners) l.close();
    await Promise.all(children.map((c) => stopChild(c, 2000)));
    await cluster?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("ffmpeg publishes MPEG-TS/AAC with publish:radio:<user>:<token>: WebSocket listeners on both nodes hear it, ffmpeg reads it back with read:radio", async () => {
    const { listener: onA, packets: heardA } = await recordingListener(a.url, "radio");
    const { listener: onB, packets: heardB } = await recordingListener(b.url, "radio");
    listeners.push(onA, onB);
    const token = await testToken("publish", ["radio"], { sub: "field-reporter" });
    const src = ffmpegSrtPublish("awakening.ogg", srtUrl(ports.b, `publish:radio:reporter:${token}`), "aac", 40);
    children.push(src);
    await waitFor(() => heardA.length >= 250 && heardB.length >= 250, 20_000, "5 s of Opus frames on both nodes' listeners");
    const streams = (await (await fetch(`${a.http}/api/streams`)).json()) as Array<{ streamId: string; state: string; format: string }>;
    assert.deepEqual(streams.find((s) => s.streamId === "radio") && { state: streams.find((s) => s.streamId === "radio")!.state, format: streams.find((s) => s.streamId === "radio")!.format }, { state: "live", format: "mpegts" });
    for (const [name, packets] of [["A", heardA], ["B", heardB]] as const) {
      const r = await matchPackets(packets, "awakening.ogg");
      console.log(`      SRT MPEG-TS/AAC → WebSocket on ${name}: correlation ${r.toFixed(3)}`);
      assert.ok(r >= 0.9, `the listener on ${name} hears the recording: r = ${r.toFixed(3)}`);
    }

    // read back over SRT from the node the publisher is not on
    const wav = path.join(tmp, "read-radio.wav");
    const read = await ffmpegSrtRead(srtUrl(ports.a, "read:radio"), 6, wav);
    assert.equal(read.code, 0, `ffmpeg read:radio: ${read.stderr}`);
    const got = await decodeFileWithFfmpeg(wav, { seconds: 6 });
    const source = await decodeFileWithFfmpeg(path.join(MEDIA, "awakening.ogg"), { seconds: 40 });
    const back = bestAlignment(got.subarray(0, 48_000 * 5), source);
    console.log(`      SRT read:radio → ffmpeg: ${(got.length / 48_000).toFixed(1)} s, correlation ${back.correlation.toFixed(3)}`);
    assert.ok(got.length >= 48_000 * 5, `${got.length} samples read back`);
    assert.ok(back.correlation >= 0.9, `read back over SRT: r = ${back.correlation.toFixed(3)}`);
    assert.ok(!b.output().includes(token), "the token is in no log line");
    assert.equal(onA.stats.seqGaps, 0, "no frame lost on A");
  });

  it("refuses a publisher without a token, with another stream's token or an unknown mode, and UDP garbage, while the stream on air goes on", async () => {
    const { listener, packets } = await recordingListener(a.url, "radio");
    listeners.push(listener);
    await waitFor(() => packets.length >= 50, 10_000, "radio on air");
    const other = await testToken("publish", ["other"]);
    const refused: Array<[string, string]> = [
      ["publish:intruder", "no token"],
      [`publish:intruder:x:${other}`, "another stream's token"],
      ["play:radio", "unknown mode"],
      ["#!::r=intruder,m=bidirectional", "bidirectional"],
    ];
    for (const [streamId, why] of refused) {
      const p = ffmpegSrtPublish("front-center.wav", srtUrl(ports.a, streamId), "aac", 5);
      const code = await new Promise<number | null>((resolve) => p.on("exit", resolve));
      assert.notEqual(code, 0, `${why}: ffmpeg's connection is closed`);
    }
    // a streamid that starts as none of ours can is refused in the handshake, with SRT's code for it
    const rejected = srtConnect("127.0.0.1", ports.a, { streamId: "play:radio" });
    const rejectReason = await new Promise<number>((resolve) => {
      rejected.onConnect = () => resolve(0);
      rejected.onClose = (_reason, code) => resolve(code);
    });
    assert.equal(rejectReason, 1400, "SRT_REJX_BAD_REQUEST in the handshake");
    // an authorised publisher that sends no MPEG-TS: its stream fails, nothing else does
    const junkToken = await testToken("publish", ["junk"]);
    const junk = srtConnect("127.0.0.1", ports.a, { streamId: `publish:junk:x:${junkToken}` });
    await new Promise<void>((resolve) => (junk.onConnect = resolve));
    for (let i = 0; i < 300; i++) {
      junk.send(Buffer.from(Array.from({ length: 1316 }, (_, j) => (i * 131 + j * 17) & 0xff)));
      if (i % 20 === 0) await sleep(20);
    }
    await sleep(1500);
    junk.close();
    const garbage = dgram.createSocket("udp4");
    for (let i = 0; i < 200; i++) garbage.send(Buffer.from(Array.from({ length: 64 + (i % 500) }, (_, j) => (i * 31 + j * 7) & 0xff)), ports.a, "127.0.0.1");
    await sleep(500);
    garbage.close();
    const streams = (await (await fetch(`${a.http}/api/streams`)).json()) as Array<{ streamId: string }>;
    assert.ok(!streams.some((s) => s.streamId === "intruder"), "nothing went on air");
    const junkState = ((await (await fetch(`${a.http}/api/streams/junk`)).json()) as { state: string }).state;
    assert.notEqual(junkState, "live", "the stream of bytes that are not MPEG-TS is not live");
    const before = packets.length;
    await sleep(1000);
    assert.ok(packets.length >= before + 40, "radio's listener still hears it");
    assert.equal(listener.stats.seqGaps, 0);
    const logs = a.output();
    assert.match(logs, /srt caller refused: bad streamid/);
    assert.match(logs, /srt publisher refused/);
    assert.ok(!logs.includes(other), "the refused token is in no log line");
  });

  it("an operator pulls a stream from ffmpeg serving SRT (it goes on air) and pushes it to ffmpeg listening elsewhere (POST /api/relays); non-admins and bad URIs are refused", async () => {
    const admin = await testToken("admin", ["*"]);
    const api = (method: string, body?: unknown, token = admin, path = "") =>
      fetch(`${b.http}/api/relays${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    try {
      await pullAndPush(api, admin);
    } catch (err) {
      // what the relays did, for a failure's message; then none is left for mocha's retry (its stream would be BROADCASTER_EXISTS)
      const relayLines = [a, b].flatMap((n) => n.logs.filter((l) => /srt|relay|rist/i.test(String(l.msg))).slice(-15).map((l) => JSON.stringify(l)));
      (err as Error).message += `\n      relay log lines:\n${relayLines.join("\n")}`;
      throw err;
    } finally {
      // a cleanup that fails is told, and does not hide the test's own error
      try {
        const left = (await (await api("GET")).json()) as Array<{ id: string }>;
        await Promise.all(left.map((x) => api("DELETE", undefined, admin, `/${x.id}`)));
        for (const id of ["pulled", "rist-in"]) {
          await waitFor(async () => ((await (await fetch(`${a.http}/api/streams/${id}`)).json()) as { state?: string }).state !== "live", 10_000, `${id} off air`);
        }
      } catch (err) {
        console.log(`      relays' cleanup failed: ${(err as Error).message}`);
      }
    }
  });

  /** The body of the test above: pulls, pushes, then a RIST listening pull, each checked by ear (correlation). */
  async function pullAndPush(api: (method: string, body?: unknown, token?: string, path?: string) => Promise<Response>, admin: string): Promise<void> {
    const servePort = await freeUdpPort();
    // ffmpeg serves MPEG-TS as an SRT listener; the relay calls it
    const server = spawn(SRT_FFMPEG, ["-hide_banner", "-loglevel", "error", "-re", "-t", "40", "-i", path.join(MEDIA, "awakening.ogg"), "-vn", "-c:a", "aac", "-b:a", "128k", "-f", "mpegts", `srt://127.0.0.1:${servePort}?mode=listener`], { stdio: "ignore" });
    children.push(server);
    await sleep(500);
    const { listener, packets } = await recordingListener(a.url, "pulled");
    listeners.push(listener);
    assert.equal((await api("POST", { streamId: "pulled", uri: `srt://127.0.0.1:${servePort}`, direction: "pull" }, await testToken("listen", ["*"]))).status, 403, "a listen token cannot start a relay");
    assert.equal((await api("POST", { streamId: "pulled", uri: "udp://127.0.0.1:1", direction: "pull" })).status, 400);
    assert.equal((await api("POST", { streamId: "pulled", uri: "srt://127.0.0.1:1?passphrase=short", direction: "pull" })).status, 400);
    const started = await api("POST", { streamId: "pulled", uri: `srt://127.0.0.1:${servePort}`, direction: "pull" });
    assert.equal(started.status, 201, await started.clone().text());
    const pull = (await started.json()) as { id: string; endpoint: string; node: string };
    assert.equal(pull.node, "srt-b");
    await waitFor(() => packets.length >= 200, 20_000, "4 s of the pulled stream on A's listener");
    const r = await matchPackets(packets, "awakening.ogg");
    console.log(`      pulled from ffmpeg's SRT listener → WebSocket on A: correlation ${r.toFixed(3)}`);
    assert.ok(r >= 0.9, `r = ${r.toFixed(3)}`);

    // push the pulled stream to ffmpeg listening on another port
    const pushPort = await freeUdpPort();
    const wav = path.join(tmp, "pushed.wav");
    const reading = ffmpegSrtRead(`srt://127.0.0.1:${pushPort}?mode=listener`, 5, wav);
    await sleep(300);
    const pushed = await api("POST", { streamId: "pulled", uri: `srt://127.0.0.1:${pushPort}`, direction: "push" });
    assert.equal(pushed.status, 201, await pushed.clone().text());
    const read = await reading;
    assert.equal(read.code, 0, read.stderr);
    const got = await decodeFileWithFfmpeg(wav, { seconds: 5 });
    const back = bestAlignment(got.subarray(0, 48_000 * 4), await decodeFileWithFfmpeg(path.join(MEDIA, "awakening.ogg"), { seconds: 40 }));
    console.log(`      pushed to ffmpeg's SRT listener: correlation ${back.correlation.toFixed(3)}`);
    assert.ok(back.correlation >= 0.9, `r = ${back.correlation.toFixed(3)}`);

    const list = (await (await api("GET")).json()) as Array<{ id: string; direction: string; stats: { bytes: number } }>;
    assert.deepEqual(list.map((x) => x.direction).sort(), ["pull", "push"]);
    assert.ok(list.every((x) => x.stats.bytes > 0), "both relays moved bytes");
    assert.equal((await api("DELETE", undefined, admin, `/${pull.id}`)).status, 200);
    await waitFor(async () => ((await (await fetch(`${a.http}/api/streams/pulled`)).json()) as { state: string }).state !== "live", 10_000, "the pulled stream off air once its relay stopped");
    assert.equal((await api("DELETE", undefined, admin, `/${pull.id}`)).status, 404);

    // RIST has no streamid: a stream takes RIST on a port of its own, a listening pull with a pre-shared secret
    const ristPort = await freeUdpPort();
    const secret = "rist-psk-0123456789";
    const { listener: ristListener, packets: ristPackets } = await recordingListener(a.url, "rist-in");
    listeners.push(ristListener);
    const ristPull = await api("POST", { streamId: "rist-in", uri: `rist://@127.0.0.1:${ristPort}?secret=${secret}&aes-type=128&buffer=300`, direction: "pull" });
    assert.equal(ristPull.status, 201, await ristPull.clone().text());
    assert.ok(!((await ristPull.json()) as { endpoint: string }).endpoint.includes(secret), "the secret is not shown");
    const udpIn = await freeUdpPort();
    children.push(spawn("ristsender", ["-i", `udp://127.0.0.1:${udpIn}`, "-o", `rist://127.0.0.1:${ristPort}?secret=${secret}&aes-type=128&buffer=300`, "-p", "1", "-v", "3", "-S", "0"], { stdio: "ignore" }));
    await sleep(300);
    children.push(spawn(SRT_FFMPEG, ["-hide_banner", "-loglevel", "error", "-re", "-t", "30", "-i", path.join(MEDIA, "machine-wars.mp3"), "-vn", "-c:a", "copy", "-f", "mpegts", `udp://127.0.0.1:${udpIn}?pkt_size=1316`], { stdio: "ignore" }));
    await waitFor(() => ristPackets.length >= 200, 20_000, "4 s of the RIST stream on A's listener");
    const rr = await matchPackets(ristPackets, "machine-wars.mp3");
    console.log(`      ristsender (AES-128) → a listening pull → WebSocket on A: correlation ${rr.toFixed(3)}`);
    assert.ok(rr >= 0.9, `r = ${rr.toFixed(3)}`);
    assert.ok(!b.output().includes(secret), "the secret is in no log line");
  }

  it("srt-live-transmit publishes with SRT's access-control streamid (#!::r=,m=publish,s=); a WebSocket broadcaster's stream is read as Opus in MPEG-TS", async () => {
    const token = await testToken("publish", ["slt"]);
    const { listener, packets } = await recordingListener(a.url, "slt");
    listeners.push(listener);
    // ffmpeg (the static build is enough) makes MPEG-TS, srt-live-transmit carries it
    const ts = spawn(SRT_FFMPEG, ["-hide_banner", "-loglevel", "error", "-re", "-t", "30", "-i", path.join(MEDIA, "machine-wars.mp3"), "-vn", "-c:a", "copy", "-f", "mpegts", "-"], { stdio: ["ignore", "pipe", "ignore"] });
    const slt = spawn("srt-live-transmit", ["-q", "file://con", srtUrl(ports.a, `#!::r=slt,m=publish,s=${token}`)], { stdio: ["pipe", "ignore", "ignore"] });
    ts.stdout!.pipe(slt.stdin!);
    slt.stdin!.on("error", () => undefined);
    children.push(ts, slt);
    await waitFor(() => packets.length >= 200, 20_000, "4 s of Opus frames from srt-live-transmit");
    const r = await matchPackets(packets, "machine-wars.mp3");
    console.log(`      srt-live-transmit MPEG-TS/MP3 → WebSocket: correlation ${r.toFixed(3)}`);
    assert.ok(r >= 0.9, `r = ${r.toFixed(3)}`);

    const bc = await startBroadcast(b.url, "ws-src", "awakening.ogg", "ogg", { startSeconds: 0, loop: true });
    try {
      await sleep(1500);
      const wav = path.join(tmp, "read-ws.wav");
      const read = await ffmpegSrtRead(srtUrl(ports.b, "read:ws-src"), 5, wav);
      assert.equal(read.code, 0, `ffmpeg read:ws-src: ${read.stderr}`);
      const got = await decodeFileWithFfmpeg(wav, { seconds: 5 });
      const source = await decodeFileWithFfmpeg(path.join(MEDIA, "awakening.ogg"), { seconds: 30 });
      const back = bestAlignment(got.subarray(0, 48_000 * 4), source);
      console.log(`      WebSocket broadcaster → SRT read (Opus in MPEG-TS): correlation ${back.correlation.toFixed(3)}`);
      assert.ok(back.correlation >= 0.9, `r = ${back.correlation.toFixed(3)}`);
    } finally {
      await bc.abort();
    }
  });
});
