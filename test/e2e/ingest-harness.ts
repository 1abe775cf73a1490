/**
 * What the ingest tests (ingest-*.test.ts) drive a node with, as a user would: fixtures cut from
 * the real recordings in ../shared/media by ffmpeg (through the project's FfmpegProcess), a
 * broadcaster that sends a byte stream in real-time-paced chunks over a real WebSocket, and a
 * listener that keeps every Opus packet it receives.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import WebSocket from "ws";
import { Listener } from "../../bin/commands/listen";
import { AudioFlag } from "../../media/wire";
import { resolveFfmpegPath } from "../../transports/ffmpeg/ffmpeg-path";
import { FfmpegProcess, type FfmpegGeneration } from "../../transports/ffmpeg/ffmpeg-process";
import { waitFor } from "../support/node-process";
import { testToken } from "../support/auth";

/** Samples per second of Opus media time, Hz. */
export const OPUS_RATE = 48_000;
/** One Opus frame as the encoder makes them: 20 ms, in samples at 48 kHz. */
export const FRAME = 960;

/** Runs ffmpeg on `input` and returns what it writes to stdout. @throws FfmpegError when ffmpeg fails. */
export function ffmpegOutput(input: string, inputOptions: string[], outputOptions: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const process = new FfmpegProcess({ ffmpegPath: resolveFfmpegPath(), input, inputOptions, outputOptions, maxRestarts: 0, log: pino({ level: "silent" }) });
    let exited = false;
    let output: Buffer | null = null;
    const settle = () => exited && output && resolve(output);
    process.on("failed", reject);
    process.on("end", () => ((exited = true), settle()));
    process.on("spawn", (g: FfmpegGeneration) => {
      const out: Buffer[] = [];
      g.stdout.on("data", (b: Buffer) => out.push(b));
      g.stdout.on("end", () => ((output = Buffer.concat(out)), settle()));
    });
    process.start();
  });
}

/** A file in a fresh temporary folder, removed by {@link removeTemp}. */
const tempDir = path.join(os.tmpdir(), `veza-ingest-${process.pid}`);
export function writeTemp(name: string, bytes: Uint8Array): string {
  fs.mkdirSync(tempDir, { recursive: true });
  const file = path.join(tempDir, name);
  fs.writeFileSync(file, bytes);
  return file;
}
export function removeTemp(): void {
  fs.rmSync(tempDir, { recursive: true, force: true });
}

/** Sets a WAV's RIFF and data chunk sizes (ffmpeg writing to a pipe cannot go back to fill them). */
export function fixWavSizes(wav: Buffer, dataOffset: number): Buffer {
  wav.writeUInt32LE(wav.length - 8, 4);
  wav.writeUInt32LE(wav.length - dataOffset, dataOffset - 4);
  return wav;
}

/** What a broadcast sends: the stream.start message and the bytes, paced at `bytesPerSecond`. */
export interface BroadcastPlan {
  start: Record<string, unknown>;
  bytes: Uint8Array;
  bytesPerSecond: number;
  /** Called once `atMs` (ms of media) have been sent. */
  at?: { atMs: number; run(): Promise<void> | void };
}

/**
 * Connects a broadcaster to `url`, sends `stream.start`, waits for `stream.started`, sends the
 * bytes in 20 ms chunks on a real-time schedule, then `stream.stop`, and resolves when the server
 * closed the socket.
 * @returns when the first chunk was sent (performance.now(), ms)
 * @throws Error when the server answers with an error or the socket closes before stream.started.
 */
export async function broadcast(url: string, streamId: string, plan: BroadcastPlan): Promise<number> {
  const ws = new WebSocket(`${url}/ws/publish/${streamId}`, { headers: { authorization: `Bearer ${await testToken("publish", [streamId])}` } });
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once("error", reject);
    ws.once("open", () => ws.send(JSON.stringify({ type: "stream.start", ...plan.start })));
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      const msg = JSON.parse(data.toString()) as { type: string; message?: string };
      if (msg.type === "stream.started") resolve();
      if (msg.type === "error") reject(new Error(`broadcaster refused: ${msg.message}`));
    });
    void closed.then((code) => reject(new Error(`broadcaster closed with ${code} before stream.started`)));
  });
  const chunk = Math.max(1, Math.round(plan.bytesPerSecond / 50));
  const t0 = performance.now();
  let atDone = plan.at === undefined;
  for (let at = 0, k = 0; at < plan.bytes.length; at += chunk, k++) {
    const wait = t0 + k * 20 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    ws.send(plan.bytes.subarray(at, at + chunk), { binary: true });
    if (!atDone && plan.at && (k + 1) * 20 >= plan.at.atMs) {
      atDone = true;
      await plan.at.run();
    }
  }
  ws.send(JSON.stringify({ type: "stream.stop" }));
  await closed;
  return t0;
}

/** A listener that keeps every frame: its Opus packets and the media time they cover (samples at 48 kHz). */
export class KeepingListener {
  readonly listener: Listener;
  readonly packets: Uint8Array[] = [];
  samples = 0;
  discontinuities = 0;
  /** When the first frame arrived (performance.now(), ms), or null. */
  firstFrameAt: number | null = null;

  constructor(url: string, streamId: string) {
    this.listener = new Listener(url, streamId);
    this.listener.onFrame = (frame) => {
      this.firstFrameAt ??= performance.now();
      this.packets.push(frame.packet.slice());
      this.samples += frame.duration;
      if (frame.flags & AudioFlag.DISCONTINUITY) this.discontinuities++;
    };
  }

  /** Waits until the stream has gone off air and no frame came for 300 ms. */
  async untilEnded(timeoutMs: number): Promise<void> {
    await waitFor(() => ["ended", "offline"].includes(this.listener.last("stream.status")?.state ?? ""), timeoutMs, "the stream to go off air");
    let seen = -1;
    await waitFor(async () => {
      const now = this.packets.length;
      if (now === seen) return true;
      seen = now;
      await new Promise((r) => setTimeout(r, 300));
      return false;
    }, timeoutMs, "the last frames");
  }
}
