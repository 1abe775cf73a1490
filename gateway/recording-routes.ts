/**
 * Recording routes (README, Recording; docs/protocol.md, Recordings):
 *   GET  /api/recordings?stream=<id>            the stream's recordings, newest first (listen access)
 *   GET  /api/recordings/:stream/:id            one recording: segments, gaps, parts (listen access)
 *   GET  /recordings/:stream/:id.opus           the whole recording as one Ogg/Opus file, with Range (listen access)
 *   GET  /recordings/:stream/:id/index.m3u8     HLS VOD of it: init.mp4, <n>.m4s, gap-<from>-<to>.m4s (listen access)
 *   POST /api/streams/:id/recording             start recording a live stream (admin)
 *   DELETE /api/streams/:id/recording           stop it: the recording ends (admin)
 * The bytes go through the node rather than by pre-signed S3 URLs: the file is joined from many
 * segment objects with silence in the gaps (actors/recording/library.ts), which no single object
 * holds, and the same listen access guards it as the live stream. GET and HEAD alike.
 */
import rangeParser from "range-parser";
import { RecordingLibrary } from "../actors/recording/library";
import type { WholeFileLayout } from "../media/recording/whole-file";
import { gapPackets, segmentPackets, vodEntries, vodFragment, vodInit, vodPlaylist } from "../media/recording/hls-vod";
import type { RecordingView } from "../media/recording/manifest";
import { call } from "../actors/contract";
import { VezaError, errorCodeOf } from "../actors/errors";
import { RECORDING_ID_PATTERN } from "../media/recording/manifest";
import { STREAM_ID_PATTERN } from "../media/wire/control";
import type { Gateway } from "./gateway";
import { apiAccess, apiRequest, errorAnswer, getAndHead, respond, writeAnswer, type ApiRequest } from "./http-routes";
import type { HttpResponse } from "./uws";

export function registerRecordingRoutes(gw: Gateway): void {
  const { app } = gw;
  const library = new RecordingLibrary(gw.node.objects);
  getAndHead(app, "/api/recordings", (res, req, head) => {
    const a = apiRequest(res, req);
    const streamId = new URLSearchParams(req.getQuery() ?? "").get("stream") ?? "";
    respond(res, async () => {
      if (!STREAM_ID_PATTERN.test(streamId)) throw new VezaError("BAD_STREAM_ID", "GET /api/recordings?stream=<stream id>");
      await apiAccess(gw, a, "listen", streamId);
      return { body: await library.list(streamId) };
    }, head);
  });
  getAndHead(app, "/api/recordings/:stream/:id", (res, req, head) => {
    const a = apiRequest(res, req);
    const id = req.getParameter(1) ?? "";
    respond(res, async () => {
      checkIds(a.param, id);
      await apiAccess(gw, a, "listen", a.param);
      const view = await library.view(a.param, id);
      return { body: { ...view, url: `/recordings/${a.param}/${id}.opus` } };
    }, head);
  });
  for (const [method, on] of [["post", true], ["del", false]] as const) {
    app[method]("/api/streams/:id/recording", (res, req) => {
      const a = apiRequest(res, req);
      respond(res, async () => {
        if (!STREAM_ID_PATTERN.test(a.param)) throw new VezaError("BAD_STREAM_ID");
        await apiAccess(gw, a, "admin", a.param);
        const live = (await gw.listStreams()).find((s) => s.streamId === a.param && s.state === "live");
        if (!live) throw new VezaError("STREAM_NOT_FOUND", `stream ${a.param} is not live`);
        // the owner checks the token again (requireAdmin) and audits
        return { status: on ? 201 : 200, body: await call(gw.broker, "stream.record", { streamId: a.param, on }, { nodeID: live.owner, meta: { token: a.token } }) };
      });
    });
  }
  getAndHead(app, "/recordings/:stream/:id/:file", (res, req, head) => {
    const a = apiRequest(res, req);
    const id = req.getParameter(1) ?? "";
    const file = req.getParameter(2) ?? "";
    const token = new URLSearchParams(req.getQuery() ?? "").get("token") ?? undefined;
    a.token ??= token;
    respond(res, async () => {
      checkIds(a.param, id);
      await apiAccess(gw, a, "listen", a.param);
      const view = await library.view(a.param, id);
      const hls = await hlsFile(library, view, file, token ? `?token=${encodeURIComponent(token)}` : "");
      return { body: hls.body, type: hls.type };
    }, head);
  });
  getAndHead(app, "/recordings/:stream/:file", (res, req, head) => {
    const a = apiRequest(res, req);
    const file = req.getParameter(1) ?? "";
    const range = req.getHeader("range");
    // an <audio> element sends no Authorization header: ?token= as on the listen routes
    a.token ??= new URLSearchParams(req.getQuery() ?? "").get("token") ?? undefined;
    void wholeFile(gw, library, res, a, file, range, head);
  });
}

/**
 * A file of the recording's HLS VOD (media/recording/hls-vod.ts).
 * @throws VezaError RECORDING_NOT_FOUND for a name the playlist does not hold.
 */
async function hlsFile(library: RecordingLibrary, view: RecordingView, file: string, query: string): Promise<{ body: string | Uint8Array; type: string }> {
  const channels = view.info.channels;
  if (file === "index.m3u8") return { body: vodPlaylist(view, query), type: "application/vnd.apple.mpegurl" };
  if (file === "init.mp4") return { body: await vodInit(channels), type: "audio/mp4" };
  const entry = vodEntries(view).find((e) => e.uri === file);
  if (!entry) throw new VezaError("RECORDING_NOT_FOUND", `the recording's playlist has no ${JSON.stringify(file.slice(0, 64))}`);
  const packets = entry.kind === "gap" ? gapPackets(view, entry.from, entry.to) : segmentPackets(view, entry.segment, await library.object(entry.segment.key));
  return { body: await vodFragment(channels, packets), type: "audio/mp4" };
}

/** @throws VezaError BAD_STREAM_ID, RECORDING_NOT_FOUND (an id that cannot be one). */
function checkIds(streamId: string, id: string): void {
  if (!STREAM_ID_PATTERN.test(streamId)) throw new VezaError("BAD_STREAM_ID");
  if (!RECORDING_ID_PATTERN.test(id)) throw new VezaError("RECORDING_NOT_FOUND", `recording ids look like 20261202T175000Z, not ${JSON.stringify(id.slice(0, 64))}`);
}

/** GET /recordings/:stream/:id.opus: 200 with the whole file, 206 with one range (RFC 9110 §14), 416 outside it. */
async function wholeFile(gw: Gateway, library: RecordingLibrary, res: HttpResponse, a: ApiRequest, file: string, rangeHeader: string, head: boolean): Promise<void> {
  const state = { aborted: false, wake: () => {} };
  res.onAborted(() => {
    state.aborted = true;
    state.wake();
  });
  let layout: WholeFileLayout | undefined;
  let range: { start: number; end: number } | null = null;
  try {
    const id = file.replace(/\.opus$/, "");
    if (!file.endsWith(".opus")) throw new VezaError("RECORDING_NOT_FOUND", "recordings are served as <id>.opus");
    checkIds(a.param, id);
    await apiAccess(gw, a, "listen", a.param);
    layout = library.layout(await library.view(a.param, id));
    if (rangeHeader) {
      const parsed = rangeParser(layout.length, rangeHeader, { combine: true });
      if (parsed === -1) throw new VezaError("RANGE_NOT_SATISFIABLE", `the recording has ${layout.length} bytes`, { length: layout.length });
      // one range is served; several (or a malformed header, -2) get the whole file, as RFC 9110 §14.2 allows
      if (parsed !== -2 && parsed.type === "bytes" && parsed.length === 1) range = parsed[0]!;
    }
  } catch (err) {
    if (state.aborted) return;
    const a = errorAnswer(err);
    if (errorCodeOf(err) === "RANGE_NOT_SATISFIABLE" && layout) a.headers = { ...a.headers, "content-range": `bytes */${layout.length}` };
    writeAnswer(res, a, head);
    return;
  }
  if (state.aborted) return;
  const want = range ?? { start: 0, end: layout.length - 1 };
  const total = want.end - want.start + 1;
  res.cork(() => {
    res.writeStatus(range ? "206" : "200").writeHeader("content-type", "audio/ogg").writeHeader("accept-ranges", "bytes").writeHeader("cache-control", "no-cache");
    if (range) res.writeHeader("content-range", `bytes ${range.start}-${range.end}/${layout.length}`);
    if (head) res.writeHeader("content-length", String(total)).endWithoutBody();
  });
  if (head || total <= 0) {
    if (!head) res.cork(() => res.end());
    return;
  }
  try {
    await library.read(layout, want, (chunk) => writeChunk(res, chunk, total, state));
  } catch (err) {
    // the status line is out: all that can be done is to cut the response short
    gw.node.log.warn({ err: (err as Error).message, streamId: a.param, file }, "recording read failed mid-response");
    if (!state.aborted) res.close();
  }
}

/** Sends `chunk` as part of a body of `total` bytes (uWS tryEnd), waiting while the socket is full. */
function writeChunk(res: HttpResponse, chunk: Uint8Array, total: number, state: { aborted: boolean; wake: () => void }): Promise<void> {
  if (state.aborted) return Promise.resolve();
  const start = res.getWriteOffset();
  const view = (b: Uint8Array) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  let ok = false;
  res.cork(() => void ([ok] = res.tryEnd(view(chunk), total)));
  if (ok) return Promise.resolve();
  return new Promise((resolve) => {
    state.wake = resolve;
    res.onWritable((offset) => {
      if (state.aborted) return resolve(), true;
      const [sent, done] = res.tryEnd(view(chunk.subarray(offset - start)), total);
      if (sent || done) resolve();
      return sent;
    });
  });
}
