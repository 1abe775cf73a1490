/**
 * Recording's cost, side by side in one run:
 *
 * 1. **CPU per recorded stream**: one node process (S3 on a local s3rver), K live streams of
 *    Opus at 128 kbit/s pushed by K broadcasters (their ffmpeg encoders are other processes); the
 *    node's user+system CPU (/proc/<pid>/stat) over W seconds with none recorded, then over W
 *    seconds with all K recorded (turned on through POST /api/streams/:id/recording, measured from
 *    12 s later, past the first uploads and the SDK's one-time module loading). The
 *    difference over K is what recording one stream costs the owner: muxing, spool writes with
 *    fsync, uploads.
 * 2. **Upload throughput**: a spool of M ready segments (each 10 s of 128 kbit/s Opus, ~160 KB)
 *    uploaded by the node's uploader (actors/recording/uploader.ts: one at a time, a manifest
 *    after each segment, the spool file removed) against the same bytes put one at a time by the
 *    SDK alone (the reference: what S3 and the SDK allow); streams' worth = bytes/s over 16 KB/s.
 *
 *   npm run bench:recording -- --streams 4 --seconds 20 --segments 100
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { NodeMetrics } from "../../actors/metrics";
import { saveState, type PartState } from "../../actors/recording/spool";
import { PartRecorder } from "../../actors/recording/part-recorder";
import { Uploader } from "../../actors/recording/uploader";
import { S3ObjectStore } from "../../transports/objects/s3";
import { testToken } from "../../test/support/auth";
import { startBroadcast } from "../../test/support/broadcast";
import { sleep, startNodeProcess } from "../../test/support/node-process";
import { s3Server } from "../../test/support/s3";

const { values } = parseArgs({ options: { streams: { type: "string", default: "4" }, seconds: { type: "string", default: "20" }, segments: { type: "string", default: "100" }, json: { type: "string" } } });
const K = Number(values.streams);
const W = Number(values.seconds);
const M = Number(values.segments);

/** User and system CPU seconds of process `pid`, all its threads (utime, stime in clock ticks of USER_HZ 100). */
function cpu(pid: number): { user: number; system: number } {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}

async function cpuPerStream(dir: string): Promise<Record<string, number>> {
  const s3 = await s3Server(path.join(dir, "s3-cpu"), "bench-cpu");
  const node = await startNodeProcess(["--log-format", "json"], { ...s3.env, DATA_DIR: path.join(dir, "data"), RECORD_SPOOL_DIR: path.join(dir, "spool") });
  const ids = Array.from({ length: K }, (_, i) => `bench-rec-${i}`);
  const broadcasts = await Promise.all(ids.map((id) => startBroadcast(node.url, id, "awakening.ogg", "opus", { loop: true })));
  try {
    await sleep(3000);
    const pid = node.proc.pid!;
    const a0 = cpu(pid);
    await sleep(W * 1000);
    const a1 = cpu(pid);
    const plain = a1.user + a1.system - a0.user - a0.system;
    const plainSystemS = a1.system - a0.system;
    const admin = await testToken("admin", ["*"]);
    for (const id of ids) {
      const r = await fetch(`${node.http}/api/streams/${id}/recording`, { method: "POST", headers: { authorization: `Bearer ${admin}` } });
      if (r.status !== 201) throw new Error(`recording ${id}: ${r.status} ${await r.text()}`);
    }
    // past the first uploads: the SDK loads its modules at its first request, a one-time cost
    await sleep(12_000);
    const b0 = cpu(pid);
    await sleep(W * 1000);
    const b1 = cpu(pid);
    const recording = b1.user + b1.system - b0.user - b0.system;
    const systemS = b1.system - b0.system;
    const perStreamPct = ((recording - plain) / W / K) * 100;
    console.log(`CPU of the node over ${W} s, ${K} live streams: not recorded ${plain.toFixed(2)} s, recorded ${recording.toFixed(2)} s (×${(recording / plain).toFixed(2)}); recording one stream costs ${perStreamPct.toFixed(2)} % of a core (system time ${plainSystemS.toFixed(2)} s → ${systemS.toFixed(2)} s: the spool's writes and fsyncs)`);
    return { streams: K, windowS: W, cpuPlainS: plain, cpuRecordingS: recording, cpuPlainSystemS: plainSystemS, cpuRecordingSystemS: systemS, ratio: recording / plain, perStreamCorePct: perStreamPct };
  } finally {
    await Promise.all(broadcasts.map((b) => b.stop()));
    await node.stop();
    await s3.stop();
  }
}

/** A spool of `n` closed segments of 10 s, recorded by the real PartRecorder from real-size packets. */
async function spoolOf(dir: string, n: number): Promise<PartState> {
  const state: PartState = {
    dir: path.join(dir, "spool", "bench", "20261202T100000Z", "p"), recording: { version: 1, id: "20261202T100000Z", streamId: "bench", title: "bench", channels: 2, segmentSeconds: 10, startedAt: new Date().toISOString(), endedAt: null },
    infoPending: false, open: null, uploaded: [],
    manifest: { version: 1, recordingId: "20261202T100000Z", streamId: "bench", part: "p", node: "bench", began: "start", startedAt: new Date().toISOString(), endedAt: null, segments: [], gaps: [] },
  };
  await saveState(state);
  const recorder = new PartRecorder(state, 10 * 48_000, { room: () => true, wrote: () => {}, ready: () => {}, dropped: () => {}, onError: (e) => { throw e; } });
  const packet = new Uint8Array(320); // 320 bytes per 20 ms: 128 kbit/s
  packet[0] = 0xfc; // CELT fullband 20 ms stereo, one frame
  for (let i = 1; i < packet.length; i++) packet[i] = (i * 97) & 0xff;
  for (let t = 0; t < n * 10 * 48_000; t += 960) recorder.frame(t, 960, packet, false, Date.now());
  await recorder.close();
  return state;
}

async function uploadThroughput(dir: string): Promise<Record<string, number>> {
  const s3 = await s3Server(path.join(dir, "s3-up"), "bench-up");
  // the in-process store takes its credentials as a node does: the SDK's environment variables
  process.env.AWS_ACCESS_KEY_ID = s3.env.AWS_ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY = s3.env.AWS_SECRET_ACCESS_KEY;
  try {
    const state = await spoolOf(dir, M);
    const bytes = state.manifest.segments.reduce((s, g) => s + g.bytes, 0);
    const bodies = state.manifest.segments.map((g) => fs.readFileSync(path.join(state.dir, `${g.n}.opus`)));
    // the reference: the SDK alone, one put at a time
    const client = new S3Client({ endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
    const store = new S3ObjectStore({ bucket: "bench-up", region: "us-east-1", endpoint: s3.endpoint, forcePathStyle: true });
    await store.put("warm-up", new Uint8Array(1), "application/octet-stream");
    const r0 = performance.now();
    for (const [i, body] of bodies.entries()) await client.send(new PutObjectCommand({ Bucket: "bench-up", Key: `reference/${i}.opus`, Body: body, ContentType: "audio/ogg" }));
    const referenceS = (performance.now() - r0) / 1000;
    client.destroy();
    const uploader = new Uploader(store, new NodeMetrics(), pino({ level: "silent" }), () => {});
    const u0 = performance.now();
    uploader.add(state);
    if (!(await uploader.drained(600_000))) throw new Error("the spool did not drain");
    const uploaderS = (performance.now() - u0) / 1000;
    store.close();
    const mbps = (b: number, s: number) => b / s / 1e6;
    console.log(`upload of ${M} segments (${(bytes / 1e6).toFixed(1)} MB): uploader ${uploaderS.toFixed(2)} s = ${mbps(bytes, uploaderS).toFixed(2)} MB/s (${(bytes / uploaderS / 16_000).toFixed(0)} streams' worth at 128 kbit/s); the SDK alone ${referenceS.toFixed(2)} s = ${mbps(bytes, referenceS).toFixed(2)} MB/s; ratio ${(uploaderS / referenceS).toFixed(2)}`);
    return { segments: M, bytes, uploaderS, referenceS, uploaderMBps: mbps(bytes, uploaderS), referenceMBps: mbps(bytes, referenceS), ratio: uploaderS / referenceS, streamsWorth: bytes / uploaderS / 16_000 };
  } finally {
    await s3.stop();
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "veza-bench-rec-"));
  try {
    const upload = await uploadThroughput(dir);
    const cpu = await cpuPerStream(dir);
    const result = { date: new Date().toISOString(), cpu, upload, machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model } };
    if (values.json) fs.writeFileSync(values.json, JSON.stringify(result, null, 2));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}


main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
