/**
 * HTTP listening, with real players as peers: a source pushed by ffmpeg (PUT, MP3) on the Icecast
 * port of a real node; ffmpeg decodes `/live/<id>.ogg` (Opus) and `/live/<id>.mp3` (the source's
 * own MP3 frames) from the main port (both correlate with the recording), ffprobe reads
 * `GET /<mount>` on the Icecast port (MP3, as Icecast serves an MP3 mount); HEAD on both ports; an
 * `Icy-MetaData: 1` listener's titles, parsed by icecast-metadata-js, follow an /admin/metadata
 * update; HTTP listeners count as listeners in the API.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import ffprobeInstaller from "@ffprobe-installer/ffprobe";
import { resolveFfmpegPath } from "../../transports/ffmpeg/ffmpeg-path";
import { bestAlignment, decodeFileWithFfmpeg } from "../support/audio-match";
import { testToken } from "../support/auth";
import { MEDIA, startNodeProcess, stopChild, waitFor, type NodeProcess } from "../support/node-process";
import { ffmpegSource, httpListen, icecastPortOf } from "../support/icecast";

const FFMPEG = resolveFfmpegPath();
/** npm icecast-metadata-js (an ES module without typings), the ICY parser of the test. */
const ICY_PARSER = "icecast-metadata-js";

/** Runs a tool to its end; resolves with its stdout. */
function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => out.push(d));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

describe("icecast: HTTP listeners (Ogg/Opus on both ports, ICY titles)", function () {
  this.timeout(60_000);
  let node: NodeProcess;
  let port: number;
  let source: ChildProcess;
  let aacSource: ChildProcess;
  let token: string;

  before(async () => {
    node = await startNodeProcess(["--log-format", "json"], { ICECAST_PORT: "0" });
    port = icecastPortOf(node);
    token = await testToken("publish", ["radio"]);
    source = ffmpegSource("machine-wars.mp3", `icecast://source:${token}@127.0.0.1:${port}/radio`, ["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3", "-content_type", "audio/mpeg", "-ice_name", "Machine Radio"], 40);
    // an AAC (ADTS) source, as ffmpeg users push one: -f adts -content_type audio/aac
    const aacToken = await testToken("publish", ["aacradio"]);
    aacSource = ffmpegSource("machine-wars.mp3", `icecast://source:${aacToken}@127.0.0.1:${port}/aacradio`, ["-c:a", "aac", "-b:a", "128k", "-f", "adts", "-content_type", "audio/aac", "-ice_name", "AAC Radio"], 40);
    const live = async (id: string) => (await fetch(`${node.http}/api/streams/${id}`)).status === 200 && ((await (await fetch(`${node.http}/api/streams/${id}`)).json()) as { state: string }).state === "live";
    await waitFor(async () => (await live("radio")) && (await live("aacradio")), 15_000, "the sources on air");
  });
  after(async () => {
    if (aacSource) await stopChild(aacSource, 2000);
    if (source) await stopChild(source, 2000);
    await node?.stop();
  });

  it("HEAD on both ports: 200, audio/ogg, icy-name, no Content-Length; an unknown mount is 404", async () => {
    for (const [url, type] of [
      [`${node.http}/live/radio.ogg`, "audio/ogg"], [`${node.http}/live/radio.mp3`, "audio/mpeg"],
      [`http://127.0.0.1:${port}/radio`, "audio/mpeg"], [`http://127.0.0.1:${port}/radio.mp3`, "audio/mpeg"], [`http://127.0.0.1:${port}/live/radio.ogg`, "audio/ogg"],
    ]) {
      const res = await fetch(url!, { method: "HEAD" });
      assert.equal(res.status, 200, url);
      assert.equal(res.headers.get("content-type"), type, url);
      assert.equal(res.headers.get("icy-name"), "Machine Radio", url);
      assert.ok(!res.headers.get("content-length") || res.headers.get("content-length") === "0", `${url}: no length of a live stream`);
    }
    assert.equal((await fetch(`http://127.0.0.1:${port}/nothing.mp3`)).status, 404);
    assert.equal((await fetch(`${node.http}/live/nothing.ogg`)).status, 404);
  });

  for (const format of ["ogg", "mp3"] as const) {
    it(`ffmpeg decodes /live/radio.${format} from the main port: the recording, r ≥ 0.9`, async () => {
      const { stdout, stderr } = await run(FFMPEG, ["-hide_banner", "-loglevel", "error", "-i", `${node.http}/live/radio.${format}`, "-t", "3", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"]);
      const received = new Float32Array(stdout.buffer, stdout.byteOffset, Math.floor(stdout.length / 4));
      assert.ok(received.length >= 2.5 * 48_000, `3 s decoded (${received.length} samples; ${stderr})`);
      const recording = await decodeFileWithFfmpeg(path.join(MEDIA, "machine-wars.mp3"), { seconds: 40 });
      const match = bestAlignment(received.subarray(4800), recording);
      console.log(`      /live/radio.${format} by ffmpeg: ${(received.length / 48_000).toFixed(2)} s, correlation ${match.correlation.toFixed(3)}`);
      assert.ok(match.correlation >= 0.9, `r = ${match.correlation.toFixed(3)}`);
    });
  }

  it("an AAC source: ffmpeg decodes its own ADTS frames at /live/aacradio.aac (main port) and GET /aacradio (Icecast port), r ≥ 0.9", async () => {
    const recording = await decodeFileWithFfmpeg(path.join(MEDIA, "machine-wars.mp3"), { seconds: 40 });
    for (const url of [`${node.http}/live/aacradio.aac`, `http://127.0.0.1:${port}/aacradio`]) {
      const head = await fetch(url, { method: "HEAD" });
      assert.equal(head.headers.get("content-type"), "audio/aac", url);
      assert.equal(head.headers.get("icy-name"), "AAC Radio", url);
      const { stdout, stderr } = await run(FFMPEG, ["-hide_banner", "-loglevel", "error", "-f", "aac", "-i", url, "-t", "3", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"]);
      const received = new Float32Array(stdout.buffer, stdout.byteOffset, Math.floor(stdout.length / 4));
      assert.ok(received.length >= 2.5 * 48_000, `${url}: 3 s decoded (${received.length} samples; ${stderr})`);
      const match = bestAlignment(received.subarray(4800), recording);
      console.log(`      ${url.replace(/^http:\/\/[^/]+/, "")} (AAC passthrough) by ffmpeg: correlation ${match.correlation.toFixed(3)}`);
      assert.ok(match.correlation >= 0.9, `${url}: r = ${match.correlation.toFixed(3)}`);
    }
    const first = await fetch(`${node.http}/live/aacradio.aac`);
    const chunk = (await first.body!.getReader().read()).value!;
    assert.equal(chunk[0], 0xff, "the audio starts on an ADTS header");
    assert.equal(chunk[1]! & 0xf6, 0xf0);
    await first.body!.cancel().catch(() => undefined);
  });

  it("another codec than the source's is transcoded once per stream: /live/radio.aac of the MP3 source and /live/aacradio.mp3 of the AAC one, r ≥ 0.9", async () => {
    const recording = await decodeFileWithFfmpeg(path.join(MEDIA, "machine-wars.mp3"), { seconds: 40 });
    for (const [url, type] of [[`${node.http}/live/radio.aac`, "audio/aac"], [`http://127.0.0.1:${port}/live/aacradio.mp3`, "audio/mpeg"]] as const) {
      const head = await fetch(url, { method: "HEAD" });
      assert.equal(head.status, 200, url);
      assert.equal(head.headers.get("content-type"), type, url);
      assert.equal(head.headers.get("icy-br"), "128", url);
      const t0 = Date.now();
      const { stdout, stderr } = await run(FFMPEG, ["-hide_banner", "-loglevel", "error", "-i", url, "-t", "3", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"]);
      const received = new Float32Array(stdout.buffer, stdout.byteOffset, Math.floor(stdout.length / 4));
      assert.ok(received.length >= 2.5 * 48_000, `${url}: 3 s decoded (${received.length} samples; ${stderr})`);
      const match = bestAlignment(received.subarray(4800), recording);
      console.log(`      ${url.replace(/^http:\/\/[^/]+/, "")} (transcoded) by ffmpeg: 3 s in ${Date.now() - t0} ms, correlation ${match.correlation.toFixed(3)}`);
      assert.ok(match.correlation >= 0.9, `${url}: r = ${match.correlation.toFixed(3)}`);
    }
    // two listeners at once share one ffmpeg, which ends with the last of them
    const transcoders = () => node.logs.filter((l) => l.msg === "transcoding for HTTP listeners" && l.streamId === "radio").length;
    const ffmpegChildren = async () => (await run("ps", ["-o", "args=", "--ppid", String(node.proc.pid)])).stdout.toString().split("\n").filter((l) => /ffmpeg.*-f adts/.test(l)).length;
    const before = transcoders();
    const listeners = await Promise.all([0, 1].map(() => httpListen(`${node.http}/live/radio.aac`)));
    await waitFor(() => listeners.every((l) => l.bytes() > 8000), 10_000, "both transcoded listeners fed");
    assert.equal(transcoders() - before, 1, "one transcoder for both");
    assert.equal(await ffmpegChildren(), 1, "one ffmpeg making AAC");
    for (const l of listeners) l.close();
    await waitFor(async () => (await ffmpegChildren()) === 0, 5000, "the transcoder gone with its last listener");
  });

  it("ffprobe reads GET /radio on the Icecast port (the MP3 source's own codec) and /live/radio.ogg (Opus); HTTP listeners count as listeners", async () => {
    const decoding = run(FFMPEG, ["-hide_banner", "-loglevel", "error", "-i", `http://127.0.0.1:${port}/live/radio.ogg`, "-t", "3", "-f", "null", "-"]);
    const counted = waitFor(async () => ((await (await fetch(`${node.http}/api/streams/radio`)).json()) as { listeners: number }).listeners >= 1, 5000, "the HTTP listener counted");
    const probe = async (url: string) => {
      const p = await run(ffprobeInstaller.path, ["-v", "error", "-read_intervals", "%+2", "-show_streams", "-of", "json", url]);
      return { streams: (JSON.parse(p.stdout.toString() || "{}") as { streams?: Array<{ codec_name: string; channels: number }> }).streams ?? [], stderr: p.stderr };
    };
    const mp3 = await probe(`http://127.0.0.1:${port}/radio`);
    assert.equal(mp3.streams[0]?.codec_name, "mp3", `ffprobe: ${mp3.stderr}`);
    const ogg = await probe(`http://127.0.0.1:${port}/live/radio.ogg`);
    assert.equal(ogg.streams[0]?.codec_name, "opus", `ffprobe: ${ogg.stderr}`);
    assert.equal(ogg.streams[0]?.channels, 2);
    await counted;
    assert.equal((await decoding).code, 0);
  });

  it("an Icy-MetaData listener gets icy-metaint 16000 and the titles of /admin/metadata (icecast-metadata-js)", async () => {
    const { IcecastMetadataReader } = (await import(ICY_PARSER)) as {
      IcecastMetadataReader: new (o: { icyMetaInt: number; metadataTypes: string[]; onMetadata: (v: { metadata: { StreamTitle?: string } }) => void; onStream: (v: { stream: Uint8Array }) => void }) => { readAll(chunk: Uint8Array): void };
    };
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/radio`, { headers: { "Icy-MetaData": "1" }, signal: ac.signal });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("icy-metaint"), "16000");
    const titles: string[] = [];
    let audioBytes = 0;
    const reader = new IcecastMetadataReader({
      icyMetaInt: 16_000,
      metadataTypes: ["icy"],
      onMetadata: (v) => titles.push(v.metadata.StreamTitle ?? ""),
      onStream: (v) => (audioBytes += v.stream.length),
    });
    const body = res.body!.getReader();
    let first: number[] = [];
    const pump = (async () => {
      for (;;) {
        const { value, done } = await body.read().catch(() => ({ value: undefined, done: true }));
        if (done || !value) return;
        if (first.length === 0) first = [...value.subarray(0, 2)];
        reader.readAll(value);
      }
    })();
    await waitFor(() => titles.length >= 1, 10_000, "a first ICY title");
    assert.equal(titles[0], "Machine Radio", "the title before any update: the stream's (ice-name)");
    const update = await fetch(`http://127.0.0.1:${port}/admin/metadata?mount=/radio&mode=updinfo&song=${encodeURIComponent("Band - Tune 'live'")}`, {
      headers: { authorization: `Basic ${Buffer.from(`source:${token}`).toString("base64")}` },
    });
    assert.equal(update.status, 200);
    await waitFor(() => titles.includes("Band - Tune 'live'"), 10_000, "the new ICY title");
    ac.abort();
    await pump;
    assert.equal(first[0], 0xff, "the audio starts on an MP3 frame header");
    assert.equal(first[1]! & 0xe0, 0xe0);
    assert.ok(audioBytes > 16_000, `audio between the blocks (${audioBytes} bytes)`);
    console.log(`      ICY titles: ${JSON.stringify(titles)}; ${audioBytes} audio bytes`);
  });

  it("an operator's end of the broadcast closes the source and ends the HTTP answers", async () => {
    const res = await fetch(`${node.http}/live/radio.ogg`);
    const body = res.body!.getReader();
    let bytes = 0;
    const done = (async () => {
      for (;;) {
        const r = await body.read().catch(() => ({ done: true, value: undefined }));
        if (r.done) return;
        bytes += r.value?.length ?? 0;
      }
    })();
    await waitFor(() => bytes > 1000, 5000, "audio");
    const sourceExit = new Promise((r) => source.once("exit", r));
    const admin = await testToken("admin", ["radio"]);
    const del = await fetch(`${node.http}/api/streams/radio`, { method: "DELETE", headers: { authorization: `Bearer ${admin}` } });
    assert.equal(del.status, 200);
    await Promise.race([Promise.all([done, sourceExit]), new Promise((_, reject) => setTimeout(() => reject(new Error("the answer or the source did not end")), 5000))]);
  });
});
