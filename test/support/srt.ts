/**
 * Helpers of the SRT tests: real SRT peers (ffmpeg built with libsrt, Debian's; srt-live-transmit
 * from srt-tools) and a free UDP port.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import path from "node:path";
import { MEDIA } from "./node-process";

/** An ffmpeg with SRT (libsrt): Debian's. The static build the project may fall back to has none. */
export const SRT_FFMPEG = "/usr/bin/ffmpeg";

/** Why the SRT peers are missing (install them as .ci/run does), or null. */
export function srtPeersMissing(): string | null {
  const protocols = spawnSync(SRT_FFMPEG, ["-hide_banner", "-protocols"], { encoding: "utf8" });
  if (protocols.status !== 0 || !/^\s*srt$/m.test(protocols.stdout)) return `${SRT_FFMPEG} with libsrt is missing: apt-get install ffmpeg`;
  if (spawnSync("sh", ["-c", "command -v srt-live-transmit"]).status !== 0) return "srt-live-transmit is missing: apt-get install srt-tools";
  if (!/^\s*rist$/m.test(protocols.stdout)) return `${SRT_FFMPEG} with librist is missing: apt-get install ffmpeg`;
  if (spawnSync("sh", ["-c", "command -v ristsender"]).status !== 0) return "ristsender is missing: apt-get install rist-tools";
  return null;
}

/** A UDP port free on 127.0.0.1 now. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket("udp4");
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The SRT URL ffmpeg and srt-live-transmit call with; the streamid as it is (neither decodes it). */
export function srtUrl(port: number, streamId: string, extra = ""): string {
  return `srt://127.0.0.1:${port}?streamid=${streamId}${extra}`;
}

/** ffmpeg pushing `file` in real time as MPEG-TS with `codec` audio (aac, mp3, libopus) over SRT. */
export function ffmpegSrtPublish(file: string, url: string, codec = "aac", seconds = 30): ChildProcess & { stderrText: () => string } {
  const p = spawn(SRT_FFMPEG, ["-hide_banner", "-loglevel", "error", "-re", "-t", String(seconds), "-i", path.join(MEDIA, file), "-vn", "-c:a", codec, "-b:a", "128k", "-f", "mpegts", url], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  p.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  return Object.assign(p, { stderrText: () => err });
}

/**
 * ffmpeg reading `seconds` of an SRT URL, decoded to WAV at `out`; resolves with its exit code and
 * stderr. Killed (code null) `seconds` + 20 s after its start: a listener nobody calls (`-t` counts
 * from the first packet) would wait for ever and outlive the test.
 */
export function ffmpegSrtRead(url: string, seconds: number, out: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(SRT_FFMPEG, ["-hide_banner", "-loglevel", "error", "-i", url, "-t", String(seconds), "-vn", "-ac", "1", "-ar", "48000", "-y", out], { stdio: ["ignore", "ignore", "pipe"] });
    const timer = setTimeout(() => p.kill("SIGKILL"), (seconds + 20) * 1000);
    let stderr = "";
    p.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}
