/**
 * HLS and DASH from both gateways of a 2-node cluster (NATS), with real players: a recording
 * broadcast through gateway A (MP3, encoded to Opus by the owner); ffmpeg reads the HLS and DASH
 * URLs of gateway B and of gateway A, and what it decodes correlates with the recording; the live
 * playlists, reloaded as an LL-HLS client does (blocking reload), parse with m3u8-parser and keep
 * Apple's validator rules across reloads; both gateways name the same audio alike; hls.js in
 * headless Chromium (the player page's fallback, `?hls=1`) plays the stream audibly within 2 s of
 * the broadcaster; bad requests get clear errors and the node keeps serving.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { Parser, type ParsedManifest } from "m3u8-parser";
import type { Broadcast } from "../../bin/commands/broadcast";
import { resolveFfmpegPath } from "../../transports/ffmpeg/ffmpeg-path";
import { bestAlignment, decodeFileWithFfmpeg } from "../support/audio-match";
import { launchChromium, type Browser } from "../support/browser";
import { startBroadcast } from "../support/broadcast";
import { startCluster } from "../support/cluster";
import { MEDIA, sleep, waitFor, type NodeProcess } from "../support/node-process";

const FFMPEG = resolveFfmpegPath();
const RECORDING = "machine-wars.mp3";

function parse(text: string): ParsedManifest {
  const parser = new Parser();
  parser.push(text);
  parser.end();
  return parser.manifest;
}

/** ffmpeg decodes `seconds` of `url` to mono 48 kHz float PCM. */
function decode(url: string, seconds: number, map: string[] = []): Promise<{ pcm: Float32Array; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(FFMPEG, ["-hide_banner", "-loglevel", "error", "-i", url, ...map, "-t", String(seconds), "-ac", "1", "-ar", "48000", "-f", "f32le", "-"], { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => out.push(d));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill("SIGKILL"), 30_000);
    p.on("close", () => {
      clearTimeout(timer);
      const bytes = Buffer.concat(out);
      resolve({ pcm: new Float32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.length / 4)), stderr });
    });
  });
}

/** The command lines of `pid`'s child processes. */
async function ps(pid: number): Promise<string[]> {
  return new Promise((resolve) => {
    const p = spawn("ps", ["-o", "args=", "--ppid", String(pid)], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.on("close", () => resolve(out.split("\n").filter(Boolean)));
  });
}

/** The mdat payload of a CMAF part (moof + mdat): the Opus packets, without the muxer's own numbering. */
function mdatOf(part: Uint8Array): Buffer {
  const b = Buffer.from(part);
  for (let at = 0; at + 8 <= b.length; ) {
    const size = b.readUInt32BE(at);
    if (b.toString("latin1", at + 4, at + 8) === "mdat") return b.subarray(at + 8, at + size);
    if (size < 8) break;
    at += size;
  }
  throw new Error("no mdat");
}

/** In the page: RMS of what the HLS fallback's <audio> element renders over 1 s, through an AnalyserNode. */
const RMS_IN_PAGE = `(async () => {
  const ctx = new AudioContext();
  const source = ctx.createMediaElementSource(window.vezaHls.audio);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 2048;
  source.connect(analyser).connect(ctx.destination);
  const buf = new Float32Array(analyser.fftSize);
  let sum = 0, n = 0;
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 50));
    analyser.getFloatTimeDomainData(buf);
    for (const x of buf) sum += x * x;
    n += buf.length;
  }
  return Math.sqrt(sum / n);
})()`;

/** The tfdt (baseMediaDecodeTime) of a CMAF part. */
function tfdtOf(part: Uint8Array): number {
  const b = Buffer.from(part);
  const at = b.indexOf("tfdt", 0, "latin1");
  if (at < 0) throw new Error("no tfdt");
  return b[at + 4] === 1 ? Number(b.readBigUInt64BE(at + 8)) : b.readUInt32BE(at + 8);
}

describe("HLS and DASH: ffmpeg and hls.js from either gateway of a cluster", function () {
  this.timeout(120_000);
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  let a: NodeProcess;
  let b: NodeProcess;
  let broadcast: Broadcast;
  let recording: Float32Array;

  before(async () => {
    cluster = await startCluster([
      { name: "ha", services: "gateway,stream,encoder,relay" },
      { name: "hb", services: "gateway,relay" },
    ]);
    a = cluster.nodes.ha!;
    b = cluster.nodes.hb!;
    broadcast = await startBroadcast(a.url, "radio", RECORDING, "mp3");
    recording = await decodeFileWithFfmpeg(path.join(MEDIA, RECORDING), { seconds: 90 });
    await waitFor(async () => (await fetch(`${b.http}/hls/radio/index.m3u8`)).status === 200, 15_000, "HLS on gateway B");
  });
  after(async () => {
    await broadcast?.stop().catch(() => undefined);
    await cluster?.stop();
  });

  it("the ladder's rungs over HLS: ffmpeg plays Opus 64k (r1) and AAC-LC 128k (r3) from gateway B, r ≥ 0.9; r2, asked by no one yet, runs no encoder (ffmpeg's own HLS and DASH readers open every variant: the tests after this start all rungs)", async () => {
    const rungEncoders = async (bitrate: number) => (await ps(a.proc.pid!)).filter((l) => l.includes(`-b:a ${bitrate}`)).length;
    assert.equal(await rungEncoders(32_000), 0, "no ffmpeg for the 32k rung before anyone asks for it");
    for (const [r, codec] of [[1, "Opus 64k"], [3, "AAC-LC 128k"]] as const) {
      const { pcm, stderr } = await decode(`${b.http}/hls/radio/r${r}/media.m3u8`, 4);
      assert.ok(pcm.length >= 3.5 * 48_000, `r${r}: 4 s decoded (${pcm.length} samples; ${stderr})`);
      const match = bestAlignment(pcm.subarray(4800), recording);
      console.log(`      r${r} (${codec}) by ffmpeg: correlation ${match.correlation.toFixed(3)}`);
      assert.ok(match.correlation >= 0.9, `r${r}: r = ${match.correlation.toFixed(3)}`);
    }
    assert.equal(await rungEncoders(64_000), 1, "one ffmpeg for the 64k rung, on the owner");
    assert.equal(await rungEncoders(32_000), 0, "still none for the 32k rung");
    const info = (await (await fetch(`${b.http}/api/streams/radio`)).json()) as { renditions: unknown[] };
    assert.deepEqual(info.renditions, [
      { id: 0, codec: "opus", bitrate: 128_000, channels: 2 }, { id: 1, codec: "opus", bitrate: 64_000, channels: 2 },
      { id: 2, codec: "opus", bitrate: 32_000, channels: 2 }, { id: 3, codec: "aac", bitrate: 128_000, channels: 2 },
    ]);
  });

  for (const [kind, file] of [["HLS", "hls/radio/index.m3u8"]] as const) {
    it(`ffmpeg plays ${kind} from both gateways: the recording, r ≥ 0.9`, async () => {
      for (const node of [b, a]) {
        const { pcm, stderr } = await decode(`${node.http}/${file}`, 5, ["-map", "0:a:0"]);
        assert.ok(pcm.length >= 3.5 * 48_000, `${node.http}/${file}: 5 s asked, ${pcm.length / 48_000} s decoded (${stderr})`);
        const match = bestAlignment(pcm.subarray(4800), recording);
        console.log(`      ${kind} of gateway ${node === a ? "A" : "B"} by ffmpeg: ${(pcm.length / 48_000).toFixed(2)} s, correlation ${match.correlation.toFixed(3)}`);
        assert.ok(match.correlation >= 0.9, `${kind} from ${node.http}: r = ${match.correlation.toFixed(3)}`);
      }
    });
  }

  // ffmpeg's DASH reader opens every representation (so it starts every rung) and starts its output
  // at the earliest of them: the test decodes the first, r0, for 5 s. It got 2.0-3.1 s from gateway
  // B while the AAC rung's segment numbers ran up to 2 s ahead of its media time (segment-window.ts)
  for (const [kind, file] of [["DASH", "dash/radio/manifest.mpd"]] as const) {
    it(`ffmpeg plays ${kind} from both gateways: the recording, r ≥ 0.9`, async () => {
      for (const node of [b, a]) {
        const { pcm, stderr } = await decode(`${node.http}/${file}`, 5, ["-map", "0:a:0"]);
        assert.ok(pcm.length >= 3.5 * 48_000, `${node.http}/${file}: 5 s asked, ${pcm.length / 48_000} s decoded (${stderr})`);
        const match = bestAlignment(pcm.subarray(4800), recording);
        console.log(`      ${kind} of gateway ${node === a ? "A" : "B"} by ffmpeg: ${(pcm.length / 48_000).toFixed(2)} s, correlation ${match.correlation.toFixed(3)}`);
        assert.ok(match.correlation >= 0.9, `${kind} from ${node.http}: r = ${match.correlation.toFixed(3)}`);
      }
    });
  }

  it("a DASH player's first request on a gateway: the segment the MPD's live edge and presentation delay point at is there (it was 3 s before a window that had one)", async () => {
    const cold = await startBroadcast(a.url, "cold", RECORDING, "mp3");
    try {
      await waitFor(async () => (((await (await fetch(`${a.http}/api/streams/cold`)).json()) as { state?: string }).state === "live"), 15_000, "cold on air");
      await sleep(4000);
      const text = await (await fetch(`${b.http}/dash/cold/manifest.mpd`)).text();
      const ast = Date.parse(/availabilityStartTime="([^"]+)"/.exec(text)![1]!);
      const delayS = Number(/suggestedPresentationDelay="PT([\d.]+)S"/.exec(text)![1]);
      const depthS = Number(/timeShiftBufferDepth="PT([\d.]+)S"/.exec(text)![1]);
      // DASH-IF IOP §4.3.3: the segment to start with is the one at now - availabilityStartTime - the delay
      const n = Math.floor((Date.now() - ast) / 1000 - delayS);
      const res = await fetch(`${b.http}/dash/cold/r0/s${n}.m4s`);
      console.log(`      cold gateway: window ${depthS} s, delay ${delayS} s, first segment s${n}: ${res.status}`);
      assert.ok(delayS <= depthS, `the delay (${delayS} s) is within the window (${depthS} s)`);
      assert.equal(res.status, 200, `s${n}: ${await res.clone().text()}`);
      const startS = tfdtOf(new Uint8Array(await res.arrayBuffer())) / 48_000;
      assert.ok(startS >= n && startS < n + 1, `s${n} starts at ${startS} s`);
    } finally {
      await cold.stop();
    }
  });

  it("the playlists: multivariant CODECS and BANDWIDTH; media playlists reloaded with blocking reload keep the validator's rules", async () => {
    const top = await fetch(`${b.http}/hls/radio/index.m3u8`);
    assert.equal(top.headers.get("content-type"), "application/vnd.apple.mpegurl");
    const variants = parse(await top.text()).playlists ?? [];
    assert.deepEqual(variants.map((v) => [v.uri, v.attributes.CODECS]), [["r0/media.m3u8", "opus"], ["r3/media.m3u8", "mp4a.40.2"], ["r1/media.m3u8", "opus"], ["r2/media.m3u8", "opus"]], "the ladder, best first");
    const nominal = [128_000, 128_000, 64_000, 32_000];
    variants.forEach((v, i) => assert.ok((v.attributes.BANDWIDTH ?? 0) >= nominal[i]! * 1.1, `${v.uri}: BANDWIDTH at least the nominal bit rate + 10 %`));
    const bandwidth = variants[0]!.attributes.BANDWIDTH ?? 0;
    const mediaUrl = `${b.http}/hls/radio/${variants[0]!.uri}`;
    let m = parse(await (await fetch(mediaUrl)).text());
    const seen = new Map<string, number>();
    let reloads = 0;
    const waits: number[] = [];
    for (const until = Date.now() + 5000; Date.now() < until; reloads++) {
      assert.equal(m.targetDuration, 1);
      assert.equal(m.partInf?.partTarget, 0.2);
      assert.equal(m.serverControl?.canBlockReload, true);
      m.segments.forEach((s, i) => {
        assert.equal(s.uri, `s${m.mediaSequence! + i}.m4s`, "media sequence numbers are consecutive");
        assert.ok(s.duration <= m.targetDuration! + 0.5, "EXTINF rounds to at most the target duration");
        const before = seen.get(s.uri);
        if (before !== undefined) assert.equal(s.duration, before, `${s.uri} keeps its duration across reloads`);
        seen.set(s.uri, s.duration);
        for (const part of s.parts ?? []) assert.ok(part.duration <= 0.2 + 1e-6 && part.duration >= 0.85 * 0.2, `part ${part.uri}: ${part.duration} s within 85-100 % of the target`);
      });
      const bytes = (await (await fetch(`${b.http}/hls/radio/r0/${m.segments[m.segments.length - 1]!.uri}`)).arrayBuffer()).byteLength;
      assert.ok((bytes * 8) / m.segments[m.segments.length - 1]!.duration <= bandwidth * 1.05, "BANDWIDTH is at least the segments' bit rate");
      // the next part, as an LL-HLS client asks for it
      const parts = m.preloadSegment?.parts?.length ?? 0;
      const msn = m.mediaSequence! + m.segments.length;
      const t0 = Date.now();
      const res = await fetch(`${mediaUrl}?_HLS_msn=${msn}&_HLS_part=${parts}`);
      waits.push(Date.now() - t0);
      assert.equal(res.status, 200);
      const next = parse(await res.text());
      const nextParts = next.mediaSequence! + next.segments.length > msn ? Infinity : (next.preloadSegment?.parts?.length ?? 0);
      assert.ok(nextParts > parts, `the blocked reload holds part ${parts} of segment ${msn}`);
      assert.ok(next.mediaSequence! >= m.mediaSequence!, "the media sequence never goes back");
      m = next;
    }
    console.log(`      ${reloads} blocking reloads in 5 s, each answered in ${Math.min(...waits)}-${Math.max(...waits)} ms (a part is 200 ms)`);
    assert.ok(reloads >= 15, "about one reload per part");
  });

  it("both gateways name the same audio alike: part p<msn>.<i> carries the same Opus packets", async () => {
    // the newest segment complete on both gateways
    let msn = -1;
    await waitFor(async () => {
      const [ma, mb] = await Promise.all([a, b].map(async (n) => parse(await (await fetch(`${n.http}/hls/radio/r0/media.m3u8`)).text())));
      const last = (m: ParsedManifest) => m.mediaSequence! + m.segments.length - 1;
      msn = Math.min(last(ma!), last(mb!));
      return ma!.segments.length >= 2 && mb!.segments.length >= 2 && msn >= Math.max(ma!.mediaSequence!, mb!.mediaSequence!);
    }, 10_000, "a segment complete on both gateways");
    for (const uri of [`p${msn}.0.m4s`, `p${msn}.3.m4s`, `s${msn}.m4s`]) {
      const [fromA, fromB] = await Promise.all([a, b].map(async (n) => new Uint8Array(await (await fetch(`${n.http}/hls/radio/r0/${uri}`)).arrayBuffer())));
      assert.ok(fromA!.length > 0 && fromB!.length > 0, uri);
      if (uri.startsWith("p")) assert.ok(mdatOf(fromA!).equals(mdatOf(fromB!)), `${uri}: the same packets on A and B (media time ${tfdtOf(fromA!)} and ${tfdtOf(fromB!)}, ${mdatOf(fromA!).length} and ${mdatOf(fromB!).length} bytes)`);
    }
  });

  it("on every rendition and both gateways, segment N starts at media time [N, N + 1) s, as the MPD's $Number$ template says (the AAC rung's 192 ms parts included)", async () => {
    const seen: string[] = [];
    for (const node of [a, b]) {
      for (const r of [0, 1, 2, 3]) {
        const m = parse(await (await fetch(`${node.http}/hls/radio/r${r}/media.m3u8`)).text());
        assert.ok(m.segments.length >= 5, `r${r} on ${node.http}: ${m.segments.length} segments listed`);
        for (const [i, seg] of m.segments.entries()) {
          const msn = m.mediaSequence! + i;
          const bytes = new Uint8Array(await (await fetch(`${node.http}/hls/radio/r${r}/${seg.uri}`)).arrayBuffer());
          const startS = tfdtOf(bytes) / 48_000;
          assert.ok(startS >= msn && startS < msn + 1, `r${r} on ${node === a ? "A" : "B"}: s${msn} starts at ${startS.toFixed(3)} s`);
          if (i === m.segments.length - 1) seen.push(`r${r}@${node === a ? "A" : "B"} s${msn}: ${startS.toFixed(3)} s`);
        }
      }
    }
    console.log(`      newest segments: ${seen.join(", ")}`);
  });

  it("bad requests get clear errors, HEAD works, and the gateway keeps serving", async () => {
    const cases: Array<[string, number]> = [
      ["hls/nothing/index.m3u8", 404], ["hls/bad$id/index.m3u8", 400], ["hls/radio/r9/media.m3u8", 404], ["hls/radio/x/media.m3u8", 404],
      ["hls/radio/r0/media.m3u8?_HLS_msn=abc", 400], ["hls/radio/r0/media.m3u8?_HLS_part=1", 400], ["hls/radio/r0/media.m3u8?_HLS_msn=999999999", 400],
      ["hls/radio/r0/s99999999.m4s", 404], ["hls/radio/r0/p1.99.m4s", 404], ["hls/radio/r0/../../etc/passwd", 404], ["hls/radio/r0/other.ts", 404],
      ["hls/radio/playlist.m3u8", 404], ["dash/radio/index.m3u8", 404], ["dash/nothing/manifest.mpd", 404],
    ];
    for (const [url, status] of cases) {
      const res = await fetch(`${b.http}/${url}`);
      assert.equal(res.status, status, `${url}: ${await res.text()}`);
    }
    const head = await fetch(`${b.http}/hls/radio/r0/init.mp4`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-type"), "audio/mp4");
    assert.ok(Number(head.headers.get("content-length")) > 100);
    assert.equal((await fetch(`${b.http}/dash/radio/manifest.mpd`)).headers.get("content-type"), "application/dash+xml");
    assert.equal((await fetch(`${b.http}/hls/radio/index.m3u8`)).status, 200, "still serving");
  });

  describe("hls.js in headless Chromium (the player page's fallback)", function () {
    let browser: Browser;
    before(async () => (browser = await launchChromium()));
    after(async () => browser?.close());

    it("plays the stream audibly, within 2 s of the broadcaster (EXT-X-PROGRAM-DATE-TIME to playback)", async () => {
      const page = await browser.newPage();
      await page.goto(`${b.http}/listen/radio?hls=1`);
      await waitFor(async () => ((await page.evaluate("window.vezaHls?.audio.currentTime ?? 0")) as number) > 2, 20_000, "hls.js playing");
      assert.equal(await page.textContent("#decoder"), "HLS (hls.js)");
      const rms = (await page.evaluate(RMS_IN_PAGE)) as number;
      const latencies: number[] = [];
      for (let i = 0; i < 10; i++, await sleep(300)) latencies.push(((await page.evaluate("window.vezaHls.latencyS()")) as number | null) ?? NaN);
      latencies.sort((x, y) => x - y);
      const median = latencies[5]!;
      console.log(`      hls.js: RMS ${rms.toFixed(3)}, latency from the broadcaster ${latencies[0]!.toFixed(2)}-${latencies[9]!.toFixed(2)} s (median ${median.toFixed(2)})`);
      assert.ok(rms > 0.01, `audible: RMS ${rms}`);
      assert.ok(median <= 2, `LL-HLS latency ${median} s`);
      assert.deepEqual(browser.errors, []);
    });
  });
});
