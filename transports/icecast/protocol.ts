/**
 * What the Icecast 2.4 protocol says, as pure functions: mounts to stream ids, content types to
 * ingest formats, Basic credentials, `ice-*` headers to stream metadata, and the answers Icecast
 * 2.4.4 gives (status lines, its XML admin answer, its `/status-json.xsl` shape). No sockets.
 */

/** Ingest formats an Icecast source can send (a subset of media/wire/control.ts INGEST_FORMATS). */
export type IcecastFormat = "mp3" | "ogg" | "webm" | "aac" | "flac";

/** Content types of Icecast sources and the ingest format each one is read as. */
export const CONTENT_TYPES: Readonly<Record<string, IcecastFormat>> = {
  "audio/mpeg": "mp3",
  "audio/mp3": "mp3",
  "audio/ogg": "ogg",
  "application/ogg": "ogg",
  "audio/opus": "ogg",
  "audio/webm": "webm",
  "audio/aac": "aac",
  "audio/aacp": "aac",
  "audio/flac": "flac",
};

/** Stream ids: as media/wire/control.ts STREAM_ID_PATTERN (1-64 of A-Z a-z 0-9 _ -). */
const STREAM_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The path of a request target without its query: `/radio.mp3?x=1` → `/radio.mp3`. */
export function targetPath(target: string): string {
  const q = target.indexOf("?");
  return q < 0 ? target : target.slice(0, q);
}

/**
 * The stream id of a mount: the path without its leading `/` and without an extension
 * (`/radio.mp3` → `radio`, `/radio` → `radio`); null when what is left is not a stream id
 * (a nested path, an empty name, other characters).
 */
export function mountToStreamId(path: string): string | null {
  let name: string;
  try {
    name = decodeURIComponent(targetPath(path));
  } catch {
    return null;
  }
  if (!name.startsWith("/")) return null;
  name = name.slice(1);
  const dot = name.indexOf(".");
  if (dot >= 0) name = name.slice(0, dot);
  return STREAM_ID.test(name) ? name : null;
}

/** The ingest format of a `Content-Type` (parameters and case ignored); null when not served. */
export function formatOfContentType(contentType: string | undefined): IcecastFormat | null {
  if (!contentType) return null;
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  return CONTENT_TYPES[type] ?? null;
}

/** The password of `Authorization: Basic base64(user:password)` (the user name is ignored); undefined when absent or not Basic. */
export function basicPassword(authorization: string | undefined): string | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(authorization ?? "");
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

/** A stream's title (≤ 256 characters) and metadata (≤ 1024 per value) from a source's `ice-*` headers. */
export function iceMetadata(headers: Record<string, string>, streamId: string): { title: string; metadata: Record<string, string> } {
  const metadata: Record<string, string> = {};
  for (const key of ["name", "description", "genre", "url", "public", "bitrate", "audio-info"] as const) {
    // libshout and older sources send icy-* instead of ice-*
    const value = headers[`ice-${key}`] ?? headers[`icy-${key === "public" ? "pub" : key === "bitrate" ? "br" : key}`];
    if (value) metadata[key] = value.slice(0, 1024);
  }
  return { title: (metadata.name ?? streamId).slice(0, 256), metadata };
}

/** Reason phrases of the statuses the port answers with. */
const REASONS: Readonly<Record<number, string>> = {
  100: "Continue", 200: "OK", 400: "Bad Request", 401: "Authentication Required", 403: "Forbidden", 404: "File Not Found",
  405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 415: "Unsupported Media Type", 429: "Too Many Requests",
  431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
};

/** Server header, as Icecast sends `Icecast 2.4.4`. */
export const SERVER_ID = "veza-stream (Icecast 2.4.4 compatible)";

/**
 * A whole response head (and body): the status line in the request's HTTP version, `Server`,
 * `Connection: close` unless `keepAlive`, `Content-Length` when there is a body (or `body` is "").
 */
export function response(version: string, status: number, headers: Record<string, string> = {}, body?: string, keepAlive = false): Buffer {
  const lines = [`${version === "HTTP/1.1" ? "HTTP/1.1" : "HTTP/1.0"} ${status} ${REASONS[status] ?? "Unknown"}`, `Server: ${SERVER_ID}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  if (!keepAlive) lines.push("Connection: close");
  return Buffer.from(`${lines.join("\r\n")}\r\n\r\n${body ?? ""}`, "utf8");
}

/** An error answer with a short text body (Icecast answers errors as small HTML pages; text is enough for every client). */
export function errorResponse(version: string, status: number, message: string, extra: Record<string, string> = {}): Buffer {
  const headers: Record<string, string> = { "Content-Type": "text/plain; charset=utf-8", ...extra };
  if (status === 401) headers["WWW-Authenticate"] = 'Basic realm="Icecast2 Server"';
  return response(version, status, headers, `${message}\n`);
}

/** Icecast's answer to an admin request, `<iceresponse>` (admin.c `admin_send_response` with XSLT off). */
export function iceResponse(message: string, ok: boolean): string {
  const escaped = message.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return `<?xml version="1.0"?>\n<iceresponse><message>${escaped}</message><return>${ok ? 1 : 0}</return></iceresponse>\n`;
}

/** One source of `/status-json.xsl`, named as Icecast 2.4 names its fields. */
export interface IcecastSourceStatus {
  listenurl: string;
  listeners: number;
  listener_peak: number;
  server_name: string;
  server_description: string;
  genre: string;
  title: string;
  /** kbit/s. */
  bitrate: number;
  server_type: string;
  server_url?: string;
  stream_start_iso8601: string;
}

/**
 * The body of `/status-json.xsl`: Icecast 2.4's `{"icestats":{…,"source":…}}`, where a single
 * source is an object and several a list (what Icecast's XSLT produces, and what clients parse);
 * no live source, no `source` key.
 */
export function statusJson(o: { admin: string; host: string; location: string; serverStart: Date; sources: IcecastSourceStatus[] }): string {
  const icestats: Record<string, unknown> = {
    admin: o.admin,
    host: o.host,
    location: o.location,
    server_id: SERVER_ID,
    server_start_iso8601: o.serverStart.toISOString(),
  };
  if (o.sources.length === 1) icestats.source = o.sources[0];
  else if (o.sources.length > 1) icestats.source = o.sources;
  return JSON.stringify({ icestats });
}
