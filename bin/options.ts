/**
 * Argument parsers for commander options: each refuses a bad value with commander's
 * InvalidArgumentError, so the command stops at once with `error: option '--seconds <n>' argument
 * 'abc' is invalid. …` and exit code 1, before anything connects.
 */
import fs from "node:fs";
import { InvalidArgumentError } from "commander";

/** A number of seconds: finite, ≥ 0 (`allowZero`) or > 0. */
export function seconds(allowZero: boolean): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
      throw new InvalidArgumentError(`expected a number of seconds ${allowZero ? "≥ 0" : "> 0"}, e.g. 10 or 2.5`);
    }
    return n;
  };
}

/** `--rendition`: `auto`, or a rendition id 0-255 (the stream's hello lists them). */
export function rendition(value: string): "auto" | number {
  if (value === "auto") return "auto";
  if (!/^\d{1,3}$/.test(value) || Number(value) > 255) throw new InvalidArgumentError("expected auto or a rendition id 0-255 (GET /api/streams/<id> lists them)");
  return Number(value);
}

/** Comma-separated gateway URLs, each ws:// or wss:// with a host; returns them trimmed. */
export function gatewayUrls(value: string): string[] {
  const urls = value.split(",").map((u) => u.trim()).filter(Boolean);
  if (urls.length === 0) throw new InvalidArgumentError("expected one or more ws:// URLs, comma-separated");
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new InvalidArgumentError(`"${u}" is not a URL; expected e.g. ws://127.0.0.1:8080`);
    }
    if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") throw new InvalidArgumentError(`"${u}" is not a ws:// or wss:// URL`);
  }
  return urls;
}

/** The three base64url parts of a JWS in compact form (RFC 7515 §7.1). */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** A refused `--token` given inline: commander's own error would echo the value, and a token is a secret. */
export class TokenArgumentError extends Error {
  override readonly name = "TokenArgumentError";
}

/**
 * `--token <jwt>` or `--token @file` (also from VEZA_TOKEN): the token, or the trimmed content of
 * the file (so a secret need not be on the command line, where `ps` shows it); blank (an empty
 * VEZA_TOKEN) means none. Refuses what is not
 * shaped like a JWT (three base64url parts): a bad `@file` with commander's usual error (it names
 * the file), an inline value with a {@link TokenArgumentError} that does not echo it.
 */
export function token(value: string): string | undefined {
  const text = value.trim();
  if (text === "") return undefined; // VEZA_TOKEN= (set but empty) means no token
  if (!text.startsWith("@")) {
    if (!JWT_SHAPE.test(text)) throw new TokenArgumentError("--token / VEZA_TOKEN: the token is not a JWT (three base64url parts separated by dots, as `veza-stream token` prints); to read it from a file, write --token @file");
    return text;
  }
  const file = text.slice(1);
  if (!file) throw new InvalidArgumentError("expected a file name after @, e.g. --token @broadcaster.jwt");
  let content: string;
  try {
    content = fs.readFileSync(file, "utf8").trim();
  } catch (err) {
    throw new InvalidArgumentError(`cannot read the token file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (content === "") throw new InvalidArgumentError(`the token file ${file} is empty`);
  if (!JWT_SHAPE.test(content)) throw new InvalidArgumentError(`the token file ${file} does not hold a JWT (three base64url parts separated by dots, as \`veza-stream token\` prints)`);
  return content;
}
