/**
 * The access model of a node, one for every way in (WebSocket publish and listen, the HTTP API,
 * the admin actions; later Icecast, SRT, RIST): who may do what (tokens, tokens.ts; scopes,
 * scopes.ts), how often (limits.ts), and the audit log of what was allowed and refused.
 *
 * - `publish` and `admin` always need a token; `listen` needs one only with LISTEN_AUTH=token.
 * - A failed authentication (a bad, expired or revoked token; not a missing one, not a valid one
 *   without the scope) counts against the IP's `authFailures` limit; a locked-out IP is refused
 *   with RATE_LIMITED before its token is even looked at.
 * - Audit: a child logger marked `audit: true` (one JSON line each, `event` names it): auth
 *   failures, and what callers report through {@link Access.auditEvent} (publish start, stop and
 *   takeover, kicks, stream ends, revocations). Tokens and secrets never appear in it.
 * docs/security.md documents all of it.
 */
import { randomBytes } from "node:crypto";
import type Redis from "ioredis";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Config } from "../../config";
import { VezaError, errorCodeOf } from "../errors";
import { hsSigningKey } from "./keys";
import { Limits, type LimitResult } from "./limits";
import { allows, type Action, type Scope } from "./scopes";
import { mintToken, TokenVerifier, type VerifiedToken } from "./tokens";

export type ListenAuth = Config["listenAuth"];

/** One access check. */
export interface AuthRequest {
  /** The token presented (Authorization: Bearer, `?token=`, auth.refresh), if any. */
  token: string | undefined;
  /** The client's address: the key of the auth-failure limit. */
  ip: string;
  action: Action;
  /** The stream the action is on; omitted for cluster-wide admin (then `admin` on `*` is needed). */
  streamId?: string;
  /** The way in, for the audit log: `ws.publish`, `ws.listen`, `http`, `admin`, … */
  via: string;
}

/** The refusal of a limit as a catalogued error: RATE_LIMITED with `data.limit` and `data.retryAfterS`. */
export function limitError(r: Extract<LimitResult, { ok: false }>): VezaError {
  return new VezaError("RATE_LIMITED", `rate limit ${r.limit} reached; retry in ${r.retryAfterS} s`, { limit: r.limit, retryAfterS: r.retryAfterS });
}

/** Seconds to wait before retrying after a `RATE_LIMITED` error ({@link limitError}'s data), else 5. */
export function retryAfterOf(err: unknown): number {
  return Number((err as { data?: { retryAfterS?: unknown } }).data?.retryAfterS) || 5;
}

/** Lifetime of the node's own in-process tokens (the demo broadcast), s: they never leave the process. */
const LOCAL_TOKEN_TTL_S = 366 * 86_400;

export interface AccessOptions {
  config: Config;
  log: Logger;
  /** The node's metrics registry (`veza_rate_limited_total`, `veza_auth_failures_total`). */
  registry: Registry;
  /** A Redis client for shared limits (REDIS_URL); absent: memory. Not closed by {@link Access.close}. */
  redis?: Redis | null;
  /** Environment for the default data directory (tests). */
  env?: NodeJS.ProcessEnv;
}

export class Access {
  readonly verifier: TokenVerifier;
  readonly limits: Limits;
  readonly listenAuth: ListenAuth;
  /** The audit log: `log.child({ audit: true })`. */
  readonly audit: Logger;
  /** A secret only this process knows, verifying {@link mintLocal}'s tokens (the demo broadcast's). */
  private readonly localSecret = randomBytes(32).toString("base64url");

  constructor(private readonly o: AccessOptions) {
    this.audit = o.log.child({ audit: true });
    this.listenAuth = o.config.listenAuth;
    this.verifier = TokenVerifier.fromConfig(o.config, { log: this.audit, env: o.env, localSecrets: [this.localSecret] });
    this.limits = new Limits({ namespace: o.config.namespace, redis: o.redis ?? null, registry: o.registry, logger: o.log.child({ mod: "limits" }), overrides: o.config.rateLimits });
  }

  /** Whether `action` needs a token on this node. */
  needsToken(action: Action): boolean {
    return action !== "listen" || this.listenAuth === "token";
  }

  /**
   * Checks that the request's token allows its action; null when the action needs no token
   * (listening with LISTEN_AUTH=none: a token given is then not even read).
   * @throws VezaError RATE_LIMITED (the IP is locked out after failed attempts: `data.retryAfterS`),
   *   UNAUTHORIZED (`data.reason`), TOKEN_EXPIRED, FORBIDDEN (valid, without the scope),
   *   AUTH_UNAVAILABLE (JWKS_URL or Redis unreachable).
   */
  async authorize(req: AuthRequest): Promise<VerifiedToken | null> {
    if (!this.needsToken(req.action)) return null;
    const grant = await this.authenticate(req);
    if (!allows(grant.scopes, req.action, req.streamId)) {
      this.auditFailure(req, "FORBIDDEN", "scope", grant.sub);
      throw new VezaError("FORBIDDEN", `the token of ${grant.sub} does not allow ${req.action} on ${req.streamId ? `stream ${req.streamId}` : "the cluster (admin:*)"}`, { action: req.action, streamId: req.streamId ?? "*" });
    }
    return grant;
  }

  /**
   * Verifies the request's token, whatever it allows (the caller checks the scopes): the IP's
   * lock-out first, then the token; a bad one counts as a failed attempt of the IP.
   * @throws as {@link authorize}, but never FORBIDDEN.
   */
  async authenticate(req: AuthRequest): Promise<VerifiedToken> {
    const allowed = await this.limits.authAllowed(req.ip);
    if (!allowed.ok) {
      this.auditFailure(req, "RATE_LIMITED", "locked_out");
      throw limitError(allowed);
    }
    if (!req.token) {
      this.auditFailure(req, "UNAUTHORIZED", "missing");
      throw new VezaError("UNAUTHORIZED", `${req.action} needs a token with the scope ${req.action}:${req.streamId ?? "*"} (Authorization: Bearer <token>, or ?token= on a WebSocket URL; docs/security.md)`, { reason: "missing" });
    }
    try {
      return await this.verifier.verify(req.token);
    } catch (err) {
      const code = errorCodeOf(err);
      this.auditFailure(req, code, String((err as { data?: { reason?: unknown } }).data?.reason ?? code));
      if (code === "UNAUTHORIZED" || code === "TOKEN_EXPIRED") await this.limits.authFailure(req.ip);
      throw err;
    }
  }

  /**
   * A new token for a session that holds `current`: it must be valid, allow the same action on the
   * same stream, and name the same `sub` (a session never changes hands).
   * @throws as {@link authorize}; FORBIDDEN when `sub` differs.
   */
  async refresh(current: VerifiedToken, req: AuthRequest): Promise<VerifiedToken> {
    const next = await this.authorize(req);
    if (!next) return current;
    if (next.sub !== current.sub) {
      this.auditFailure(req, "FORBIDDEN", "other_sub", next.sub);
      throw new VezaError("FORBIDDEN", `auth.refresh must carry a token of the same user (${current.sub}), not ${next.sub}`, { reason: "other_sub" });
    }
    return next;
  }

  /**
   * A token only this process verifies, for its own clients (the `--demo` broadcast): signed with
   * a secret generated at start that never leaves memory, valid 366 days, with JWT_ISSUER and
   * JWT_AUDIENCE when configured.
   */
  mintLocal(scopes: Scope[], sub: string): Promise<string> {
    return mintToken(hsSigningKey(this.localSecret), { scopes, sub, ttlS: LOCAL_TOKEN_TTL_S, iss: this.o.config.jwtIssuer, aud: this.o.config.jwtAudience });
  }

  /** An audit line: `event` (e.g. `publish.start`) and its facts (never a token). */
  auditEvent(event: string, facts: Record<string, unknown>): void {
    this.audit.info({ event, ...facts }, event);
  }

  async close(): Promise<void> {
    await this.verifier.close();
    await this.limits.close();
  }

  private auditFailure(req: AuthRequest, code: string, reason: string, sub?: string): void {
    this.audit.warn({ event: "auth.failure", code, reason, ip: req.ip, via: req.via, action: req.action, streamId: req.streamId, sub }, "auth.failure");
  }
}
