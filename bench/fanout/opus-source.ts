/**
 * The benchmark's audio: real Opus packets, 128 kbit/s CBR in 20 ms frames (320 bytes each),
 * encoded once with ffmpeg from a file and demuxed from Ogg with prism-media, then looped.
 *
 * Frames are matched between broadcaster and listeners by a 32-bit key read from the packet bytes
 * (the server re-stamps sequence number and media time, so the header cannot be used, and the
 * packet is left intact). Packets whose key is not unique in the loop are left out of the loop.
 */
import { spawn } from "node:child_process";
import ffmpegInstaller from "@ffmpeg-installer/ffmpeg";
import { opus } from "prism-media";

/** Options of {@link encodeOpusLoop}. */
export interface EncodeOptions {
  /** Where in the file to start, seconds (skips a quiet intro). */
  startSec: number;
  /** How much to encode, seconds; also the loop length, which bounds measurable latency. */
  seconds: number;
  /** Opus bit rate, bit/s. */
  bitrate: number;
}

/** The looped packets and what was left out. */
export interface OpusLoop {
  /** Opus packets, each with a key unique in the loop. */
  packets: Buffer[];
  /** Packets left out because their key repeated. */
  dropped: number;
  /** Sizes seen, bytes → count (CBR gives one size). */
  sizes: Record<number, number>;
}

/** Encodes `file` to Opus with ffmpeg and returns the demuxed packets, de-duplicated by key. */
export async function encodeOpusLoop(file: string, opts: EncodeOptions): Promise<OpusLoop> {
  const args = [
    "-hide_banner", "-loglevel", "error",
    "-ss", String(opts.startSec), "-t", String(opts.seconds), "-i", file,
    "-vn", "-ac", "2", "-ar", "48000",
    "-c:a", "libopus", "-b:a", String(opts.bitrate), "-frame_duration", "20", "-vbr", "off",
    "-f", "ogg", "pipe:1",
  ];
  const ff = spawn(ffmpegInstaller.path, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  ff.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const demuxer = new opus.OggDemuxer();
  const raw: Buffer[] = [];
  demuxer.on("data", (packet: Buffer) => raw.push(Buffer.from(packet)));
  const exited = new Promise<number>((resolve, reject) => {
    ff.on("error", reject);
    ff.on("close", (code) => resolve(code ?? -1));
  });
  const demuxed = new Promise<void>((resolve, reject) => {
    demuxer.on("end", resolve);
    demuxer.on("error", reject);
  });
  ff.stdout.pipe(demuxer);
  const code = await exited;
  if (code !== 0) throw new Error(`ffmpeg exited with ${code}: ${stderr.trim()}`);
  await demuxed;
  return uniqueLoop(raw);
}

/** Keeps the packets whose key is unique among all of them. */
export function uniqueLoop(raw: Buffer[]): OpusLoop {
  const seen = new Map<number, number>();
  const sizes: Record<number, number> = {};
  for (const p of raw) {
    const k = packetKey(p, 0, p.length);
    seen.set(k, (seen.get(k) ?? 0) + 1);
    sizes[p.length] = (sizes[p.length] ?? 0) + 1;
  }
  const packets = raw.filter((p) => p.length >= 12 && seen.get(packetKey(p, 0, p.length)) === 1);
  if (packets.length === 0) throw new Error("no usable Opus packets");
  return { packets, dropped: raw.length - packets.length, sizes };
}

/**
 * 32-bit key of the Opus packet in buf[start, end): four words of range-coded payload (after the
 * TOC byte, the middle, the end) mixed together. Reads only; no allocation. Packets under 12 bytes
 * all get key 0 and are never in the loop.
 */
export function packetKey(buf: Buffer, start: number, end: number): number {
  const len = end - start;
  if (len < 12) return 0;
  const a = buf.readUInt32LE(start + 1);
  const b = buf.readUInt32LE(start + (len >> 1));
  const c = buf.readUInt32LE(end - 8);
  const d = buf.readUInt32LE(end - 4);
  return (Math.imul(a ^ (b >>> 15), 0x9e3779b1) ^ Math.imul(c ^ (d << 7), 0x85ebca77) ^ d ^ len) >>> 0;
}
