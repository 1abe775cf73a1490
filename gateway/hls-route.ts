/**
 * HLS and DASH on the main port (docs/protocol.md, "HLS and DASH"), GET and HEAD:
 * - `/hls/<stream>/index.m3u8`: the multivariant playlist (one EXT-X-STREAM-INF per rendition);
 * - `/hls/<stream>/r<n>/media.m3u8`: rendition n's Low-Latency HLS media playlist; with
 *   `_HLS_msn=<m>[&_HLS_part=<p>]` the answer waits until that segment or part exists (blocking
 *   playlist reload, draft-pantos-hls-rfc8216bis §6.2.5.2): at most 3 target durations, then 503;
 *   a request more than 2 segments ahead is 400;
 * - `/hls/<stream>/r<n>/init.mp4`, `s<msn>.m4s` (a segment), `p<msn>.<part>.m4s` (a part); a part or
 *   segment not written yet but due within 3 s (the preload hint) is answered once written;
 * - `/dash/<stream>/manifest.mpd`, and `/dash/<stream>/r<n>/…` the same files as under /hls;
 * - `/time`: cluster time as ISO 8601 text (the MPD's UTCTiming).
 *
 * Access: as an HTTP listener (LISTEN_AUTH=token: a listen token as `Authorization: Bearer` or
 * `?token=`); a playlist or manifest fetched with `?token=` carries it in every URI it lists, so
 * players that take only a URL work. Errors: 404 for a stream that is not live (or a file the
 * window no longer holds), 401/403 for a refused token, 400 for a bad name or query, 503 while
 * the first segment is being made or a blocking reload timed out (with Retry-After: 1).
 * uWS rules: everything copied from `req` first, onAborted registered, writes corked.
 */
import { errorCodeOf, ERROR_CATALOGUE } from "../actors/errors";
import { clusterNowUs } from "../media/clock/cluster-time";
import { mpd } from "../media/dash/mpd";
import { multivariantPlaylist } from "../media/hls/playlist";
import { codecString, type Rendition } from "../media/ladder";
import { DEFAULT_WINDOW } from "../media/hls/segment-window";
import { STREAM_ID_PATTERN } from "../media/wire/control";
import { bearerToken } from "./auth";
import type { Gateway } from "./gateway";
import type { RenditionPackager } from "./hls-packager";
import type { HttpAnswer } from "./http-routes";
import { remoteIp, type HttpRequest, type HttpResponse } from "./uws";

/** How long a new packager's first playlist waits for its first segment, ms. */
const FIRST_SEGMENT_WAIT_MS = 5000;
/** Blocking reload and preload-hint requests wait at most this long: 3 target durations of 1 s (ms). */
const BLOCK_MS = 3000;
/** How far behind the live edge a DASH player starts, segments (suggestedPresentationDelay), at most. */
const PRESENTATION_DELAY_SEGMENTS = 3;

/** An answer: status, content type, body, extra headers. */

class HttpFailure extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

const PLAYLIST = "application/vnd.apple.mpegurl";
const MP4 = "audio/mp4";
/** Segments are named by media sequence number, which a new broadcast reuses: a short cache life. */
const MEDIA_CACHE = "max-age=30";

/** What a request names, copied out of uWS's `req`. */
interface HlsRequest {
  kind: "hls" | "dash";
  streamId: string;
  /** `index.m3u8`, `manifest.mpd`, or a file of a rendition. */
  file: string;
  /** Rendition directory (`r0`), or null for the stream's top-level file. */
  rendition: string | null;
  query: URLSearchParams;
  token: string | undefined;
  ip: string;
  userAgent: string;
  head: boolean;
}

export function registerHlsRoutes(gw: Gateway): void {
  const handle = (kind: "hls" | "dash", withRendition: boolean) => (res: HttpResponse, req: HttpRequest, head: boolean) => {
    const query = new URLSearchParams(req.getQuery() ?? "");
    const r: HlsRequest = {
      kind, head, query, ip: remoteIp(res), userAgent: req.getHeader("user-agent").slice(0, 256),
      streamId: req.getParameter(0) ?? "",
      rendition: withRendition ? (req.getParameter(1) ?? "") : null,
      file: req.getParameter(withRendition ? 2 : 1) ?? "",
      token: bearerToken(req.getHeader("authorization")) ?? (query.get("token") || undefined),
    };
    let aborted = false;
    res.onAborted(() => (aborted = true));
    answer(gw, r).then(
      (a) => !aborted && send(res, a, head),
      (err: unknown) => {
        if (aborted) return;
        const failure = err instanceof HttpFailure ? err : toFailure(err);
        send(res, { status: failure.status, type: "text/plain; charset=utf-8", body: `${failure.message}\n`, headers: { ...failure.headers, "cache-control": "no-store" } }, head);
      },
    );
  };
  for (const [method, head] of [["get", false], ["head", true]] as const) {
    gw.app[method]("/hls/:stream/:file", (res, req) => handle("hls", false)(res, req, head));
    gw.app[method]("/hls/:stream/:rendition/:file", (res, req) => handle("hls", true)(res, req, head));
    gw.app[method]("/dash/:stream/:file", (res, req) => handle("dash", false)(res, req, head));
    gw.app[method]("/dash/:stream/:rendition/:file", (res, req) => handle("dash", true)(res, req, head));
  }
  gw.app.get("/time", (res) => send(res, { status: 200, type: "text/plain; charset=utf-8", body: new Date(clusterNowUs() / 1000).toISOString(), headers: { "cache-control": "no-store" } }, false));
}

function toFailure(err: unknown): HttpFailure {
  const code = errorCodeOf(err);
  if (code === "STREAM_NOT_FOUND" || code === "NO_WORKER") return new HttpFailure(404, "no such live stream");
  const status = ERROR_CATALOGUE[code].status;
  return new HttpFailure(status, err instanceof Error ? err.message : code, status === 401 ? { "www-authenticate": `Bearer realm="veza-stream"` } : {});
}

function send(res: HttpResponse, a: HttpAnswer, head: boolean): void {
  res.cork(() => {
    res.writeStatus(String(a.status)).writeHeader("content-type", a.type).writeHeader("access-control-allow-origin", "*");
    for (const [k, v] of Object.entries(a.headers ?? {})) res.writeHeader(k, v);
    if (head) res.writeHeader("content-length", String(typeof a.body === "string" ? Buffer.byteLength(a.body) : a.body.length)).endWithoutBody();
    else res.end(a.body);
  });
}

/** Checks the request's token and that the stream is live (known here, or asked of its owner); returns the token's subject, if any. */
async function admit(gw: Gateway, r: HlsRequest): Promise<string | undefined> {
  if (!STREAM_ID_PATTERN.test(r.streamId)) throw new HttpFailure(400, "a stream id is 1-64 of A-Z a-z 0-9 _ -");
  const grant = await gw.access.authorize({ token: r.token, ip: r.ip, action: "listen", streamId: r.streamId, via: `http.${r.kind}` });
  if (gw.isLive(r.streamId) || gw.hls.has(r.streamId)) return grant?.sub;
  const info = await gw.getStream(r.streamId);
  if (info.state !== "live") throw new HttpFailure(404, "no such live stream");
  return grant?.sub;
}

/** A non-negative integer query value, undefined when absent. @throws HttpFailure 400. */
function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null) return undefined;
  if (!/^\d{1,9}$/.test(v)) throw new HttpFailure(400, `${name} is a non-negative integer`);
  return Number(v);
}

/** Answers `r`; one that succeeds counts for its player's listen session (hls-sessions.ts). */
async function answer(gw: Gateway, r: HlsRequest): Promise<HttpAnswer> {
  const sub = await admit(gw, r);
  const a = await answerFile(gw, r);
  const rendition = r.rendition === null ? null : r.rendition.replace(/^r/, "");
  gw.hlsSessions.seen(r.kind, r.streamId, { ip: r.ip, userAgent: r.userAgent, ...(sub ? { sub } : {}) }, rendition, a.type === MP4 && a.body instanceof Uint8Array ? a.body.length : 0);
  return a;
}

async function answerFile(gw: Gateway, r: HlsRequest): Promise<HttpAnswer> {
  const query = r.token && r.query.get("token") ? `?token=${encodeURIComponent(r.token)}` : "";
  if (r.rendition === null) {
    if (r.kind === "hls" && r.file === "index.m3u8") return multivariant(gw, r.streamId, query);
    if (r.kind === "dash" && r.file === "manifest.mpd") return manifest(gw, r.streamId, query);
    throw new HttpFailure(404, r.kind === "hls" ? "HLS: /hls/<stream>/index.m3u8" : "DASH: /dash/<stream>/manifest.mpd");
  }
  const n = /^r(\d{1,3})$/.exec(r.rendition);
  const packager = n ? gw.hls.rendition(r.streamId, Number(n[1])) : undefined;
  if (!packager) throw new HttpFailure(404, `no rendition ${r.rendition} of ${r.streamId}`);
  return renditionFile(packager, r, query);
}

/** Waits for the new window's first complete segment. @throws HttpFailure 503. */
async function firstSegment(p: RenditionPackager): Promise<void> {
  const w = p.window;
  // an ended stream resolves the wait with no segment
  if (!(await w.waitForSegment(FIRST_SEGMENT_WAIT_MS)) || !w.hasComplete()) {
    throw new HttpFailure(503, "the stream's first segment is being made; retry", { "retry-after": "1" });
  }
}

/**
 * BANDWIDTH (a peak, bit/s) of a rendition: the larger of its nominal bit rate and its largest full
 * segment's measured rate here, plus 10 % (Apple's validator flags a measured peak more than 10 %
 * over BANDWIDTH; Opus VBR and the moof boxes add to the nominal rate).
 */
function bandwidthOf(r: Rendition, p: RenditionPackager | undefined): number {
  let peak = r.bitrate;
  for (const s of p?.window.segments ?? []) {
    if (!s.complete || s.parts.length < DEFAULT_WINDOW.partsPerSegment) continue;
    peak = Math.max(peak, (s.parts.reduce((n, part) => n + part.bytes.length, 0) * 8 * 48_000) / s.duration);
  }
  return Math.round(peak * 1.1);
}

/** The multivariant playlist: every rendition of the stream (packaged here or not: a rung starts when a player asks for it). */
function multivariant(gw: Gateway, streamId: string, query: string): HttpAnswer {
  const body = multivariantPlaylist(
    gw.hls.renditionsOf(streamId).map((r) => ({ bandwidth: bandwidthOf(r, gw.hls.packaged(streamId, r.id)), codecs: codecString(r), uri: `r${r.id}/media.m3u8${query}` })),
  );
  return { status: 200, type: PLAYLIST, body, headers: { "cache-control": "no-cache" } };
}

/**
 * The MPD: every rendition, timed from rendition 0's window (made here on the first request). A
 * player starts suggestedPresentationDelay behind the live edge: 3 segments, or as many whole
 * segments as this gateway's window holds, so that the segment it asks first is here (a window
 * made by this request holds one: ffmpeg's DASH reader asked for a segment 3 s back, got 404 and
 * asked again some 3000 times a second).
 */
async function manifest(gw: Gateway, streamId: string, query: string): Promise<HttpAnswer> {
  const p = gw.hls.rendition(streamId, 0)!;
  await firstSegment(p);
  const w = p.window;
  const complete = w.segments.filter((s) => s.complete);
  const newest = complete[complete.length - 1]!;
  const edge = newest.mediaTime + newest.duration;
  const segmentSamples = (DEFAULT_WINDOW.partMs * DEFAULT_WINDOW.partsPerSegment * 48_000) / 1000;
  const body = mpd({
    // the live edge's cluster time less its media time at the nominal rate: no drift at the edge
    availabilityStartMs: p.programDateOf(edge) - edge / 48,
    publishMs: Date.now(),
    segmentSamples,
    presentationDelayS: (Math.min(PRESENTATION_DELAY_SEGMENTS, complete.length - 1) * segmentSamples) / 48_000,
    windowS: complete.reduce((n, s) => n + s.duration, 0) / 48_000,
    endS: w.ended ? edge / 48_000 : null,
    utcTimingUrl: "/time",
    representations: gw.hls.renditionsOf(streamId).map((r) => ({
      id: `r${r.id}`, codecs: codecString(r), bandwidth: bandwidthOf(r, gw.hls.packaged(streamId, r.id)), channels: r.channels,
      initialization: `r${r.id}/init.mp4${query}`, media: `r${r.id}/s$Number$.m4s${query}`,
    })),
  });
  return { status: 200, type: "application/dash+xml", body, headers: { "cache-control": "no-cache" } };
}

async function renditionFile(p: RenditionPackager, r: HlsRequest, query: string): Promise<HttpAnswer> {
  const w = p.window;
  if (r.file === "media.m3u8") {
    const msn = intParam(r.query, "_HLS_msn");
    const part = intParam(r.query, "_HLS_part");
    if (part !== undefined && msn === undefined) throw new HttpFailure(400, "_HLS_part needs _HLS_msn");
    if (msn === undefined) await firstSegment(p);
    else {
      if (msn > w.next().msn + 2) throw new HttpFailure(400, `_HLS_msn ${msn} is more than 2 segments ahead of ${w.next().msn}`);
      if (!(await w.waitFor(msn, part ?? null, BLOCK_MS))) throw new HttpFailure(503, `segment ${msn}${part === undefined ? "" : ` part ${part}`} did not come in time`, { "retry-after": "1" });
    }
    return { status: 200, type: PLAYLIST, body: w.playlist(query), headers: { "cache-control": "no-cache" } };
  }
  if (r.file === "init.mp4") {
    if (!w.init) await firstSegment(p);
    return { status: 200, type: MP4, body: w.init!, headers: { "cache-control": MEDIA_CACHE } };
  }
  const m = /^(?:s(\d{1,9})|p(\d{1,9})\.(\d{1,3}))\.m4s$/.exec(r.file);
  if (!m) throw new HttpFailure(404, "files of a rendition: media.m3u8, init.mp4, s<msn>.m4s, p<msn>.<part>.m4s");
  const msn = Number(m[1] ?? m[2]);
  const part = m[3] === undefined ? null : Number(m[3]);
  // a window made by this request (a rung a DASH player just turned to) numbers its segments from its first part
  if (w.segments.length === 0 && !w.ended) await w.waitForSegment(FIRST_SEGMENT_WAIT_MS);
  // due soon (the preload hint, or a segment being written): wait for it
  const next = w.next();
  if (!w.has(msn, part) && !w.ended && msn <= next.msn + 1 && msn >= next.msn) await w.waitFor(msn, part, BLOCK_MS);
  const bytes = part === null ? w.segment(msn) : w.part(msn, part);
  if (!bytes) throw new HttpFailure(404, `${r.file} is not in the window`);
  return { status: 200, type: MP4, body: bytes, headers: { "cache-control": MEDIA_CACHE } };
}
