/**
 * A strict HTTP/1.x request-head parser for the Icecast-compatible port (RFC 9112 §2-§5), pure:
 * bytes in, a parsed head or a typed refusal out. node:http cannot serve Icecast sources (a PUT
 * with `Expect: 100-continue` and no length, the `SOURCE` method), so the port reads heads itself
 * and treats whatever follows a source's head as its raw audio until the socket closes.
 *
 * Limits (slowloris and memory): the head is at most {@link HEAD_LIMITS.MAX_HEAD_BYTES} bytes and
 * {@link HEAD_LIMITS.MAX_HEADERS} header lines; the caller enforces the head timeout.
 */

/** Limits of a request head on the Icecast port. */
export const HEAD_LIMITS = {
  /** Most bytes of a request line plus headers plus the blank line (8 KiB, as nginx's default). */
  MAX_HEAD_BYTES: 8 * 1024,
  /** Most header lines. */
  MAX_HEADERS: 100,
  /** ms a client has to send its whole head (slowloris). */
  HEAD_TIMEOUT_MS: 10_000,
} as const;

/** Methods the port knows; anything else is 405 (a token that is not a method at all is 400). */
export const ICECAST_METHODS = ["GET", "HEAD", "PUT", "SOURCE", "OPTIONS"] as const;

export interface RequestHead {
  method: string;
  /** The request target as sent: `/radio.mp3`, `/admin/metadata?mount=/radio&…`, `*`. */
  target: string;
  /** `HTTP/1.0` or `HTTP/1.1`. */
  version: string;
  /** Header values by lower-case name; repeated headers joined with ", " (RFC 9110 §5.3). */
  headers: Record<string, string>;
  /** Bytes of the head, blank line included: what follows it in the buffer is body. */
  length: number;
}

/** Why a head was refused, with the HTTP status to answer. */
export class HeadError extends Error {
  override readonly name = "HeadError";
  constructor(
    readonly status: 400 | 405 | 431 | 505,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const CRLFCRLF = Buffer.from("\r\n\r\n");
const LFLF = Buffer.from("\n\n");

/**
 * Parses the head at the start of `buf`: null when it is not complete yet.
 * @throws HeadError 431 past the size or header-count limits, 400 for a malformed head, 505 for a
 *   version other than HTTP/1.0 and 1.1, 405 for a method the port does not serve.
 */
export function parseHead(buf: Buffer): RequestHead | null {
  let end = buf.indexOf(CRLFCRLF);
  let sep = 4;
  const lf = buf.indexOf(LFLF);
  if (lf >= 0 && (end < 0 || lf < end)) {
    end = lf;
    sep = 2;
  }
  if (end < 0) {
    if (buf.length > HEAD_LIMITS.MAX_HEAD_BYTES) throw new HeadError(431, `request head over ${HEAD_LIMITS.MAX_HEAD_BYTES} bytes`);
    return null;
  }
  if (end + sep > HEAD_LIMITS.MAX_HEAD_BYTES) throw new HeadError(431, `request head over ${HEAD_LIMITS.MAX_HEAD_BYTES} bytes`);
  const text = buf.subarray(0, end).toString("latin1");
  if (/[\0]/.test(text)) throw new HeadError(400, "NUL byte in the request head");
  const lines = text.split(/\r?\n/);
  const requestLine = lines.shift() ?? "";
  const parts = requestLine.split(" ");
  if (parts.length !== 3) throw new HeadError(400, "malformed request line");
  const [method = "", target = "", version = ""] = parts;
  if (!TOKEN.test(method)) throw new HeadError(400, "malformed method");
  if (!/^HTTP\/\d\.\d$/.test(version)) throw new HeadError(400, "malformed HTTP version");
  if (version !== "HTTP/1.0" && version !== "HTTP/1.1") throw new HeadError(505, `${version} is not supported`);
  if (!(ICECAST_METHODS as readonly string[]).includes(method)) throw new HeadError(405, `method ${method} is not served here`);
  if (target.length === 0 || /[\x00-\x20\x7f-\xff]/.test(target) || (target !== "*" && !target.startsWith("/"))) throw new HeadError(400, "malformed request target");
  if (lines.length > HEAD_LIMITS.MAX_HEADERS) throw new HeadError(431, `more than ${HEAD_LIMITS.MAX_HEADERS} header lines`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    // obs-fold (a line starting with white space) is refused, as RFC 9112 §5.2 allows a server to
    if (colon <= 0) throw new HeadError(400, "malformed header line");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HeadError(400, "malformed header name");
    const value = line.slice(colon + 1).trim();
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new HeadError(400, "control character in a header value");
    const key = name.toLowerCase();
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
  }
  return { method, target, version, headers, length: end + sep };
}
