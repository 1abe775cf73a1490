/**
 * What a token allows: a list of scopes, each an action (`publish`, `listen`, `admin`) on stream
 * ids matched by patterns (`radio` exactly, `radio-*` by prefix, `*` all). The shape follows
 * MediaMTX's `mediamtx_permissions: [{action, path}]`, with several patterns per action. Pure: no
 * I/O, used by every way in (WebSocket, HTTP, Icecast, SRT, RIST) through the token verifier.
 */
import { z } from "zod";

export const ACTIONS = ["publish", "listen", "admin"] as const;
export type Action = (typeof ACTIONS)[number];

/** A stream-id pattern: a stream id, a stream-id prefix followed by `*`, or `*`. */
const PATTERN = /^[A-Za-z0-9_-]{0,64}\*?$/;

export const Scope = z.object({
  action: z.enum(ACTIONS),
  /** Stream-id patterns; `admin` scopes usually name `*`. */
  streams: z.array(z.string().regex(PATTERN, "a stream id, a prefix ending in *, or *").min(1)).min(1).max(64),
});
export type Scope = z.infer<typeof Scope>;

/** Whether `pattern` matches `streamId`: equal, or `prefix*` and the id starts with the prefix. */
export function matches(pattern: string, streamId: string): boolean {
  return pattern.endsWith("*") ? streamId.startsWith(pattern.slice(0, -1)) : pattern === streamId;
}

/**
 * Whether `scopes` allow `action` on `streamId` (or, for `admin` without a stream, on anything).
 * `admin` implies `publish` and `listen` on the streams it names.
 */
export function allows(scopes: readonly Scope[], action: Action, streamId = "*"): boolean {
  return scopes.some((s) => (s.action === action || s.action === "admin") && s.streams.some((p) => (streamId === "*" ? p === "*" : matches(p, streamId))));
}

/**
 * Parses the command line's `--scope action:pattern[,pattern…]` (e.g. `publish:radio`,
 * `listen:news-*`, `admin:*`) into a scope.
 * @throws Error naming what is wrong.
 */
export function parseScope(text: string): Scope {
  const colon = text.indexOf(":");
  const action = colon < 0 ? text : text.slice(0, colon);
  const streams = colon < 0 ? ["*"] : text.slice(colon + 1).split(",").filter(Boolean);
  const parsed = Scope.safeParse({ action, streams });
  if (!parsed.success) throw new Error(`bad scope "${text}": ${parsed.error.issues.map((i) => i.message).join("; ")} (use publish:<stream>, listen:<prefix>*, admin:*)`);
  return parsed.data;
}

