/**
 * The bench's one source: ffmpeg encodes the file once, paced in real time (`-re`), to 128 kbit/s
 * MP3 on a pipe; each chunk it writes is passed on at once to every server by an Icecast `PUT`
 * (as ffmpeg's icecast:// protocol sends it: `Expect: 100-continue`, Basic `source:<password>`,
 * no length). Both servers get the same bytes at the same moment, and the write time of each
 * frame's last byte is its send time (CLOCK_MONOTONIC), announced to the listener processes with
 * the frame's key.
 */
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { Mp3Scanner } from "./mp3-scan";
import { monoMs } from "./protocol";

export interface SourceTarget {
  name: string;
  port: number;
  mount: string;
  password: string;
}

export interface FrameSent {
  key: number;
  t: number;
  dup: boolean;
}

/** ffmpeg's arguments: `file` looped, resampled to 44.1 kHz stereo, LAME CBR 128 kbit/s, one write per frame. */
export function ffmpegArgs(file: string): string[] {
  return [
    "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1", "-i", file,
    "-vn", "-ar", "44100", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k",
    "-write_xing", "0", "-id3v2_version", "0", "-flush_packets", "1", "-f", "mp3", "pipe:1",
  ];
}

/** One PUT connection to one server. */
class Put {
  readonly socket: net.Socket;
  onAir = false;
  answer = "";
  bytes = 0;
  constructor(readonly target: SourceTarget, onError: (msg: string) => void) {
    this.socket = net.connect({ host: "127.0.0.1", port: target.port });
    this.socket.setNoDelay(true);
    this.socket.on("connect", () => {
      const auth = Buffer.from(`source:${target.password}`).toString("base64");
      this.socket.write(
        `PUT ${target.mount} HTTP/1.1\r\nHost: 127.0.0.1:${target.port}\r\nAuthorization: Basic ${auth}\r\n` +
          `Content-Type: audio/mpeg\r\nIce-Name: bench\r\nIce-Public: 0\r\nIce-Bitrate: 128\r\nExpect: 100-continue\r\nUser-Agent: veza-bench-icecast\r\n\r\n`,
      );
    });
    this.socket.on("data", (d) => {
      if (this.onAir) return;
      this.answer += d.toString("latin1");
      if (/^HTTP\/1\.[01] 200/m.test(this.answer)) this.onAir = true;
      else if (/^HTTP\/1\.[01] [45]\d\d/.test(this.answer)) onError(`${target.name} refused the source: ${this.answer.split("\r\n")[0]}`);
    });
    this.socket.on("error", (err) => onError(`${target.name} source connection: ${err.message}`));
    this.socket.on("close", () => onError(`${target.name} closed the source connection`));
  }
}

export class BenchSource {
  private readonly ffmpeg: ChildProcess;
  private readonly puts: Put[];
  /** Last send time of each key (the last minute), to mark repeats (silence) ambiguous. */
  private readonly lastSent = new Map<number, number>();
  private readonly scanner: Mp3Scanner;
  private writeAt = 0;
  private failed: string | null = null;
  /** Frames sent so far. */
  frames = 0;
  /** Frames whose key repeated within a minute. */
  duplicates = 0;

  constructor(ffmpegPath: string, file: string, targets: SourceTarget[], private readonly onFrame: (f: FrameSent) => void) {
    this.puts = targets.map((t) => new Put(t, (msg) => (this.failed ??= msg)));
    this.scanner = new Mp3Scanner((key) => {
      const prev = this.lastSent.get(key);
      const dup = prev !== undefined && this.writeAt - prev < 60_000;
      if (dup) this.duplicates++;
      this.lastSent.delete(key);
      this.lastSent.set(key, this.writeAt);
      this.frames++;
      this.onFrame({ key, t: this.writeAt, dup });
    });
    this.ffmpeg = spawn(ffmpegPath, ffmpegArgs(file), { stdio: ["ignore", "pipe", "inherit"] });
    this.ffmpeg.stdout!.on("data", (chunk: Buffer) => {
      // every server on air gets the chunk; before that, a server gets nothing (it joins mid-stream, as a source does)
      for (const p of this.puts) if (p.onAir) p.socket.write(chunk), (p.bytes += chunk.length);
      this.writeAt = monoMs();
      this.scanner.push(chunk);
      for (const [key, t] of this.lastSent) {
        if (this.writeAt - t < 60_000) break;
        this.lastSent.delete(key);
      }
    });
    this.ffmpeg.on("exit", (code, signal) => (this.failed ??= `ffmpeg exited (${code ?? signal})`));
  }

  /** Whether every server answered 200 to its PUT. */
  get onAir(): boolean {
    return this.puts.every((p) => p.onAir);
  }

  /** The first failure (a refused or closed source, ffmpeg's exit), or null. */
  get failure(): string | null {
    return this.failed;
  }

  stop(): void {
    for (const p of this.puts) p.socket.destroy();
    this.ffmpeg.kill("SIGKILL");
  }
}
