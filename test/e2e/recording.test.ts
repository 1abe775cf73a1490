/**
 * Recording to S3 on a real node with a real S3 server (s3rver, test/support/s3.ts): a broadcast
 * recorded while the S3 server is stopped for 60 s loses no audio (every frame the stream stamped
 * is in S3, the spool drains once the server is back, the upload failures are counted); the whole
 * recording, downloaded as one Ogg/Opus file, decodes with ffmpeg, has continuous media time, and
 * correlates ≥ 0.9 with what a WebSocket listener heard; Range requests answer 206 and 416; its HLS
 * VOD plays through ffmpeg with silence fragments in the gaps. A node
 * killed mid-recording uploads what it had spooled when it starts again, the part marked interrupted.
 * In a cluster (NATS, Redis), the owner killed mid-recording: the next owner goes on with the same
 * recording in a new part (began: failover), the dead owner's spool goes up when it comes back, and
 * the only hole is the failover's, named so in the manifest.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Listener } from "../../bin/commands/listen";
import { resolveFfmpegPath } from "../../transports/ffmpeg/ffmpeg-path";
import { bestAlignment, decodeOpusPackets } from "../support/audio-match";
import { testToken } from "../support/auth";
import { startBroadcast } from "../support/broadcast";
import { sleep, startNodeProcess, waitFor, type NodeProcess } from "../support/node-process";
import { s3Server, type S3Server } from "../support/s3";
import { startCluster, streamOwnedBy } from "../support/cluster";
import { launchChromium, waitForValue } from "../support/browser";
import { NATS_URL, REDIS_URL } from "../support/services";

interface Summary { id: string; durationS: number; audioS: number; segments: number; gaps: number; url: string; hls: string; endedAt: string | null }
interface View { segments: { mediaStart: number; mediaEnd: number }[]; gaps: { reason: string; seconds: number }[]; durationS: number; parts: { interrupted?: boolean; began: string }[]; mediaStart: number; audioS: number }

async function metric(node: NodeProcess, name: string): Promise<number> {
  const text = await (await fetch(`${node.http}/metrics`)).text();
  return text.split("\n").filter((l) => l.startsWith(name) && !l.startsWith(`${name}_`)).reduce((s, l) => s + Number(l.split(" ").pop()), 0);
}

async function recordings(node: NodeProcess, streamId: string): Promise<Summary[]> {
  const r = await fetch(`${node.http}/api/recordings?stream=${streamId}`);
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as Summary[];
}

/** Decodes an Ogg/Opus file to mono 48 kHz float PCM with ffmpeg. */
function decodeWithFfmpeg(file: string): Float32Array {
  const raw = execFileSync(resolveFfmpegPath(), ["-v", "error", "-i", file, "-ac", "1", "-ar", "48000", "-f", "f32le", "-"], { maxBuffer: 256 * 1024 * 1024 });
  return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
}

describe("recording: S3 (s3rver) through an outage and a node's death", function () {
  this.timeout(240_000);
  let dir: string;
  let s3: S3Server;

  beforeEach(async () => {
    dir = fs.mkdtempSync(`${os.tmpdir()}/veza-rec-`);
    s3 = await s3Server(path.join(dir, "s3"), "veza-rec");
  });
  afterEach(async () => {
    await s3.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("S3 stopped for 60 s mid-recording: every frame reaches S3, the spool drains, the file decodes and matches what a listener heard", async () => {
    const node = await startNodeProcess(["--log-format", "json"], { ...s3.env, DATA_DIR: path.join(dir, "data"), RECORD_SPOOL_DIR: path.join(dir, "spool"), RECORD_SEGMENT_S: "5" });
    try {
      const listener = new Listener(node.url, "rec-outage");
      const heard: Uint8Array[] = [];
      listener.onFrame = (f) => void heard.push(f.packet.slice());
      await listener.opened;
      const broadcast = await startBroadcast(node.url, "rec-outage", "awakening.ogg", "opus", { record: true });
      await sleep(10_000);
      await s3.stop();
      const outageAt = Date.now();
      await waitFor(async () => (await metric(node, "veza_recording_uploads_total")) > 0 && (await fetch(`${node.http}/metrics`).then((r) => r.text())).includes('veza_recording_uploads_total{result="failed"}'), 30_000, "a failed upload");
      await sleep(60_000 - (Date.now() - outageAt));
      const spooled = await metric(node, "veza_recording_spool_bytes");
      assert.ok(spooled > 100_000, `the spool holds the outage's audio: ${spooled} bytes`);
      await s3.start();
      await sleep(8000);
      await broadcast.stop();
      listener.close();
      await waitFor(async () => (await metric(node, "veza_recording_spool_bytes")) === 0 && (await recordings(node, "rec-outage"))[0]?.endedAt != null, 30_000, "the spool drained and the recording ended");
      const stream = (await (await fetch(`${node.http}/api/streams/rec-outage`)).json()) as { mediaTime: number; frames: number };
      const [rec] = await recordings(node, "rec-outage");
      assert.ok(rec);
      const failed = Number((await (await fetch(`${node.http}/metrics`)).text()).match(/veza_recording_uploads_total\{result="failed"\} (\d+)/)?.[1] ?? 0);
      console.log(`      broadcast ${(stream.mediaTime / 48_000).toFixed(2)} s, in S3 ${rec.audioS.toFixed(2)} s in ${rec.segments} segments, ${rec.gaps} gaps; ${failed} failed uploads during the outage, spool peak ≥ ${spooled} bytes`);
      assert.equal(Math.round(rec.audioS * 48_000), stream.mediaTime, "every sample the stream stamped is in S3");
      assert.equal(rec.gaps, 0);
      assert.ok(failed > 0);
      const view = (await (await fetch(`${node.http}${(rec as unknown as { manifest: string }).manifest}`)).json()) as View;
      for (let i = 1; i < view.segments.length; i++) assert.equal(view.segments[i]!.mediaStart, view.segments[i - 1]!.mediaEnd, "media time continuous");
      const keys = await s3.keys("veza-rec", `recordings/rec-outage/${rec.id}/`);
      assert.equal(keys.filter((k) => k.endsWith(".opus")).length, rec.segments, "each segment is an object in the bucket");
      assert.ok(keys.some((k) => k.endsWith("recording.json")) && keys.some((k) => k.includes("/parts/")));

      const file = path.join(dir, "whole.opus");
      const whole = await fetch(`${node.http}${rec.url}`);
      assert.equal(whole.status, 200);
      const bytes = new Uint8Array(await whole.arrayBuffer());
      assert.equal(Number(whole.headers.get("content-length")), bytes.length);
      fs.writeFileSync(file, bytes);
      const decoded = decodeWithFfmpeg(file);
      assert.ok(Math.abs(decoded.length - stream.mediaTime) <= 960, `decoded ${decoded.length} samples, the broadcast ${stream.mediaTime}`);
      const listened = await decodeOpusPackets(heard, 2);
      const excerpt = listened.subarray(48_000 * 20, 48_000 * 26); // 6 s from the middle of the outage
      const match = bestAlignment(excerpt, decoded);
      console.log(`      the listener's 20-26 s found in the recording at ${(match.lagSamples / 48_000).toFixed(3)} s, correlation ${match.correlation.toFixed(3)}`);
      assert.ok(match.correlation >= 0.9, `correlation ${match.correlation}`);

      const part = await fetch(`${node.http}${rec.url}`, { headers: { range: "bytes=1000-1999" } });
      assert.equal(part.status, 206);
      assert.equal(part.headers.get("content-range"), `bytes 1000-1999/${bytes.length}`);
      assert.deepEqual(new Uint8Array(await part.arrayBuffer()), bytes.subarray(1000, 2000));
      const outside = await fetch(`${node.http}${rec.url}`, { headers: { range: `bytes=${bytes.length + 10}-` } });
      assert.equal(outside.status, 416);
      assert.equal(outside.headers.get("content-range"), `bytes */${bytes.length}`);
      for (const bad of [`/recordings/rec-outage/nope.opus`, `/recordings/rec-outage/20991231T000000Z.opus`, `/api/recordings/rec-outage/..%2F..`]) {
        const r = await fetch(`${node.http}${bad}`);
        assert.equal(r.status, 404, bad);
      }
      assert.equal((await fetch(`${node.http}/api/recordings?stream=../x`)).status, 400);
    } finally {
      await node.stop();
    }
  });

  it("a node killed mid-recording uploads its spooled segments when it starts again; the part is marked interrupted", async () => {
    const env = { ...s3.env, DATA_DIR: path.join(dir, "data"), RECORD_SPOOL_DIR: path.join(dir, "spool"), RECORD_SEGMENT_S: "4", RECORD_STREAMS: "rec-kill" };
    let node = await startNodeProcess(["--log-format", "json"], env);
    await s3.stop(); // nothing goes up before the kill: all of it is in the spool
    const broadcast = await startBroadcast(node.url, "rec-kill", "awakening.ogg", "opus");
    await sleep(11_000);
    const stamped = ((await (await fetch(`${node.http}/api/streams/rec-kill`)).json()) as { mediaTime: number }).mediaTime;
    // listened for before the kill: the node may be gone before broadcast.stop() returns
    const exited = new Promise((r) => node.proc.once("exit", r));
    node.proc.kill("SIGKILL");
    await broadcast.stop().catch(() => undefined);
    await exited;
    await s3.start();
    node = await startNodeProcess(["--log-format", "json"], env);
    try {
      await waitFor(async () => (await recordings(node, "rec-kill")).length === 1 && (await metric(node, "veza_recording_spool_bytes")) === 0, 30_000, "the spooled recording uploaded");
      const [rec] = await recordings(node, "rec-kill");
      const view = (await (await fetch(`${node.http}/api/recordings/rec-kill/${rec!.id}`)).json()) as View;
      console.log(`      stamped ${(stamped / 48_000).toFixed(2)} s before the kill; uploaded after the restart: ${view.audioS.toFixed(2)} s in ${view.segments.length} segments`);
      assert.equal(view.parts[0]?.interrupted, true);
      assert.ok(view.segments.length >= 3, "two closed segments and the one being written");
      assert.ok(view.audioS >= stamped / 48_000 - 1.5, `at most the last second (not yet fsynced) is lost: ${view.audioS} s of ${stamped / 48_000} s`);
      assert.equal(fs.readdirSync(path.join(dir, "spool")).length, 0, "the spool is empty");
    } finally {
      await node.stop();
    }
  });

  it("the owner killed in a cluster: the next owner goes on in a new part, the dead one's spool goes up at its restart, the gap is named failover", async () => {
    const nodeEnv = (name: string) => ({ DATA_DIR: path.join(dir, name), RECORD_SPOOL_DIR: path.join(dir, `spool-${name}`) });
    const cluster = await startCluster(
      [
        { name: "a", services: "gateway,stream,encoder", env: nodeEnv("a") },
        { name: "b", services: "gateway", env: nodeEnv("b") },
        { name: "c", services: "stream,encoder", env: nodeEnv("c") },
      ],
      { ...s3.env, RECORD_SEGMENT_S: "4" } as Record<string, string>,
    );
    const { a, b, c } = cluster.nodes as Record<"a" | "b" | "c", NodeProcess>;
    let c2: NodeProcess | null = null;
    try {
      const streamId = streamOwnedBy("c", ["a", "c"], "recfail");
      const broadcast = await startBroadcast([b.url, a.url], streamId, "awakening.ogg", "opus", { reconnect: true, record: true });
      await sleep(9000);
      c.proc.kill("SIGKILL");
      await waitFor(async () => ((await (await fetch(`${b.http}/api/streams/${streamId}`)).json()) as { owner: string; state: string }).owner === "a", 15_000, "the stream re-homed on a");
      await sleep(9000);
      await broadcast.stop();
      c2 = await startNodeProcess(["--node-id", "c", "--services", "stream,encoder", "--log-format", "json"], { NATS_URL, REDIS_URL, CLUSTER_NAMESPACE: cluster.namespace, ...s3.env, RECORD_SEGMENT_S: "4", ...nodeEnv("c") });
      let view: View | null = null;
      await waitFor(async () => {
        const [rec] = await recordings(b, streamId);
        if (!rec?.endedAt) return false;
        view = (await (await fetch(`${b.http}/api/recordings/${streamId}/${rec.id}`)).json()) as View;
        return view.parts.length === 2 && view.parts.some((p) => p.interrupted);
      }, 30_000, "both parts in S3");
      const v = view! as View;
      console.log(`      parts: ${v.parts.map((p) => `${p.began}${p.interrupted ? " (interrupted)" : ""}`).join(", ")}; ${v.audioS.toFixed(2)} s of audio over ${v.durationS.toFixed(2)} s; gaps ${JSON.stringify(v.gaps.map((g) => [g.reason, g.seconds]))}`);
      assert.deepEqual(v.parts.map((p) => p.began).sort(), ["failover", "start"]);
      assert.ok(v.gaps.length >= 1 && v.gaps.every((g) => g.reason === "failover"), "the hole is the failover's");
      assert.ok(v.gaps.reduce((t, g) => t + g.seconds, 0) < 5, "a failover's hole, not more");
      assert.ok(v.audioS > 14, `${v.audioS} s recorded of about 18 s`);
      const file = path.join(dir, "failover.opus");
      fs.writeFileSync(file, new Uint8Array(await (await fetch(`${b.http}/recordings/${streamId}/${(await recordings(b, streamId))[0]!.id}.opus`)).arrayBuffer()));
      const decoded = decodeWithFfmpeg(file);
      assert.ok(Math.abs(decoded.length / 48_000 - v.durationS) < 0.05, `the file plays ${decoded.length / 48_000} s: the recording's span, the gap as silence`);
      // the HLS VOD of the same recording, through ffmpeg's HLS demuxer: segments and gap fragments
      const rec = (await recordings(b, streamId))[0]!;
      const playlist = await (await fetch(`${b.http}${rec.hls}`)).text();
      assert.match(playlist, /#EXT-X-ENDLIST/);
      assert.match(playlist, /gap-\d+-\d+\.m4s/, "the failover's hole is a silence fragment");
      const hls = decodeWithFfmpeg(`${b.http}${rec.hls}`);
      console.log(`      HLS VOD: ${playlist.split("\n").filter((l) => l.endsWith(".m4s")).length} fragments, ${(hls.length / 48_000).toFixed(2)} s decoded`);
      assert.ok(Math.abs(hls.length / 48_000 - v.durationS) < 0.25, `HLS plays ${hls.length / 48_000} s of ${v.durationS} s`);
      assert.ok(bestAlignment(hls.subarray(48_000 * 2, 48_000 * 6), decoded).correlation >= 0.9, "the HLS audio is the recording's");
    } finally {
      await c2?.stop();
      await cluster.stop();
    }
  });
});

describe("recording: the default store (DATA_DIR) and the player page", function () {
  this.timeout(120_000);

  it("a recording kept in DATA_DIR (no S3) plays in the player page's <audio>, which sees its whole duration", async () => {
    const dir = fs.mkdtempSync(`${os.tmpdir()}/veza-rec-page-`);
    const node = await startNodeProcess(["--log-format", "json"], { DATA_DIR: dir, RECORD_SEGMENT_S: "3" });
    const browser = await launchChromium();
    try {
      const broadcast = await startBroadcast(node.url, "rec-page", "apex-aleph.ogg", "opus", { record: true });
      await sleep(7000);
      await broadcast.stop();
      await waitFor(async () => (await recordings(node, "rec-page"))[0]?.endedAt != null, 15_000, "the recording ended");
      const [rec] = await recordings(node, "rec-page");
      assert.ok(fs.existsSync(path.join(dir, "recordings", "rec-page", rec!.id, "recording.json")), "kept under DATA_DIR/recordings");
      const page = await browser.newPage();
      await page.goto(`${node.http}/listen/rec-page`);
      await page.locator(`button[data-recording="${rec!.id}"]`).click();
      const state = await waitForValue(
        () => page.evaluate(`(() => { const a = document.getElementById("recording-audio"); return { t: a.currentTime, d: a.duration, err: a.error ? a.error.message || String(a.error.code) : null }; })()`) as Promise<{ t: number; d: number; err: string | null }>,
        (s) => s.err !== null || s.t > 2,
        20_000,
        "the recording playing",
      );
      console.log(`      the page played ${state.t.toFixed(2)} s of a ${state.d.toFixed(2)} s recording (${rec!.durationS.toFixed(2)} s in the manifest)`);
      assert.equal(state.err, null);
      assert.ok(Math.abs(state.d - rec!.durationS) < 0.1, `the <audio> sees ${state.d} s`);
      assert.deepEqual(browser.errors, []);
    } finally {
      await browser.close();
      await node.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
