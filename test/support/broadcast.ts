import path from "node:path";
import pino from "pino";
import { Broadcast } from "../../bin/commands/broadcast";
import { Listener } from "../../bin/commands/listen";
import { resolveFfmpegPath } from "../../transports/ffmpeg/ffmpeg-path";
import { testToken } from "./auth";
import { MEDIA, waitFor } from "./node-process";

/** Starts a real-time broadcast of a recording in ../shared/media through the CLI's Broadcast. */
export async function startBroadcast(
  url: string | string[],
  streamId: string,
  file: string,
  send: "opus" | "ogg" | "mp3" | "webm" | "wav",
  opts: { startSeconds?: number; loop?: boolean; reconnect?: boolean; token?: string; record?: boolean } = {},
): Promise<Broadcast> {
  const b = new Broadcast({
    url, streamId, input: path.join(MEDIA, file), send, ffmpegPath: resolveFfmpegPath(), log: pino({ level: "silent" }), title: file, ...opts,
    token: opts.token ?? (() => testToken("publish", [streamId])),
  });
  b.on("error", () => undefined);
  await b.start();
  return b;
}

/** Opens `n` listeners and waits for each one's hello. */
export async function openListeners(url: string | string[], streamId: string, n: number, opts: { reconnect?: boolean } = {}): Promise<Listener[]> {
  const listeners = Array.from({ length: n }, () => new Listener(url, streamId, opts));
  await Promise.all(listeners.map((l) => l.opened));
  return listeners;
}

/** Waits until every listener has received `ms` of audio. */
export async function waitForAudio(listeners: Listener[], ms: number, timeoutMs: number): Promise<void> {
  await waitFor(() => listeners.every((l) => l.stats.audioMs >= ms), timeoutMs, `${ms} ms of audio on ${listeners.length} listeners`);
}
