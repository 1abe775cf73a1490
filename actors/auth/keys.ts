/**
 * Keys that sign and verify tokens (JWS, RFC 7515; keys as JWK, RFC 7517):
 * - HS256 secrets (JWT_SECRET): each has a `kid` derived from it, so a token names its secret and
 *   several secrets verify at once during a rotation;
 * - public keys (ES256, EdDSA, RS256) from a JWKS file, re-read when it changes
 *   ({@link JwksFile}), or from a JWKS URL (jose's createRemoteJWKSet, in tokens.ts);
 * - a private JWK file that signs (`veza-stream token --key`).
 * Algorithms are tied to the key type: HS256 only with a secret, the asymmetric ones only with a
 * public key of their type; `none` never.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import { createLocalJWKSet, errors, importJWK, type JSONWebKeySet, type JWK, type JWTHeaderParameters, type FlattenedJWSInput } from "jose";
import type { Logger } from "pino";

/** The symmetric algorithm: HMAC with SHA-256 (RFC 7518 §3.2). */
export const HS_ALG = "HS256";
/** Asymmetric algorithms accepted (RFC 7518 §3.3, §3.4; RFC 8037 EdDSA, and its fully specified name Ed25519). */
export const PUBLIC_ALGS = ["ES256", "EdDSA", "Ed25519", "RS256"] as const;
/** What each key type may sign with. */
const ALGS_BY_KTY: Record<string, readonly string[]> = { EC: ["ES256"], OKP: ["EdDSA", "Ed25519"], RSA: ["RS256"] };
/** JWK members of private keys (RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2) and symmetric keys (`k`). */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

/** Anything jose's jwtVerify and SignJWT take as a key. */
export type KeyLike = Awaited<ReturnType<typeof importJWK>>;

/** An HS256 secret with its key id. */
export interface HsKey {
  kid: string;
  key: Uint8Array;
}

/**
 * The key id of an HS256 secret: the first 8 base64url characters of its SHA-256 (48 bits), enough
 * to tell a handful of secrets apart, and no help to guess a 256-bit secret.
 */
export function secretKid(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("base64url").slice(0, 8);
}

/** The secrets as keys, in order (the first one signs). */
export function hsKeys(secrets: readonly string[]): HsKey[] {
  return secrets.map((s) => ({ kid: secretKid(s), key: new TextEncoder().encode(s) }));
}

/** A key that signs: its algorithm, its key id, the key. */
export interface SigningKey {
  alg: string;
  kid: string;
  key: KeyLike | Uint8Array;
}

/** The signing key of an HS256 secret. */
export function hsSigningKey(secret: string): SigningKey {
  return { alg: HS_ALG, kid: secretKid(secret), key: new TextEncoder().encode(secret) };
}

/**
 * Reads a private JWK file (one JSON object with `d` and a `kid`; `alg` optional: ES256 for EC
 * P-256, EdDSA for OKP Ed25519, RS256 for RSA) as a signing key. Its public half goes into the JWKS
 * the nodes verify with.
 * @throws Error naming the file and what is wrong.
 */
export async function loadPrivateJwk(file: string): Promise<SigningKey> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(fs.readFileSync(file, "utf8")) as JWK;
  } catch (err) {
    throw new Error(`cannot read the private key ${file}: ${(err as Error).message}`);
  }
  if (!jwk || typeof jwk !== "object" || typeof jwk.kty !== "string" || !jwk.d) throw new Error(`${file} is not a private JWK (a JSON object with kty and d)`);
  if (typeof jwk.kid !== "string" || !jwk.kid) throw new Error(`${file}: the key has no kid; the nodes choose the public key by it`);
  const allowed = ALGS_BY_KTY[jwk.kty] ?? [];
  const alg = jwk.alg ?? (jwk.kty === "EC" && jwk.crv === "P-256" ? "ES256" : jwk.kty === "OKP" && jwk.crv === "Ed25519" ? "EdDSA" : jwk.kty === "RSA" ? "RS256" : "");
  if (!allowed.includes(alg)) throw new Error(`${file}: key type ${jwk.kty}${jwk.crv ? ` ${jwk.crv}` : ""} with alg ${alg || "(none)"}: use ES256 (EC P-256), EdDSA (OKP Ed25519) or RS256 (RSA ≥ 2048 bits)`);
  return { alg, kid: jwk.kid, key: await importJWK(jwk, alg) };
}

/**
 * The public, signing keys of a JWKS document: each needs a `kid` and a type of
 * {@link ALGS_BY_KTY} (an `alg`, if given, of that type); private and symmetric members are dropped,
 * so a private JWKS can be given and never signs or verifies as a secret. Keys that do not qualify
 * are skipped and reported in `skipped`.
 * @throws Error when the document is not a JWKS (`{"keys": [...]}`).
 */
export function publicJwks(doc: unknown): { jwks: JSONWebKeySet; skipped: string[] } {
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error('not a JSON Web Key Set: expected {"keys": [...]} (RFC 7517 §5)');
  const out: JWK[] = [];
  const skipped: string[] = [];
  for (const [i, raw] of keys.entries()) {
    const k = raw as JWK;
    const name = typeof k?.kid === "string" ? `kid ${k.kid}` : `key #${i}`;
    const algs = ALGS_BY_KTY[String(k?.kty)];
    if (!algs) skipped.push(`${name}: key type ${String(k?.kty)} does not verify here (EC, OKP, RSA)`);
    else if (typeof k.kid !== "string" || !k.kid) skipped.push(`${name}: no kid`);
    else if (k.alg !== undefined && !algs.includes(k.alg)) skipped.push(`${name}: alg ${k.alg} is not allowed for ${k.kty} (${algs.join(", ")})`);
    else if (k.use !== undefined && k.use !== "sig") skipped.push(`${name}: use ${k.use}, not sig`);
    else if (out.some((o) => o.kid === k.kid)) skipped.push(`${name}: duplicate kid, the first one is used`);
    else {
      const pub: JWK = { ...k };
      for (const m of PRIVATE_MEMBERS) delete (pub as Record<string, unknown>)[m];
      delete pub.key_ops;
      out.push(pub);
    }
  }
  return { jwks: { keys: out }, skipped };
}

/** Resolves the verification key of a token from its protected header, as jose's key functions do. */
export type KeyResolver = (header: JWTHeaderParameters, token: FlattenedJWSInput) => Promise<KeyLike | Uint8Array>;

/**
 * A JWKS file, read at construction and again whenever its size, modification time or inode
 * changes: checked every `pollMs` and at once (at most every 200 ms) when a token names a kid the
 * set does not have. An unreadable or invalid new version keeps the previous set (logged).
 */
export class JwksFile {
  private resolver: KeyResolver;
  private kidList: string[] = [];
  private stamp = "";
  private lastCheck = 0;
  private readonly timer: NodeJS.Timeout;

  /**
   * @param file path of the JWKS JSON file
   * @param pollMs interval of the change check, ms (default 2000)
   * @throws Error when the file cannot be read or is not a JWKS (at construction only)
   */
  constructor(readonly file: string, private readonly log?: Logger, pollMs = 2000) {
    this.resolver = this.load();
    this.timer = setInterval(() => this.check(), pollMs).unref();
  }

  /** The key ids of the current set. */
  get kids(): readonly string[] {
    return this.kidList;
  }

  /** Re-reads the file if it changed. @returns whether the set was replaced. */
  check(): boolean {
    this.lastCheck = Date.now();
    let stamp: string;
    try {
      stamp = this.statStamp();
    } catch (err) {
      this.log?.warn({ file: this.file, err: (err as Error).message }, "JWKS file unreadable; keeping the previous keys");
      return false;
    }
    if (stamp === this.stamp) return false;
    try {
      this.resolver = this.load();
      return true;
    } catch (err) {
      this.stamp = stamp; // do not retry the same broken version every poll
      this.log?.warn({ file: this.file, err: (err as Error).message }, "JWKS file invalid; keeping the previous keys");
      return false;
    }
  }

  /** The key for a token's header; re-checks the file first when the kid is unknown. */
  readonly resolve: KeyResolver = async (header, token) => {
    try {
      return await this.resolver(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || Date.now() - this.lastCheck < 200 || !this.check()) throw err;
      return this.resolver(header, token);
    }
  };

  /** Stops the change check. */
  close(): void {
    clearInterval(this.timer);
  }

  private statStamp(): string {
    const st = fs.statSync(this.file, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  }

  private load(): KeyResolver {
    const stamp = this.statStamp();
    let doc: unknown;
    try {
      doc = JSON.parse(fs.readFileSync(this.file, "utf8"));
    } catch (err) {
      throw new Error(`JWKS_FILE ${this.file}: ${(err as Error).message}`);
    }
    const { jwks, skipped } = publicJwks(doc);
    if (skipped.length > 0) this.log?.warn({ file: this.file, skipped }, "JWKS file: keys skipped");
    this.kidList = jwks.keys.map((k) => k.kid!);
    this.stamp = stamp;
    this.log?.info({ file: this.file, kids: this.kidList }, "JWKS file loaded");
    const local = createLocalJWKSet(jwks);
    return (header, token) => local(header, token);
  }
}
