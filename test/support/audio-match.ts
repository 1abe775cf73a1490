/**
 * Helpers for tests that prove listeners hear the actual recording: decode what they received,
 * decode the source with ffmpeg, and find where the one sits in the other.
 *
 * All PCM here is mono Float32 at 48 kHz; lags and lengths are in samples at 48 kHz.
 * ffmpeg and ffprobe are the static builds of @ffmpeg-installer and @ffprobe-installer.
 */
import { spawn } from "node:child_process";
import { OpusDecoder } from "opus-decoder";
import ffmpegInstaller from "@ffmpeg-installer/ffmpeg";
import ffprobeInstaller from "@ffprobe-installer/ffprobe";
import { opus } from "prism-media";

/** Sample rate of every PCM array in this module, in Hz. */
export const PCM_RATE = 48_000;

const FFMPEG = ffmpegInstaller.path;
const FFPROBE = ffprobeInstaller.path;

/**
 * Decodes Opus packets in order with libopus (the `opus-decoder` WebAssembly build) and returns
 * mono PCM at 48 kHz, the average of the channels. The decoder's own delay is kept unless
 * `opts.preSkip` (samples at 48 kHz, e.g. from OpusHead) says how many leading samples to drop.
 */
export async function decodeOpusPackets(
  packets: Uint8Array[],
  channels: 1 | 2,
  opts: { preSkip?: number } = {},
): Promise<Float32Array> {
  const decoder = new OpusDecoder({ channels, preSkip: 0 });
  await decoder.ready;
  try {
    const chunks: Float32Array[] = [];
    for (const packet of packets) {
      const { channelData, samplesDecoded, errors } = decoder.decodeFrame(packet);
      if (errors.length > 0) throw new Error(`opus-decoder: ${errors[0]?.message ?? "error"}`);
      const mono = new Float32Array(samplesDecoded);
      for (const channel of channelData) {
        for (let i = 0; i < samplesDecoded; i++) mono[i]! += (channel[i] ?? 0) / channelData.length;
      }
      chunks.push(mono);
    }
    return concatFloat(chunks).subarray(opts.preSkip ?? 0);
  } finally {
    decoder.free();
  }
}

/** Decodes `seconds` of a media file from `startSeconds` (default 0) to mono 48 kHz PCM with ffmpeg. */
export async function decodeFileWithFfmpeg(path: string, opts: { startSeconds?: number; seconds: number }): Promise<Float32Array> {
  const seek = opts.startSeconds ? ["-ss", String(opts.startSeconds)] : [];
  const { stdout: out } = await run(FFMPEG, ["-v", "error", ...seek, "-t", String(opts.seconds), "-i", path, "-f", "f32le", "-ac", "1", "-ar", "48000", "pipe:1"]);
  const aligned = new Uint8Array(out.length - (out.length % 4));
  aligned.set(out.subarray(0, aligned.length));
  return new Float32Array(aligned.buffer);
}

/** Opus packets and headers as prism-media's OggDemuxer returns them. */
export interface DemuxedOggOpus {
  /** Audio packets, in order; OpusHead and OpusTags are not among them. */
  packets: Uint8Array[];
  /** The OpusHead packet, or null if none was seen. */
  head: Uint8Array | null;
  /** The OpusTags packet, or null if none was seen. */
  tags: Uint8Array | null;
}

/** Demuxes a whole Ogg Opus file held in memory with prism-media's `opus.OggDemuxer`. */
export function demuxOggOpus(bytes: Uint8Array): Promise<DemuxedOggOpus> {
  return new Promise((resolve, reject) => {
    const demuxer = new opus.OggDemuxer();
    const result: DemuxedOggOpus = { packets: [], head: null, tags: null };
    demuxer.on("head", (h: Buffer) => (result.head = h));
    demuxer.on("tags", (t: Buffer) => (result.tags = t));
    demuxer.on("data", (p: Buffer) => result.packets.push(p));
    demuxer.on("error", reject);
    demuxer.on("end", () => resolve(result));
    demuxer.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
}

/**
 * Encodes `seconds` of a media file from `startSeconds` to Ogg Opus with ffmpeg's libopus (20 ms
 * frames, `bitrate` default "128k") and demuxes it. `ogg` is ffmpeg's file as written.
 */
export async function encodeOpusWithFfmpeg(
  path: string,
  opts: { startSeconds?: number; seconds?: number; channels: 1 | 2; bitrate?: string },
): Promise<DemuxedOggOpus & { ogg: Uint8Array }> {
  const seek = opts.startSeconds ? ["-ss", String(opts.startSeconds)] : [];
  const length = opts.seconds === undefined ? [] : ["-t", String(opts.seconds)];
  const { stdout: ogg } = await run(FFMPEG, ["-v", "error", ...seek, ...length, "-i", path, "-ac", String(opts.channels), "-ar", "48000",
    "-c:a", "libopus", "-b:a", opts.bitrate ?? "128k", "-frame_duration", "20", "-f", "ogg", "pipe:1"]);
  return { ogg, ...(await demuxOggOpus(ogg)) };
}

/** What {@link ffprobe} reports of a file. */
export interface ProbeResult {
  streams: { codec_name?: string; sample_rate?: string; channels?: number; duration?: string; nb_read_packets?: string }[];
  format: { format_name?: string; duration?: string };
  /** ffprobe's warnings and errors (stderr at `-v warning`), e.g. "CRC mismatch!" for a bad Ogg page. */
  warnings: string;
}

/** Runs ffprobe `-show_streams -show_format -count_packets -of json` on a file (reads every packet). */
export async function ffprobe(path: string): Promise<ProbeResult> {
  const { stdout, stderr } = await run(FFPROBE, ["-v", "warning", "-count_packets", "-show_streams", "-show_format", "-of", "json", path]);
  return { ...(JSON.parse(stdout.toString("utf8")) as Omit<ProbeResult, "warnings">), warnings: stderr };
}

/** Where a received excerpt sits in the source, and how alike the two are there. */
export interface Alignment {
  /** Source sample (48 kHz) that received sample 0 lines up with; 0 or more. */
  lagSamples: number;
  /** Pearson correlation in [-1, 1] over the overlap at that lag; 0 when either side is silent. */
  correlation: number;
  /** Samples (48 kHz) over which the correlation was computed. */
  overlapSamples: number;
}

/** Options of {@link bestAlignment}; sample counts at 48 kHz. */
export interface AlignmentOptions {
  /** Largest lag searched (default: as far as `minOverlapSamples` allows). */
  maxLagSamples?: number;
  /** Decimation factor of the coarse search (default 6: 48 kHz to 8 kHz; 1 searches at full rate). */
  decimate?: number;
  /** Smallest overlap considered, for lags where `received` runs past the end of `source` (default half of `received`). */
  minOverlapSamples?: number;
}

/**
 * Finds the lag at which `received` best matches `source` (lag ≥ 0: received sample i is source
 * sample i + lag), and the Pearson correlation there.
 * Method: both signals are low-passed by averaging blocks of `decimate` samples; the cross-
 * correlation at every coarse lag comes from one FFT product and is normalised to Pearson with
 * prefix sums. The five best coarse peaks are then refined at full rate, ±2 blocks around each,
 * computing Pearson directly. A side whose variance over the overlap is under 1e-10 per sample
 * (about -100 dBFS) counts as silent and correlates 0. Cost: O((S + R)/d · log) plus about
 * 5 · 4d · R multiply-adds; 4 s against 20 s takes tens of milliseconds.
 */
export function bestAlignment(received: Float32Array, source: Float32Array, opts: AlignmentOptions = {}): Alignment {
  const d = Math.max(1, Math.floor(opts.decimate ?? 6));
  const minOverlap = Math.max(1, Math.ceil(opts.minOverlapSamples ?? Math.min(received.length, source.length) / 2));
  const maxLag = Math.min(opts.maxLagSamples ?? Infinity, source.length - minOverlap);
  if (received.length < minOverlap || maxLag < 0) return { lagSamples: 0, correlation: 0, overlapSamples: 0 };

  const r = blockAverage(received, d);
  const s = blockAverage(source, d);
  const coarseMax = Math.min(Math.floor(maxLag / d), s.length - 1);
  const coarse = coarsePearson(r, s, coarseMax, Math.max(1, Math.floor(minOverlap / d)));
  const peaks = [...coarse.keys()]
    .filter((l) => Number.isFinite(coarse[l]!) && coarse[l]! >= (coarse[l - 1] ?? -Infinity) && coarse[l]! >= (coarse[l + 1] ?? -Infinity))
    .sort((a, b) => coarse[b]! - coarse[a]!)
    .slice(0, 5);
  let best: Alignment = { lagSamples: 0, correlation: -Infinity, overlapSamples: 0 };
  for (const peak of peaks) {
    for (let lag = Math.max(0, (peak - 2) * d); lag <= Math.min(maxLag, (peak + 2) * d); lag++) {
      const overlap = Math.min(received.length, source.length - lag);
      if (overlap < minOverlap) continue;
      const correlation = pearson(received, source, lag, overlap);
      if (correlation > best.correlation) best = { lagSamples: lag, correlation, overlapSamples: overlap };
    }
  }
  return Number.isFinite(best.correlation) ? best : { lagSamples: 0, correlation: 0, overlapSamples: 0 };
}

/** Pearson correlation of received[0, n) with source[lag, lag + n); 0 if either is silent. */
function pearson(received: Float32Array, source: Float32Array, lag: number, n: number): number {
  let sr = 0, ss = 0, srr = 0, sss = 0, srs = 0;
  for (let i = 0; i < n; i++) {
    const a = received[i]!, b = source[lag + i]!;
    sr += a; ss += b; srr += a * a; sss += b * b; srs += a * b;
  }
  return normalise(srs, sr, ss, srr, sss, n);
}

function normalise(srs: number, sr: number, ss: number, srr: number, sss: number, n: number): number {
  const varR = srr - (sr * sr) / n;
  const varS = sss - (ss * ss) / n;
  if (varR <= 1e-10 * n || varS <= 1e-10 * n) return 0;
  return Math.max(-1, Math.min(1, (srs - (sr * ss) / n) / Math.sqrt(varR * varS)));
}

/** Pearson correlation of r with s at every lag 0..maxLag (overlap ≥ minOverlap, else -Infinity), via FFT. */
function coarsePearson(r: Float64Array, s: Float64Array, maxLag: number, minOverlap: number): Float64Array {
  let size = 1;
  while (size < r.length + s.length) size *= 2;
  const sRe = new Float64Array(size), sIm = new Float64Array(size);
  const rRe = new Float64Array(size), rIm = new Float64Array(size);
  sRe.set(s);
  rRe.set(r);
  fft(sRe, sIm, false);
  fft(rRe, rIm, false);
  for (let k = 0; k < size; k++) {
    // S · conj(R): its inverse is sum_i r[i] s[i + lag]
    const re = sRe[k]! * rRe[k]! + sIm[k]! * rIm[k]!;
    const im = sIm[k]! * rRe[k]! - sRe[k]! * rIm[k]!;
    sRe[k] = re;
    sIm[k] = im;
  }
  fft(sRe, sIm, true);
  const pr = prefixSums(r), ps = prefixSums(s);
  const out = new Float64Array(Math.max(0, maxLag + 1)).fill(-Infinity);
  for (let lag = 0; lag <= maxLag; lag++) {
    const n = Math.min(r.length, s.length - lag);
    if (n < minOverlap) continue;
    out[lag] = normalise(sRe[lag]! / size, pr.sum[n]!, ps.sum[lag + n]! - ps.sum[lag]!, pr.sq[n]!, ps.sq[lag + n]! - ps.sq[lag]!, n);
  }
  return out;
}

/** In-place iterative radix-2 complex FFT; `inverse` omits the 1/N scaling. Length must be a power of 2. */
function fft(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len *= 2) {
    const angle = ((inverse ? 2 : -2) * Math.PI) / len;
    const half = len / 2;
    const cosT = new Float64Array(half), sinT = new Float64Array(half);
    for (let k = 0; k < half; k++) {
      cosT[k] = Math.cos(angle * k);
      sinT[k] = Math.sin(angle * k);
    }
    for (let start = 0; start < n; start += len) {
      for (let k = 0; k < half; k++) {
        const a = start + k, b = a + half;
        const tRe = re[b]! * cosT[k]! - im[b]! * sinT[k]!;
        const tIm = re[b]! * sinT[k]! + im[b]! * cosT[k]!;
        re[b] = re[a]! - tRe;
        im[b] = im[a]! - tIm;
        re[a] = re[a]! + tRe;
        im[a] = im[a]! + tIm;
      }
    }
  }
}

/** Averages consecutive blocks of `d` samples: a crude low-pass and decimation by `d`. */
function blockAverage(x: Float32Array, d: number): Float64Array {
  const out = new Float64Array(Math.floor(x.length / d));
  for (let k = 0; k < out.length; k++) {
    let sum = 0;
    for (let i = k * d; i < (k + 1) * d; i++) sum += x[i]!;
    out[k] = sum / d;
  }
  return out;
}

function prefixSums(x: Float64Array): { sum: Float64Array; sq: Float64Array } {
  const sum = new Float64Array(x.length + 1), sq = new Float64Array(x.length + 1);
  for (let i = 0; i < x.length; i++) {
    sum[i + 1] = sum[i]! + x[i]!;
    sq[i + 1] = sq[i]! + x[i]! * x[i]!;
  }
  return { sum, sq };
}

function concatFloat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Runs a binary, resolving with its stdout and stderr, rejecting with its stderr on a non-zero exit. */
function run(binary: string, args: string[]): Promise<{ stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [], err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => {
      const stderr = Buffer.concat(err).toString("utf8");
      if (code === 0) resolve({ stdout: Buffer.concat(out), stderr });
      else reject(new Error(`${binary} exited ${code}: ${stderr.slice(-2000)}`));
    });
  });
}
