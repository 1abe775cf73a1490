/**
 * What an SRT caller asks for, read from its streamid (SRTO_STREAMID, at most 512 bytes). Two
 * spellings, as MediaMTX takes them:
 *
 * - MediaMTX's: `publish:<stream>[:<user>:<token>]` and `read:<stream>[:<user>:<token>]`;
 * - SRT's access control syntax (Haivision, "SRT Access Control", docs/features/access-control.md
 *   in the srt repository): `#!::r=<stream>,m=publish,u=<user>,s=<token>`, where `m` is `request`
 *   (read, the default) or `publish`; unknown keys are ignored, `bidirectional` is refused.
 *
 * The token is a publish or listen token of the stream (docs/security.md); a JWT has no `:` or
 * `,`, so neither spelling needs escaping. A percent-encoded streamid (as some tools write it into
 * an `srt://` URL) is decoded first. Error messages never repeat the streamid (it holds a token).
 * Pure.
 */
import { STREAM_ID_PATTERN } from "../../media/wire/control";

/** A caller's request. */
export interface SrtRequest {
  mode: "publish" | "read";
  streamId: string;
  /** The user name given, or "" (informational: the token says who it is). */
  user: string;
  /** The token (or SOURCE_PASSWORD for a publisher); undefined when none was given. */
  token: string | undefined;
}

/** A streamid that names no request this server serves; `message` says what is wrong. */
export class StreamIdError extends Error {
  override readonly name = "StreamIdError";
}

/**
 * How a streamid this server could take begins, also percent-encoded: callers with another are
 * refused in the SRT handshake (libsrt.ts streamIdPrefixes), before {@link parseStreamId}.
 */
export const STREAMID_PREFIXES: readonly string[] = ["publish:", "read:", "#!::", "publish%3A", "publish%3a", "read%3A", "read%3a", "%23!%3A%3A", "%23!%3a%3a"];

/** SRT's streamid limit, bytes (SRTO_STREAMID). */
export const MAX_STREAMID_BYTES = 512;

/**
 * @throws StreamIdError for an empty, malformed or unknown mode, or a stream id that is not
 *   1-64 of A-Z a-z 0-9 _ -.
 */
export function parseStreamId(raw: string): SrtRequest {
  if (raw.length === 0) throw new StreamIdError("no streamid: use publish:<stream>:<user>:<token> or read:<stream>");
  if (Buffer.byteLength(raw) > MAX_STREAMID_BYTES) throw new StreamIdError(`streamid longer than ${MAX_STREAMID_BYTES} bytes`);
  const text = /%[0-9A-Fa-f]{2}/.test(raw) ? percentDecoded(raw) : raw;
  const req = text.startsWith("#!::") ? accessControl(text.slice(4)) : mediamtx(text);
  if (!STREAM_ID_PATTERN.test(req.streamId)) throw new StreamIdError("the stream id must be 1-64 of A-Z a-z 0-9 _ -");
  return req;
}

function percentDecoded(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new StreamIdError("the streamid is not valid percent-encoding");
  }
}

/** `mode` for an error message: only a short word is repeated (anything else may be a token). */
const shown = (mode: string): string => (/^[A-Za-z]{1,16}$/.test(mode) ? `"${mode}"` : "");

function mediamtx(raw: string): SrtRequest {
  const parts = raw.split(":");
  const [mode, streamId = "", user = "", ...rest] = parts;
  if (mode !== "publish" && mode !== "read") throw new StreamIdError(`unknown mode ${shown(mode ?? "")}: publish:<stream>:<user>:<token> or read:<stream>`);
  if (parts.length === 3 || rest.length > 1) throw new StreamIdError(`${mode}:<stream>[:<user>:<token>] has ${parts.length} fields`);
  const token = rest[0];
  return { mode, streamId, user, token: token === undefined || token === "" ? undefined : token };
}

function accessControl(body: string): SrtRequest {
  const kv = new Map<string, string>();
  for (const pair of body.split(",")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new StreamIdError("#!:: must be followed by key=value pairs separated by commas");
    kv.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const m = kv.get("m") ?? "request";
  if (m !== "publish" && m !== "request") throw new StreamIdError(`mode m=${shown(m)} is not served: m=publish or m=request`);
  const token = kv.get("s");
  return { mode: m === "publish" ? "publish" : "read", streamId: kv.get("r") ?? "", user: kv.get("u") ?? "", token: token === "" ? undefined : token };
}
