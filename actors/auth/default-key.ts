/**
 * The signing key of a fresh install: when no key is configured (no JWT_SECRET, JWKS_FILE or
 * JWKS_URL), one HS256 secret is generated once into `<DATA_DIR>/jwt-secret` (file mode 0600 in a
 * directory created with mode 0700) and read again on every later start, by the node and by
 * `veza-stream token` alike, so tokens minted on this machine verify on this machine's node.
 *
 * Where: `DATA_DIR`, else `$XDG_DATA_HOME/veza-stream`, else `~/.local/share/veza-stream` (the XDG
 * base directory convention), not a folder in the working directory: the node and the command line
 * find the same key from any directory (`npx veza-stream token` in a subfolder, a global install),
 * and the secret never lands in a git work tree where `git add -A` would commit it.
 *
 * A generated key is for one machine only; {@link usesGeneratedKey} tells a node that it runs on one
 * (a cluster must share configured keys).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Config } from "../../config";

/** Name of the generated secret's file inside the data directory. */
export const GENERATED_KEY_FILE = "jwt-secret";

/** Bytes of entropy of a generated secret: 32 (256 bits, RFC 7518 §3.2 for HS256). */
const SECRET_BYTES = 32;

/** Configuration keys that name a verification key; none set means the generated key is used. */
export type KeyConfig = Pick<Config, "jwtSecret" | "jwksFile" | "jwksUrl" | "dataDir">;

/**
 * The data directory: `config.dataDir`, else `$XDG_DATA_HOME/veza-stream`, else
 * `~/.local/share/veza-stream`. An absolute path.
 */
export function resolveDataDir(config: Pick<Config, "dataDir">, env: NodeJS.ProcessEnv = process.env): string {
  if (config.dataDir) return path.resolve(config.dataDir);
  const xdg = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(os.homedir(), ".local", "share");
  return path.join(xdg, "veza-stream");
}

/**
 * Whether a node with this configuration verifies tokens with the generated key only (no
 * JWT_SECRET, JWKS_FILE nor JWKS_URL). Such a node must not join a cluster: the other nodes would
 * not know its key.
 */
export function usesGeneratedKey(config: KeyConfig): boolean {
  return !config.jwtSecret && !config.jwksFile && !config.jwksUrl;
}

/** The generated secret and where it lives. */
export interface GeneratedSecret {
  /** The secret: 32 random bytes, base64url (43 characters). */
  secret: string;
  /** Absolute path of its file. */
  file: string;
  /** True when this call created it, false when it was there already. */
  created: boolean;
}

/**
 * Reads `<dir>/jwt-secret`, creating the directory (mode 0700) and the file (mode 0600) with a new
 * random secret when it is missing. Creation is atomic (a temporary file hard-linked into place), so
 * two processes starting at once end up with the same secret.
 * @throws Error when the file is readable by group or others (fix: `chmod 600 <file>`), or holds
 *   no secret of at least 32 characters.
 */
export function loadOrCreateGeneratedSecret(dir: string): GeneratedSecret {
  const file = path.join(dir, GENERATED_KEY_FILE);
  let created = false;
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(dir, `.${GENERATED_KEY_FILE}.${process.pid}.${randomBytes(4).toString("hex")}`);
    fs.writeFileSync(tmp, `${randomBytes(SECRET_BYTES).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
    try {
      fs.linkSync(tmp, file); // fails with EEXIST if another process won the race: use its secret
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o077) throw new Error(`${file} is readable by others (mode ${mode.toString(8)}): run chmod 600 ${file}`);
  const secret = fs.readFileSync(file, "utf8").trim();
  if (secret.length < 32 || secret.includes(",")) throw new Error(`${file} holds no usable secret (32 characters or more, no comma); delete it to generate a new one`);
  return { secret, file, created };
}
