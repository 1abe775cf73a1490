/**
 * `srt://` URIs as srt-live-transmit spells them (its docs/apps/srt-live-transmit.md, "Medium:
 * SRT"): `srt://host:port` calls, `srt://:port` (or `@host:port`, or `mode=listener`) listens,
 * `mode=rendezvous` does both (on the same port, unless `port=` names the local one); query keys
 * `latency` (ms), `passphrase`, `pbkeylen`, `streamid`, `conntimeo` (ms), `tsbpd`, `port` (the
 * local port of a caller or rendezvous) and `mode`. Keys it does not know are refused,
 * so a typo does not pass silently. Pure.
 */
import type { SrtSocketOptions } from "./libsrt";
import { MAX_STREAMID_BYTES } from "./streamid";

export type SrtMode = "caller" | "listener" | "rendezvous";

export interface SrtUri {
  mode: SrtMode;
  /** Host to call, or to bind ("" or 0.0.0.0: every address). */
  host: string;
  port: number;
  /** `port=`: the local port a caller or rendezvous binds (rendezvous default: `port`, the remote one). */
  localPort?: number;
  options: SrtSocketOptions;
  /** The URI for logs and metric labels: scheme, host, port and mode, no secret. */
  display: string;
}

/** A URI that cannot be used; `message` says why and never repeats a secret. */
export class UriError extends Error {
  override readonly name = "UriError";
}

/** `mode=` values, srt-live-transmit's synonyms included. */
const MODES: Readonly<Record<string, SrtMode | undefined>> = { caller: "caller", client: "caller", listener: "listener", server: "listener", rendezvous: "rendezvous" };

const KEYS = new Set(["mode", "latency", "passphrase", "pbkeylen", "streamid", "conntimeo", "tsbpd", "port"]);

function int(key: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new UriError(`${key}=${v}: an integer from ${min} to ${max}`);
  return n;
}

/** @throws UriError for another scheme, a missing or bad port, an unknown key or a bad value. */
export function parseSrtUri(text: string): SrtUri {
  const m = /^srt:\/\/(@)?(\[[0-9A-Fa-f:.]+\]|[^:/?#@\[\]]*):([^/?]*)\/?(?:\?(.*))?$/.exec(text);
  if (!m) throw new UriError(text.includes("://") && !text.startsWith("srt://") ? `${text.slice(0, text.indexOf("://"))}:// is not srt://` : "not an SRT URI: srt://host:port[?latency=ms&passphrase=…&streamid=…]");
  const port = int("port", m[3]!, 1, 65535);
  const host = m[2]!.replace(/^\[(.*)\]$/, "$1");
  // the query as written (a streamid may hold "#", "=" and ":"); %XX decoded
  const q = new Map<string, string>();
  for (const pair of (m[4] ?? "").split("&").filter(Boolean)) {
    const eq = pair.indexOf("=");
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const raw = eq < 0 ? "" : pair.slice(eq + 1);
    let value = raw;
    try {
      value = /%[0-9A-Fa-f]{2}/.test(raw) ? decodeURIComponent(raw) : raw;
    } catch {
      throw new UriError(`${key.slice(0, 32)}: not valid percent-encoding`);
    }
    q.set(key, value);
  }
  for (const k of q.keys()) if (!KEYS.has(k)) throw new UriError(`unknown key "${k.slice(0, 32)}" (known: ${[...KEYS].join(", ")})`);
  const listenSpelled = m[1] === "@";
  const modeText = q.get("mode") ?? (host === "" || listenSpelled ? "listener" : "caller");
  const mode = MODES[modeText];
  if (!mode) throw new UriError(`mode=${modeText.slice(0, 16)}: caller, listener or rendezvous`);
  if (mode !== "listener" && host === "") throw new UriError(`${mode} mode needs a host to call`);
  const options: SrtSocketOptions = {};
  const latency = q.get("latency");
  if (latency !== undefined) options.latencyMs = int("latency", latency, 0, 60_000);
  const passphrase = q.get("passphrase");
  if (passphrase !== undefined) {
    if (passphrase.length < 10 || passphrase.length > 79) throw new UriError("passphrase: 10 to 79 characters");
    options.passphrase = passphrase;
  }
  const pbkeylen = q.get("pbkeylen");
  if (pbkeylen !== undefined) {
    if (!["0", "16", "24", "32"].includes(pbkeylen)) throw new UriError("pbkeylen: 16, 24 or 32");
    options.pbKeyLen = Number(pbkeylen);
  }
  const streamId = q.get("streamid");
  if (streamId !== undefined) {
    if (Buffer.byteLength(streamId) > MAX_STREAMID_BYTES) throw new UriError(`streamid: at most ${MAX_STREAMID_BYTES} bytes`);
    options.streamId = streamId;
  }
  const conntimeo = q.get("conntimeo");
  if (conntimeo !== undefined) options.connectTimeoutMs = int("conntimeo", conntimeo, 50, 60_000);
  const tsbpd = q.get("tsbpd");
  if (tsbpd !== undefined) {
    if (!["0", "1", "true", "false", "yes", "no"].includes(tsbpd)) throw new UriError("tsbpd: true or false");
    options.tsbpd = ["1", "true", "yes"].includes(tsbpd);
  }
  if (mode === "rendezvous") options.rendezvous = true;
  const local = q.get("port");
  const localPort = local === undefined ? undefined : int("port", local, 1, 65535);
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return { mode, host, port, ...(localPort !== undefined ? { localPort } : {}), options, display: `srt://${shownHost}:${port}${mode === "caller" && !q.has("mode") ? "" : `?mode=${mode}`}` };
}
