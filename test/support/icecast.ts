/**
 * Helpers of the Icecast tests: the node's Icecast port, ffmpeg as an Icecast source, raw requests.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { resolveFfmpegPath } from "../../transports/ffmpeg/ffmpeg-path";
import { MEDIA, type NodeProcess } from "./node-process";

const FFMPEG = resolveFfmpegPath();

/** The Icecast port from the node's "node started" line. */
export function icecastPortOf(node: NodeProcess): number {
  const line = node.logs.find((l) => l.msg === "node started");
  const port = Number(line?.icecastPort);
  assert.ok(port > 0, "the node-started line names the Icecast port");
  return port;
}

/** ffmpeg pushing `file` in real time to an Icecast URL; `extra` are output options. */
export function ffmpegSource(file: string, url: string, extra: string[], seconds = 30): ChildProcess {
  const p = spawn(FFMPEG, ["-hide_banner", "-loglevel", "error", "-re", "-t", String(seconds), "-i", path.join(MEDIA, file), "-vn", ...extra, url], { stdio: ["ignore", "ignore", "pipe"] });
  p.stderr?.on("data", () => undefined);
  return p;
}

/** One raw request on the Icecast port; resolves with everything the server sent until it closed (or `waitMs`). */
export function rawRequest(port: number, bytes: string | Buffer, waitMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let got = "";
    sock.on("data", (d) => (got += d.toString("latin1")));
    sock.on("error", () => undefined);
    sock.on("close", () => resolve(got));
    sock.write(bytes);
    setTimeout(() => sock.destroy(), waitMs).unref();
  });
}


/** An HTTP listener read by fetch: bytes received so far, when each read arrived (ms since epoch), and how to hang up. */
export interface HttpReader {
  bytes(): number;
  arrivals: number[];
  close(): void;
}

/** GETs `url` and keeps reading its body until {@link HttpReader.close} or its end. */
export async function httpListen(url: string): Promise<HttpReader> {
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal });
  assert.equal(res.status, 200, url);
  const reader = res.body!.getReader();
  const arrivals: number[] = [];
  let bytes = 0;
  void (async () => {
    for (;;) {
      const r = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (r.done) return;
      bytes += r.value?.length ?? 0;
      arrivals.push(Date.now());
    }
  })();
  return { bytes: () => bytes, arrivals, close: () => ac.abort() };
}
