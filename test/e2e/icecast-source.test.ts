/**
 * Icecast sources with real tools as peers, on a real node (ICECAST_PORT=0): ffmpeg pushing MP3 by
 * PUT (`icecast://source:TOKEN@host:port/radio`) heard by a WebSocket listener (decoded audio
 * correlates with the recording), a metadata update by /admin/metadata reaching that listener as
 * stream.metadata, Ogg/Vorbis by SOURCE (`-legacy_icecast 1`), libshout's `shout` (when
 * installed), the status page; refusals: a wrong password (401, nothing on air), a mount in use
 * (403), garbage, a huge head, a wrong method, and a slowloris head (408 after 10 s) while
 * another source's listener keeps hearing it.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import type { AudioFrame } from "../../media/wire";
import type { Listener } from "../../bin/commands/listen";
import { bestAlignment, decodeFileWithFfmpeg, decodeOpusPackets } from "../support/audio-match";
import { testToken } from "../support/auth";
import { openListeners } from "../support/broadcast";
import { ffmpegSource, icecastPortOf, rawRequest } from "../support/icecast";
import { MEDIA, sleep, startNodeProcess, stopChild, waitFor, type NodeProcess } from "../support/node-process";

const HAS_SHOUT = spawnSync("sh", ["-c", "command -v shout"]).status === 0;

/** A WebSocket listener keeping every Opus packet it receives. */
async function recordingListener(url: string, streamId: string): Promise<{ listener: Listener; packets: Uint8Array[] }> {
  const [listener] = await openListeners(url, streamId, 1);
  const packets: Uint8Array[] = [];
  listener!.onFrame = (frame: AudioFrame) => packets.push(frame.packet.slice());
  return { listener: listener!, packets };
}

describe("icecast: sources (ffmpeg PUT and SOURCE, shout) into the pipeline", function () {
  this.timeout(60_000);
  let node: NodeProcess;
  let port: number;
  const children: ChildProcess[] = [];
  const listeners: Listener[] = [];

  before(async () => {
    node = await startNodeProcess(["--log-format", "json"], { ICECAST_PORT: "0", SOURCE_PASSWORD: "station-secret-1" });
    port = icecastPortOf(node);
  });
  after(async () => {
    for (const l of listeners) l.close();
    await Promise.all(children.map((c) => stopChild(c, 2000)));
    await node?.stop();
  });

  it("ffmpeg PUT MP3: a WebSocket listener hears the recording; /admin/metadata reaches it; the mount is then in use; slowloris and garbage change nothing", async () => {
    // a slowloris client opens first: an incomplete head, one byte a second
    const slow = net.connect(port, "127.0.0.1");
    let slowGot = "";
    let slowClosedAt = 0;
    const slowStart = Date.now();
    slow.on("data", (d) => (slowGot += d.toString()));
    slow.on("error", () => undefined);
    slow.on("close", () => (slowClosedAt = Date.now()));
    slow.write("SOURCE /radio HTTP/1.0\r\n");
    const drip = setInterval(() => !slow.destroyed && slow.write("X"), 1000);

    const token = await testToken("publish", ["radio"]);
    const { listener, packets } = await recordingListener(node.url, "radio");
    listeners.push(listener);
    const src = ffmpegSource("machine-wars.mp3", `icecast://source:${token}@127.0.0.1:${port}/radio.mp3`, ["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3", "-content_type", "audio/mpeg", "-ice_name", "Machine Radio", "-ice_genre", "electronic"]);
    children.push(src);
    await waitFor(() => packets.length >= 200, 15_000, "4 s of Opus frames from the PUT source");

    // garbage, a huge head, a wrong method while the source is on air
    assert.match(await rawRequest(port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x01, 0x00, 0x00, 0x0d, 0x0a, 0x0d, 0x0a])), /^HTTP\/1\.0 400 /);
    assert.match(await rawRequest(port, `GET / HTTP/1.1\r\nX-Big: ${"a".repeat(9000)}\r\n\r\n`), /^HTTP\/1\.0 431 /);
    assert.match(await rawRequest(port, "DELETE /radio HTTP/1.1\r\nHost: x\r\n\r\n"), /^HTTP\/1\.0 405 /);
    assert.match(await rawRequest(port, `PUT /radio HTTP/1.1\r\nContent-Type: audio/mpeg\r\nAuthorization: Basic ${Buffer.from("source:station-secret-1").toString("base64")}\r\n\r\n`), /^HTTP\/1\.1 403 Forbidden[\s\S]*Mountpoint in use/);

    // now playing by Icecast's admin request, as butt, liquidsoap and ffmpeg users send it
    const meta = await fetch(`http://127.0.0.1:${port}/admin/metadata?mount=/radio.mp3&mode=updinfo&song=${encodeURIComponent("Artist - Song ü")}`, {
      headers: { authorization: `Basic ${Buffer.from(`source:${token}`).toString("base64")}` },
    });
    assert.equal(meta.status, 200);
    assert.equal(await meta.text(), `<?xml version="1.0"?>\n<iceresponse><message>Metadata update successful</message><return>1</return></iceresponse>\n`);
    await waitFor(() => listener.last("stream.metadata")?.title === "Artist - Song ü", 5000, "stream.metadata on the WebSocket listener");
    const bad = await fetch(`http://127.0.0.1:${port}/admin/metadata?mount=/radio&mode=updinfo&song=x`, { headers: { authorization: `Basic ${Buffer.from("source:nope").toString("base64")}` } });
    assert.equal(bad.status, 401);

    const status = (await (await fetch(`http://127.0.0.1:${port}/status-json.xsl`)).json()) as { icestats: { source: Record<string, unknown> } };
    assert.equal(status.icestats.source.server_name, "Machine Radio", "one source is an object, as Icecast has it");
    assert.equal(status.icestats.source.genre, "electronic");
    assert.equal(status.icestats.source.title, "Artist - Song ü");
    assert.equal(status.icestats.source.listenurl, `http://127.0.0.1:${port}/radio`);
    assert.ok(Number(status.icestats.source.listeners) >= 1);

    const received = await decodeOpusPackets(packets.slice(0, 200), 2);
    const source = await decodeFileWithFfmpeg(path.join(MEDIA, "machine-wars.mp3"), { seconds: 20 });
    const match = bestAlignment(received.subarray(4800), source);
    console.log(`      PUT MP3 → WebSocket: ${packets.length} frames, correlation ${match.correlation.toFixed(3)} at ${(match.lagSamples / 48).toFixed(0)} ms into the recording`);
    assert.ok(match.correlation >= 0.9, `the listener hears the recording: r = ${match.correlation.toFixed(3)}`);

    // the slowloris head is refused after 10 s; the listener heard the source all along
    await waitFor(() => slowClosedAt > 0, 15_000, "the slowloris connection closed");
    clearInterval(drip);
    assert.match(slowGot, /^HTTP\/1\.0 408 /);
    assert.ok(slowClosedAt - slowStart >= 9500, `closed after the head timeout (${slowClosedAt - slowStart} ms)`);
    assert.equal(listener.stats.seqGaps, 0, "no frame lost meanwhile");
    const before = packets.length;
    await sleep(500);
    assert.ok(packets.length > before + 15, "frames still flow");
    await stopChild(src, 2000);
  });

  it("ffmpeg SOURCE (-legacy_icecast 1) Ogg/Vorbis with SOURCE_PASSWORD: frames flow to a WebSocket listener", async () => {
    const { listener, packets } = await recordingListener(node.url, "vorbis");
    listeners.push(listener);
    const src = ffmpegSource("awakening.ogg", `icecast://source:station-secret-1@127.0.0.1:${port}/vorbis.ogg`, ["-c:a", "libvorbis", "-f", "ogg", "-content_type", "application/ogg", "-legacy_icecast", "1"]);
    children.push(src);
    await waitFor(() => packets.length >= 100, 15_000, "2 s of Opus frames from the SOURCE source");
    const received = await decodeOpusPackets(packets.slice(0, 100), 2);
    const source = await decodeFileWithFfmpeg(path.join(MEDIA, "awakening.ogg"), { seconds: 15 });
    const match = bestAlignment(received.subarray(4800), source);
    console.log(`      SOURCE Ogg/Vorbis → WebSocket: correlation ${match.correlation.toFixed(3)}`);
    assert.ok(match.correlation >= 0.9, `r = ${match.correlation.toFixed(3)}`);
    assert.ok(node.output().includes('"method":"SOURCE"'), "it came by SOURCE");
    await stopChild(src, 2000);
  });

  (HAS_SHOUT ? it : it.skip)("libshout's shout (libshout-tools) broadcasts Ogg", async () => {
    const token = await testToken("publish", ["shouted"]);
    const { listener, packets } = await recordingListener(node.url, "shouted");
    listeners.push(listener);
    const shout = spawn("shout", ["--host", "127.0.0.1", "--port", String(port), "--mount", "/shouted.ogg", "--format", "ogg", "--pass", token, "--station-name", "Shouted"], { stdio: ["pipe", "ignore", "pipe"] });
    children.push(shout);
    shout.stdin!.on("error", () => undefined);
    // shout sends as fast as it reads: feed it in real time (about 20 KiB/s for this file)
    const ogg = fs.readFileSync(path.join(MEDIA, "awakening.ogg"));
    const rate = ogg.length / 180;
    let at = 0;
    const feed = setInterval(() => {
      const n = Math.round(rate / 10);
      shout.stdin!.write(ogg.subarray(at, at + n));
      at += n;
    }, 100);
    try {
      await waitFor(() => packets.length >= 100, 15_000, "2 s of Opus frames from shout");
    } finally {
      clearInterval(feed);
      shout.stdin!.end();
    }
    const info = (await (await fetch(`${node.http}/api/streams/shouted`)).json()) as { state: string; metadata: Record<string, string> };
    assert.equal(info.state, "live");
    assert.equal(info.metadata.name, "Shouted", "--station-name arrived as ice-name");
  });

  for (const [format, type, args] of [
    ["aac", "audio/aac", ["-c:a", "aac", "-b:a", "128k", "-f", "adts"]],
    ["flac", "audio/flac", ["-c:a", "flac", "-f", "flac"]],
    ["webm", "audio/webm", ["-c:a", "libopus", "-f", "webm", "-cluster_time_limit", "500"]],
  ] as const) {
    it(`ffmpeg PUT ${type} (${format}): the recording reaches a WebSocket listener`, async () => {
      const streamId = `fmt-${format}`;
      const { listener, packets } = await recordingListener(node.url, streamId);
      listeners.push(listener);
      const src = ffmpegSource("awakening.ogg", `icecast://source:station-secret-1@127.0.0.1:${port}/${streamId}`, [...args, "-content_type", type]);
      children.push(src);
      await waitFor(() => packets.length >= 100, 15_000, `2 s of Opus frames from ${format}`);
      const received = await decodeOpusPackets(packets.slice(0, 100), 2);
      const match = bestAlignment(received.subarray(4800), await decodeFileWithFfmpeg(path.join(MEDIA, "awakening.ogg"), { seconds: 15 }));
      console.log(`      PUT ${type} → WebSocket: correlation ${match.correlation.toFixed(3)}`);
      assert.ok(match.correlation >= 0.9, `r = ${match.correlation.toFixed(3)}`);
      await stopChild(src, 2000);
    });
  }

  it("a wrong password is refused with 401 and Icecast's Basic challenge, and nothing goes on air", async () => {
    const { listener, packets } = await recordingListener(node.url, "locked");
    listeners.push(listener);
    const answer = await rawRequest(port, `SOURCE /locked HTTP/1.0\r\nContent-Type: audio/mpeg\r\nAuthorization: Basic ${Buffer.from("source:hackme").toString("base64")}\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.0 401 /);
    assert.match(answer, /WWW-Authenticate: Basic realm="Icecast2 Server"/);
    const none = await rawRequest(port, "SOURCE /locked HTTP/1.0\r\nContent-Type: audio/mpeg\r\n\r\n");
    assert.match(none, /^HTTP\/1\.0 401 [\s\S]*Basic realm="Icecast2 Server"/);
    const src = ffmpegSource("machine-wars.mp3", `icecast://source:wrong-password@127.0.0.1:${port}/locked`, ["-c:a", "libmp3lame", "-f", "mp3", "-content_type", "audio/mpeg"], 3);
    const code = await new Promise<number | null>((r) => src.once("exit", r));
    assert.notEqual(code, 0, "ffmpeg fails");
    await sleep(300);
    assert.equal(packets.length, 0, "nothing reached the listener");
    const logs = node.output();
    assert.ok(!logs.includes("station-secret-1") && !logs.includes("hackme") && !logs.includes("wrong-password"), "no source password in the logs");
    assert.ok(logs.includes('"via":"icecast.source"'), "the refusals are in the audit log");
  });
});
