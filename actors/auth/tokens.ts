/**
 * Tokens: JWTs (RFC 7519) signed as JWS compact (RFC 7515) with the keys of keys.ts. Claims: `sub`
 * (who), `scopes` (what: a list of {@link Scope}), `exp` (until when), optional `nbf`, `jti`, and
 * `iss` / `aud` when JWT_ISSUER / JWT_AUDIENCE are set. {@link TokenVerifier.verify} checks all of
 * it, and the revocation list, and throws a catalogued {@link VezaError} (UNAUTHORIZED with
 * `data.reason`, TOKEN_EXPIRED, AUTH_UNAVAILABLE) whose message says what is wrong, never the token.
 * The format and the rotation procedure: docs/security.md.
 */
import { randomBytes } from "node:crypto";
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTPayload, type RemoteJWKSet } from "jose";
import type { Logger } from "pino";
import { z } from "zod";
import type { Config } from "../../config";
import { VezaError } from "../errors";
import { loadOrCreateGeneratedSecret, resolveDataDir, usesGeneratedKey } from "./default-key";
import { HS_ALG, hsKeys, hsSigningKey, JwksFile, PUBLIC_ALGS, type HsKey, type KeyResolver, type SigningKey } from "./keys";
import { createRevocationList, type RevocationList } from "./revocation";
import { Scope } from "./scopes";

/** What a verified token grants. */
export interface VerifiedToken {
  /** Who: the token's subject. */
  sub: string;
  /** What: validated scopes, at least one. */
  scopes: Scope[];
  /** Until when: seconds since the epoch. */
  exp: number;
  /** The token's id, when it has one (needed to revoke it). */
  jti?: string;
  /** The key id that verified it. */
  kid?: string;
}

/** The configuration the verifier reads. */
export type AuthConfig = Pick<Config, "jwtSecret" | "jwksFile" | "jwksUrl" | "jwtIssuer" | "jwtAudience" | "dataDir" | "redisUrl" | "namespace">;

export interface TokenVerifierOptions {
  log?: Logger;
  /** Environment for the default data directory (XDG_DATA_HOME, HOME); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Interval of the JWKS_FILE change check, ms (default 2000). */
  jwksFilePollMs?: number;
  /** Age after which the JWKS_URL set is fetched again before use, ms (default 600 000). */
  jwksMaxAgeMs?: number;
  /** Least time between two fetches of JWKS_URL for an unknown kid, ms (default 30 000). */
  jwksCooldownMs?: number;
  /** Leeway for `exp` and `nbf` against clock differences, s (default 5; RFC 7519 §4.1.4). */
  clockToleranceS?: number;
  /** The revocation list; default Redis with REDIS_URL, else memory. */
  revocations?: RevocationList;
  /** More HS256 secrets that verify but never sign with {@link TokenVerifier.mint} (a node's in-process key). */
  localSecrets?: readonly string[];
}

/** Claims of {@link mintToken}. */
export interface MintClaims {
  scopes: Scope[];
  /** Lifetime, s (> 0). */
  ttlS: number;
  sub: string;
  iss?: string;
  aud?: string;
  /** Token id; default 16 random base64url characters (96 bits). */
  jti?: string;
}

/** Longest token accepted, characters: far above any real one, bounds the work on garbage. */
const MAX_TOKEN_CHARS = 8192;
const Claims = z.object({
  sub: z.string().min(1).max(256),
  scopes: z.array(Scope).min(1).max(64),
  exp: z.number().int(),
  jti: z.string().min(1).max(128).optional(),
});

const unauthorized = (reason: string, message: string) => new VezaError("UNAUTHORIZED", message, { reason });

/** Signs a token (JWS compact) with `key`: header `{alg, kid}`, claims `scopes, sub, iat, exp, jti` (+ `iss`, `aud`). */
export async function mintToken(key: SigningKey, claims: MintClaims): Promise<string> {
  if (!(claims.ttlS > 0)) throw new Error(`ttl must be > 0 s, got ${claims.ttlS}`);
  const scopes = z.array(Scope).min(1).parse(claims.scopes);
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ scopes })
    .setProtectedHeader({ alg: key.alg, kid: key.kid })
    .setSubject(claims.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.ceil(claims.ttlS))
    .setJti(claims.jti ?? randomBytes(12).toString("base64url"));
  if (claims.iss) jwt.setIssuer(claims.iss);
  if (claims.aud) jwt.setAudience(claims.aud);
  return jwt.sign(key.key);
}

/**
 * Verifies tokens against the configured keys: JWT_SECRET's HS256 secrets (several at once for a
 * rotation), JWKS_FILE and JWKS_URL public keys, else the generated key of a fresh install
 * (default-key.ts). Build it with {@link TokenVerifier.fromConfig}; {@link close} it at shutdown.
 */
export class TokenVerifier {
  /** The generated key's file when the verifier runs on it (no key configured), else null. */
  readonly generatedKeyFile: string | null;
  private readonly hs: HsKey[];
  private readonly file: JwksFile | null;
  private readonly remote: RemoteJWKSet | null;
  private readonly signing: SigningKey | null;
  private readonly tolerance: number;
  private readonly localCount: number;
  readonly revocations: RevocationList;

  private constructor(private readonly config: AuthConfig, options: TokenVerifierOptions) {
    let secrets = config.jwtSecret?.reveal() ?? [];
    this.generatedKeyFile = null;
    if (usesGeneratedKey(config)) {
      const generated = loadOrCreateGeneratedSecret(resolveDataDir(config, options.env));
      secrets = [generated.secret];
      this.generatedKeyFile = generated.file;
      options.log?.[generated.created ? "warn" : "info"]({ file: generated.file, kid: hsKeys(secrets)[0]!.kid }, generated.created ? "no token key configured: generated one for this machine" : "no token key configured: using this machine's generated key");
    }
    this.localCount = options.localSecrets?.length ?? 0;
    this.hs = hsKeys([...secrets, ...(options.localSecrets ?? [])]);
    this.signing = secrets[0] !== undefined ? hsSigningKey(secrets[0]) : null;
    this.file = config.jwksFile ? new JwksFile(config.jwksFile, options.log?.child({ mod: "jwks" }), options.jwksFilePollMs) : null;
    this.remote = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl), { cacheMaxAge: options.jwksMaxAgeMs ?? 600_000, cooldownDuration: options.jwksCooldownMs ?? 30_000, timeoutDuration: 5000 }) : null;
    this.tolerance = options.clockToleranceS ?? 5;
    this.revocations = options.revocations ?? createRevocationList(config.redisUrl, config.namespace);
  }

  /**
   * A verifier for `config`. With no key configured, reads (or creates) the generated key.
   * @throws Error when JWKS_FILE cannot be read or the generated key file is unsafe.
   */
  static fromConfig(config: AuthConfig, options: TokenVerifierOptions = {}): TokenVerifier {
    return new TokenVerifier(config, options);
  }

  /** The configured (or generated) HS256 key ids, in order (the first one signs); not the local ones. */
  get secretKids(): string[] {
    return this.hs.slice(0, this.hs.length - this.localCount).map((k) => k.kid);
  }

  /**
   * Checks `token` and returns what it grants.
   * @throws VezaError TOKEN_EXPIRED; UNAUTHORIZED with `data.reason` one of `malformed`,
   *   `algorithm`, `unknown_kid`, `signature`, `not_yet_valid`, `issuer`, `audience`, `claims`,
   *   `scopes`, `revoked`; AUTH_UNAVAILABLE when JWKS_URL or Redis cannot be reached.
   */
  async verify(token: string): Promise<VerifiedToken> {
    if (typeof token !== "string" || token.length === 0) throw unauthorized("missing", "no token");
    if (token.length > MAX_TOKEN_CHARS) throw unauthorized("malformed", `token longer than ${MAX_TOKEN_CHARS} characters`);
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw unauthorized("malformed", "not a JWT: expected three base64url parts, header.payload.signature (RFC 7515 §7.1)");
    }
    if (header.crit !== undefined) throw unauthorized("malformed", "the token's header has crit parameters, which are not supported (RFC 7515 §4.1.11)");
    const alg = String(header.alg);
    const kid = typeof header.kid === "string" ? header.kid : undefined;
    let payload: JWTPayload | undefined;
    try {
      for (const key of this.keysFor(alg, kid)) {
        try {
          payload = (await jwtVerify(token, key, { algorithms: [alg], issuer: this.config.jwtIssuer, audience: this.config.jwtAudience, clockTolerance: this.tolerance, requiredClaims: ["exp", "sub"] })).payload;
          break;
        } catch (err) {
          if (!(err instanceof errors.JWSSignatureVerificationFailed) || kid !== undefined) throw err; // kid-less HS256: try the next secret
        }
      }
    } catch (err) {
      throw toVezaError(err, alg, kid);
    }
    if (!payload) throw unauthorized("signature", "bad signature: no configured secret signed this token");
    const claims = Claims.safeParse(payload);
    if (!claims.success) {
      const scopesBad = claims.error.issues.some((i) => i.path[0] === "scopes");
      throw unauthorized(scopesBad ? "scopes" : "claims", `${scopesBad ? "missing or invalid scopes" : "invalid claims"}: ${claims.error.issues.map((i) => `${i.path.join(".") || "payload"}: ${i.message}`).join("; ")}`);
    }
    const { sub, scopes, exp, jti } = claims.data;
    if (jti !== undefined && (await this.revocations.isRevoked(jti))) throw unauthorized("revoked", `token ${jti} has been revoked`);
    return { sub, scopes, exp, ...(jti !== undefined ? { jti } : {}), ...(kid !== undefined ? { kid } : {}) };
  }

  /** Revokes the token with id `jti` until its `exp` (s since the epoch), on every node sharing the list. */
  async revoke(jti: string, exp: number): Promise<void> {
    await this.revocations.revoke(jti, exp);
  }

  /**
   * Signs a token with the first HS256 secret (JWT_SECRET's first, or the generated key), adding
   * JWT_ISSUER and JWT_AUDIENCE when configured.
   * @throws Error when only public keys are configured (sign with a private key file instead).
   */
  async mint(claims: Omit<MintClaims, "iss" | "aud">): Promise<string> {
    if (!this.signing) throw new Error("no HS256 secret to sign with: only public keys are configured (JWKS_FILE/JWKS_URL); sign with the private key instead");
    return mintToken(this.signing, { ...claims, iss: this.config.jwtIssuer, aud: this.config.jwtAudience });
  }

  /** Fetches JWKS_URL once now (to report a bad URL at start). @throws VezaError AUTH_UNAVAILABLE. */
  async prefetch(): Promise<void> {
    if (!this.remote) return;
    await this.remote.reload().catch((err: unknown) => {
      throw new VezaError("AUTH_UNAVAILABLE", `JWKS_URL ${this.config.jwksUrl}: ${(err as Error).message}`, { reason: "jwks_unavailable" });
    });
  }

  /** Stops the JWKS file check and closes the revocation list. */
  async close(): Promise<void> {
    this.file?.close();
    await this.revocations.close();
  }

  /** Candidate keys for a header: HS256 only among the secrets, public algorithms only among the JWKS keys. */
  private keysFor(alg: string, kid: string | undefined): Array<Uint8Array | KeyResolver> {
    if (alg === HS_ALG) {
      if (this.hs.length === 0) throw unauthorized("algorithm", "HS256 tokens are not accepted: no JWT_SECRET is configured");
      const keys = kid === undefined ? this.hs : this.hs.filter((k) => k.kid === kid);
      if (keys.length === 0) throw unauthorized("unknown_kid", `unknown key id "${kid}": no configured HS256 secret has it (retired after a rotation?)`);
      return keys.map((k) => k.key);
    }
    if (!(PUBLIC_ALGS as readonly string[]).includes(alg)) throw unauthorized("algorithm", `algorithm ${alg} is not accepted (HS256, ES256, EdDSA, RS256)`);
    if (!this.file && !this.remote) throw unauthorized("algorithm", `${alg} tokens are not accepted: no public keys are configured (JWKS_FILE, JWKS_URL)`);
    return [this.publicKey];
  }

  /** A public key from JWKS_FILE, else JWKS_URL. */
  private readonly publicKey: KeyResolver = async (header, token) => {
    if (this.file) {
      try {
        return await this.file.resolve(header, token);
      } catch (err) {
        if (!this.remote || !(err instanceof errors.JWKSNoMatchingKey)) throw err;
      }
    }
    try {
      return await this.remote!(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported) throw err;
      throw new VezaError("AUTH_UNAVAILABLE", `the key set at JWKS_URL cannot be fetched: ${(err as Error).message}`, { reason: "jwks_unavailable" });
    }
  };
}

/** `s` seconds since the epoch as ISO 8601, or "?" when it is no representable date (Date throws beyond ±8.64e12 s). */
function isoTime(s: number): string {
  const d = new Date(s * 1000);
  return Number.isFinite(d.getTime()) ? d.toISOString() : "?";
}

/** The catalogued error for a jose failure. */
function toVezaError(err: unknown, alg: string, kid: string | undefined): VezaError {
  if (err instanceof VezaError) return err;
  if (err instanceof errors.JWTExpired) {
    const exp = Number(err.payload.exp);
    return new VezaError("TOKEN_EXPIRED", `token expired at ${isoTime(exp)}`, { reason: "expired", exp });
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    // jose says "invalid" for a claim of the wrong type (e.g. nbf "x"): bad claims, not a time
    if (err.reason === "invalid") return unauthorized("claims", `claim ${err.claim}: ${err.message}`);
    if (err.claim === "nbf") return unauthorized("not_yet_valid", `token not valid before ${isoTime(Number(err.payload.nbf))}`);
    if (err.claim === "iss") return unauthorized("issuer", `wrong or missing issuer (iss): expected the configured JWT_ISSUER`);
    if (err.claim === "aud") return unauthorized("audience", `wrong or missing audience (aud): expected the configured JWT_AUDIENCE`);
    return unauthorized("claims", `claim ${err.claim}: ${err.message}`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return unauthorized("signature", `bad signature (key ${kid ?? "without kid"}, ${alg})`);
  if (err instanceof errors.JWKSNoMatchingKey) return unauthorized("unknown_kid", `unknown key id "${kid ?? "(none)"}" for ${alg}: no configured public key has it (retired after a rotation?)`);
  if (err instanceof errors.JWKSMultipleMatchingKeys) return unauthorized("unknown_kid", `the token names no kid and several ${alg} keys could verify it; tokens must carry a kid`);
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return unauthorized("algorithm", `algorithm ${alg} is not accepted for this key: ${err.message}`);
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return unauthorized("malformed", `malformed token: ${err.message}`);
  if (err instanceof TypeError) return unauthorized("malformed", `malformed token: ${err.message}`);
  return new VezaError("INTERNAL", `token verification failed: ${(err as Error)?.message ?? String(err)}`);
}
