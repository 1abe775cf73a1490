/**
 * Debian's icecast2 for the bench, run by the bench itself (never the system service): an
 * icecast.xml generated in a temp directory, the process started as `nobody` with setpriv (so
 * its pid is icecast's and /proc/<pid>/stat is its CPU), listening on 127.0.0.1 only.
 *
 * Limits, and why: `<clients>` 10000 (the default 100 would refuse the bench), `<sources>` 4 (one
 * is used), `<queue-size>` 524288 (Icecast's default, 512 KiB: a listener further behind is
 * dropped), `<burst-size>` 65535 (Icecast's default, 64 KiB ≈ 4 s at 128 kbit/s sent at connect),
 * `<client-timeout>` 30, `<header-timeout>` 15, `<source-timeout>` 10 (defaults). Log level 2
 * (warnings): no per-listener log line but the access log at disconnection.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const ICECAST_LIMITS = { clients: 10_000, sources: 4, queueSize: 524_288, burstSize: 65_535 } as const;

/** The icecast2 binary, or null when the package is not installed. */
export function icecastBinary(): string | null {
  for (const p of ["/usr/bin/icecast2", "/usr/local/bin/icecast2"]) if (fs.existsSync(p)) return p;
  return null;
}

/** Icecast's version line (`Icecast 2.4.4`). */
export function icecastVersion(bin: string): string {
  try {
    return execFileSync(bin, ["-v"], { encoding: "utf8" }).trim();
  } catch {
    return "?";
  }
}

/**
 * Writes icecast.xml and a log directory owned by nobody in a fresh temp directory; returns the
 * command line that runs icecast as nobody. The directory is removed when the bench exits.
 */
export function icecastCommand(bin: string, port: number, password: string): { command: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-icecast-"));
  fs.chmodSync(dir, 0o755);
  const logdir = path.join(dir, "log");
  fs.mkdirSync(logdir);
  execFileSync("chown", ["nobody:nogroup", logdir]);
  const xml = `<icecast>
  <location>bench</location>
  <admin>bench@localhost</admin>
  <limits>
    <clients>${ICECAST_LIMITS.clients}</clients>
    <sources>${ICECAST_LIMITS.sources}</sources>
    <queue-size>${ICECAST_LIMITS.queueSize}</queue-size>
    <client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout>
    <burst-on-connect>1</burst-on-connect>
    <burst-size>${ICECAST_LIMITS.burstSize}</burst-size>
  </limits>
  <authentication>
    <source-password>${password}</source-password>
    <admin-user>admin</admin-user>
    <admin-password>${password}</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket>
    <port>${port}</port>
    <bind-address>127.0.0.1</bind-address>
  </listen-socket>
  <fileserve>0</fileserve>
  <paths>
    <basedir>/usr/share/icecast2</basedir>
    <logdir>${logdir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging>
    <accesslog>access.log</accesslog>
    <errorlog>error.log</errorlog>
    <loglevel>2</loglevel>
  </logging>
  <security>
    <chroot>0</chroot>
  </security>
</icecast>
`;
  const file = path.join(dir, "icecast.xml");
  fs.writeFileSync(file, xml, { mode: 0o644 });
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return { command: `setpriv --reuid=nobody --regid=nogroup --clear-groups ${bin} -c ${file}`, dir };
}
