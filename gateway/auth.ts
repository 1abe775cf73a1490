/**
 * The access model (actors/auth/access.ts) at the gateway's WebSocket doors: where a token comes
 * from, the admission of an upgrade, and a token's expiry during a session.
 *
 * Token sources, in order: `Authorization: Bearer <token>` (command-line and server clients),
 * then the `?token=` query parameter (browsers: the WebSocket API sets no headers). Not the
 * `Sec-WebSocket-Protocol` header: a token is not a subprotocol, the server would have to echo it
 * back (RFC 6455 §4.2.2), and proxies log that header as readily as a URL; `?token=` works from
 * every client, including players that take only a URL. Our own logs never contain it
 * (docs/security.md, "What is never logged").
 *
 * Refusals: a rate limit (connections per IP, an IP locked out after failed attempts, the listener
 * quotas) answers the upgrade with HTTP 429 and Retry-After, so a flood costs no socket. An auth
 * refusal (UNAUTHORIZED, TOKEN_EXPIRED, FORBIDDEN, AUTH_UNAVAILABLE) opens the socket, sends the
 * error message and closes it with the catalogue's close code (4401, 4403, 1013): a browser page
 * sees close codes, never an upgrade's HTTP status.
 */
import { retryAfterOf } from "../actors/auth/access";
import type { VerifiedToken } from "../actors/auth/tokens";
import type { Action } from "../actors/auth/scopes";
import { VezaError, errorCodeOf } from "../actors/errors";
import type { Gateway } from "./gateway";
import type { HttpResponse, UpgradeRequest } from "./uws";

/** The token of `Authorization: Bearer <token>` (RFC 6750 §2.1; scheme case-insensitive), else undefined. */
export function bearerToken(authorization: string): string | undefined {
  const m = /^bearer[ \t]+(\S+)\s*$/i.exec(authorization);
  return m?.[1];
}

/** The token of an upgrade: the Authorization header's, else `?token=`. */
export function upgradeToken(u: Pick<UpgradeRequest, "authorization" | "query">): string | undefined {
  return bearerToken(u.authorization) ?? (u.query.get("token") || undefined);
}

/** What an admitted upgrade carries into the socket: the grant, or the refusal to send once open. */
export interface Admission {
  grant: VerifiedToken | null;
  refusal: VezaError | null;
}

/**
 * The new-connections limit of `u`'s address (RATE_LIMITS connections): false once the upgrade
 * has been refused with 429 RATE_LIMITED and the limiter's Retry-After.
 */
export async function admitConnection(gw: Gateway, res: HttpResponse, u: UpgradeRequest, aborted: () => boolean): Promise<boolean> {
  const conn = await gw.access.limits.connection(u.ip);
  if (conn.ok) return true;
  if (!aborted()) gw.rejectUpgrade(res, "RATE_LIMITED", `at most ${gw.access.limits.settings.connections.points} new connections per ${gw.access.limits.settings.connections.durationS} s from one address`, conn.retryAfterS);
  return false;
}

/**
 * Admits an upgrade for `action` on `u.streamId`: the connection limit, then the token. Resolves
 * null when the upgrade was answered here (429) or aborted by the client; else the admission.
 * Call with `aborted()` reading the flag set by the response's onAborted.
 */
export async function admitUpgrade(gw: Gateway, res: HttpResponse, u: UpgradeRequest, action: Action, aborted: () => boolean): Promise<Admission | null> {
  if (!(await admitConnection(gw, res, u, aborted))) return null;
  try {
    const grant = await gw.access.authorize({ token: upgradeToken(u), ip: u.ip, action, streamId: u.streamId, via: `ws.${action}` });
    return { grant, refusal: null };
  } catch (err) {
    const code = errorCodeOf(err);
    if (code === "RATE_LIMITED") {
      const retryAfterS = retryAfterOf(err);
      if (!aborted()) gw.rejectUpgrade(res, "RATE_LIMITED", (err as Error).message, retryAfterS);
      return null;
    }
    return { grant: null, refusal: err instanceof VezaError ? err : new VezaError(code, (err as Error).message) };
  }
}

/** Seconds before `exp` at which a session is told its token expires: 60, or half its remaining life if shorter. */
const EXPIRING_NOTICE_S = 60;
/** The longest delay setTimeout takes, ms (Node: a longer one is set to 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A session's token expiry: sends `{"type":"auth.expiring","exp"}` ahead of `exp` and calls
 * `expire` at `exp` unless {@link renew} brought a later one. `send` and `expire` are not called
 * after {@link stop}.
 */
export class TokenExpiry {
  private notice: NodeJS.Timeout | null = null;
  private end: NodeJS.Timeout | null = null;

  constructor(
    private readonly send: (text: string) => void,
    private readonly expire: () => void,
  ) {}

  /** (Re)arms the timers for a grant expiring at `exp` (s since the epoch). */
  renew(exp: number): void {
    this.stop();
    const leftMs = exp * 1000 - Date.now();
    // setTimeout takes at most 2^31 − 1 ms (24.8 days; longer fires at once): re-arm from there
    if (leftMs - EXPIRING_NOTICE_S * 1000 > MAX_TIMER_MS) {
      this.notice = setTimeout(() => this.renew(exp), MAX_TIMER_MS);
      this.notice.unref();
      return;
    }
    // delays in whole seconds (the notice a little early, the end a little late): Node keeps a timer
    // list per distinct delay, and an unref'd one cleared early is kept until its delay is over, so
    // per-token delays in ms left one list per socket behind (found by bench/fuzz); seconds bound them
    const noticeMs = Math.floor(Math.max(0, leftMs - Math.min(EXPIRING_NOTICE_S * 1000, leftMs / 2)) / 1000) * 1000;
    this.notice = setTimeout(() => this.send(JSON.stringify({ type: "auth.expiring", exp })), noticeMs);
    this.end = setTimeout(() => this.expire(), Math.ceil(Math.max(0, leftMs) / 1000) * 1000);
    this.notice.unref();
    this.end.unref();
  }

  stop(): void {
    if (this.notice) clearTimeout(this.notice);
    if (this.end) clearTimeout(this.end);
    this.notice = this.end = null;
  }
}
