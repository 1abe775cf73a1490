/**
 * `veza-stream token --scope publish:<pattern> [--scope listen:…] [--ttl 1h] [--sub NAME] [--key FILE]`:
 * mints one token and prints it on stdout (a summary with its id and expiry goes to stderr). Signs
 * with `--key` (a private JWK file), else the first JWT_SECRET, else this machine's generated key
 * (created if missing, the one a node started without keys uses). With only public keys configured
 * (JWKS_FILE/JWKS_URL) it needs `--key`. Any usage error exits 2 with one line naming it.
 */
import os from "node:os";
import { InvalidArgumentError, Option, type Command } from "commander";
import { usesGeneratedKey, resolveDataDir, loadOrCreateGeneratedSecret } from "../../actors/auth/default-key";
import { hsSigningKey, loadPrivateJwk, type SigningKey } from "../../actors/auth/keys";
import { parseScope, type Scope } from "../../actors/auth/scopes";
import { mintToken } from "../../actors/auth/tokens";
import { ConfigError, loadConfig, type Config } from "../../config";

/** Exit code of a usage error (bad flag, bad configuration, unreadable key). */
const EXIT_USAGE = 2;
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
/** Longest lifetime accepted: 366 days, s. */
const MAX_TTL_S = 366 * 86_400;

/** `--ttl`: a positive whole number with a unit, s, m, h or d (`30s`, `15m`, `1h`, `7d`), at most 366d; returns seconds. */
export function duration(value: string): number {
  const m = /^(\d+)([smhd])$/.exec(value.trim());
  const s = m ? Number(m[1]) * UNITS[m[2]!]! : NaN;
  if (!(s > 0) || s > MAX_TTL_S) throw new InvalidArgumentError("expected a duration such as 30s, 15m, 1h or 7d (at most 366d)");
  return s;
}

/** `--scope`, repeatable: each parsed by parseScope, collected in order. */
function scopeOption(value: string, previous: Scope[] | undefined): Scope[] {
  try {
    return [...(previous ?? []), parseScope(value)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** `--sub`: 1-256 printable characters. */
function subject(value: string): string {
  if (!/^[^\p{Cc}]{1,256}$/u.test(value)) throw new InvalidArgumentError("expected 1-256 printable characters");
  return value;
}

function defaultSub(): string {
  try {
    return os.userInfo().username || "cli";
  } catch {
    return "cli";
  }
}

interface TokenFlags {
  scope: Scope[];
  ttl: number;
  sub: string;
  key?: string;
}

function fail(message: string): never {
  process.stderr.write(`veza-stream token: ${message}\n`);
  process.exit(EXIT_USAGE);
}

/** The key to sign with, and a word on where it came from. */
async function signingKey(config: Config, keyFile: string | undefined): Promise<{ key: SigningKey; from: string }> {
  if (keyFile) return { key: await loadPrivateJwk(keyFile), from: `private key ${keyFile}` };
  const first = config.jwtSecret?.reveal()[0];
  if (first !== undefined) return { key: hsSigningKey(first), from: "JWT_SECRET (first secret)" };
  if (!usesGeneratedKey(config)) throw new Error("only public keys are configured (JWKS_FILE/JWKS_URL): pass --key <private JWK file> to sign");
  const generated = loadOrCreateGeneratedSecret(resolveDataDir(config));
  return { key: hsSigningKey(generated.secret), from: `this machine's generated key ${generated.file}${generated.created ? " (just created)" : ""}` };
}

/** Adds `token` to `program`. */
export function addTokenCommand(program: Command): void {
  program
    .command("token")
    .description("print a token (JWT) that grants the given scopes, signed with the configured key (docs/security.md)")
    .requiredOption("--scope <action:streams>", "what the token allows, repeatable: publish:<id>, listen:<prefix>*, admin:* (several ids comma-separated)", scopeOption)
    .addOption(new Option("--ttl <duration>", "lifetime: 30s, 15m, 1h, 7d (at most 366d)").argParser(duration).default(3600, "1h"))
    .option("--sub <name>", "subject: who the token is for, e.g. a user name", subject, defaultSub())
    .option("--key <file>", "sign with this private JWK file (ES256, EdDSA, RS256; its public half in the nodes' JWKS) instead of JWT_SECRET")
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE))
    .action(async (opts: TokenFlags) => {
      let config: Config;
      try {
        config = loadConfig(process.env, { logLevel: "silent" });
      } catch (err) {
        fail(err instanceof ConfigError ? err.message : String(err));
      }
      let signer: { key: SigningKey; from: string };
      try {
        signer = await signingKey(config, opts.key);
      } catch (err) {
        fail((err as Error).message);
      }
      const token = await mintToken(signer.key, { scopes: opts.scope, ttlS: opts.ttl, sub: opts.sub, iss: config.jwtIssuer, aud: config.jwtAudience });
      const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as { exp: number; jti: string };
      process.stderr.write(`veza-stream token: sub ${opts.sub}, jti ${payload.jti}, expires ${new Date(payload.exp * 1000).toISOString()}, ${token.length} characters, signed with ${signer.key.alg} key ${signer.key.kid} from ${signer.from}\n`);
      process.stdout.write(`${token}\n`);
    });
}
