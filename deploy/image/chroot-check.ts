/**
 * Builds the Dockerfile without a container engine, in debootstrap chroots, and runs the result:
 * the check of the image's install steps on a machine that has no Docker (deploy/image/README.md).
 * Not part of `npm test` (about 3 minutes: a Debian download, npm ci); as root:
 *
 *   apt-get install -y debootstrap
 *   npx tsx deploy/image/chroot-check.ts [WORK_DIR]     (default /tmp/veza-chroot)
 *
 * The base image node:20-bookworm-slim is stood in for by Debian bookworm `minbase` (debootstrap)
 * with this machine's Node 20 binary in /usr/local/bin and npm 10.8.2 (the npm Node 20 ships) in
 * /usr/local/lib/node_modules. Each stage's instructions then run in order: WORKDIR, ENV, COPY (from
 * the build context after .dockerignore, or from an earlier stage's tree), RUN (`chroot … sh -c`,
 * network shared with this machine). The last stage is then started as its USER with its ENV,
 * ENTRYPOINT and CMD; its HEALTHCHECK must pass, then SIGTERM must stop it with exit code 0.
 * Prints the size of each part of the runtime tree.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { contextFiles, envPairs, execForm, parseDockerfile } from "./dockerfile";

const ROOT = path.resolve(__dirname, "../..");
const WORK = path.resolve(process.argv[2] ?? "/tmp/veza-chroot");
const NPM_VERSION = "10.8.2";
const MIRROR = "http://deb.debian.org/debian";

const sh = (cmd: string, args: string[], opts: { cwd?: string } = {}) => execFileSync(cmd, args, { stdio: "inherit", ...opts });
const log = (msg: string) => process.stdout.write(`\n== ${msg}\n`);

/** debootstrap once (cached in WORK/base), then Node and npm in /usr/local as in the node images. */
function baseRootfs(): string {
  const base = path.join(WORK, "base");
  if (!fs.existsSync(path.join(base, "usr/local/bin/node"))) {
    log(`debootstrap bookworm minbase into ${base}`);
    fs.rmSync(base, { recursive: true, force: true });
    sh("debootstrap", ["--variant=minbase", "bookworm", base, MIRROR]);
    fs.copyFileSync("/etc/resolv.conf", path.join(base, "etc/resolv.conf"));
    sh("install", ["-m", "0755", process.execPath, path.join(base, "usr/local/bin/node")]);
    const lib = path.join(base, "usr/local/lib/node_modules");
    fs.mkdirSync(lib, { recursive: true });
    const tgz = execFileSync("npm", ["pack", `npm@${NPM_VERSION}`, "--silent"], { cwd: WORK, encoding: "utf8" }).trim();
    fs.mkdirSync(path.join(lib, "npm"));
    sh("tar", ["-xzf", path.join(WORK, tgz), "-C", path.join(lib, "npm"), "--strip-components=1"]);
    fs.symlinkSync("../lib/node_modules/npm/bin/npm-cli.js", path.join(base, "usr/local/bin/npm"));
    fs.symlinkSync("../lib/node_modules/npm/bin/npx-cli.js", path.join(base, "usr/local/bin/npx"));
  }
  return base;
}

/** /proc and /dev inside a tree, for the commands run there; returns the unmount. */
function mountSystem(rootfs: string): () => void {
  sh("mount", ["-t", "proc", "proc", path.join(rootfs, "proc")]);
  sh("mount", ["--rbind", "/dev", path.join(rootfs, "dev")]);
  return () => {
    spawnSync("umount", ["-l", path.join(rootfs, "dev")]);
    spawnSync("umount", ["-l", path.join(rootfs, "proc")]);
  };
}

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * npm's CA file on this machine, if it has one (a proxy that re-signs TLS): handed to npm in the
 * chroots' RUN steps only, never part of the image (the real base image's Node has its own CAs).
 */
function hostCaFile(): string | undefined {
  const file = execFileSync("npm", ["config", "get", "cafile"], { encoding: "utf8" }).trim();
  return file && file !== "null" && file !== "undefined" && fs.existsSync(file) ? file : undefined;
}

function main(): void {
  if (process.getuid?.() !== 0) throw new Error("run as root (chroot, mount, debootstrap)");
  fs.mkdirSync(WORK, { recursive: true });
  const base = baseRootfs();
  const stages = parseDockerfile(fs.readFileSync(path.join(ROOT, "Dockerfile"), "utf8"));
  const trees = new Map<string, string>();
  const context = contextFiles(ROOT);
  const ca = hostCaFile();
  const runEnv: Record<string, string> = ca ? { npm_config_cafile: "/tmp/host-ca.crt" } : {};
  let last = { rootfs: "", env: {} as Record<string, string>, workdir: "/", user: "0:0", entrypoint: [] as string[], cmd: [] as string[], health: [] as string[] };

  for (const stage of stages) {
    if (stage.image !== "node:20-bookworm-slim") throw new Error(`${stage.image}: only node:20-bookworm-slim is stood in for`);
    const rootfs = path.join(WORK, stage.name ?? `stage${trees.size}`);
    log(`stage ${stage.name}: ${rootfs}`);
    fs.rmSync(rootfs, { recursive: true, force: true });
    sh("cp", ["-a", base, rootfs]);
    const state = { rootfs, env: {} as Record<string, string>, workdir: "/", user: "0:0", entrypoint: [] as string[], cmd: [] as string[], health: [] as string[] };
    const umount = mountSystem(rootfs);
    try {
      for (const ins of stage.instructions) {
        process.stdout.write(`-- ${ins.keyword} ${Object.entries(ins.flags).map(([k, v]) => `--${k}=${v} `).join("")}${ins.args}\n`);
        const inside = (p: string) => path.join(rootfs, path.posix.resolve(state.workdir, p));
        switch (ins.keyword) {
          case "WORKDIR":
            state.workdir = path.posix.resolve(state.workdir, ins.args);
            fs.mkdirSync(path.join(rootfs, state.workdir), { recursive: true });
            break;
          case "ENV":
            Object.assign(state.env, envPairs(ins.args));
            break;
          case "COPY": {
            const words = ins.args.split(/\s+/);
            const dest = inside(words.at(-1)!);
            for (const src of words.slice(0, -1)) {
              if (ins.flags.from) {
                const from = trees.get(ins.flags.from);
                if (!from) throw new Error(`COPY --from=${ins.flags.from}: no such earlier stage`);
                fs.rmSync(dest, { recursive: true, force: true });
                sh("cp", ["-a", path.join(from, src), dest]);
              } else {
                const rel = src.replace(/^\.\/?/, "");
                const files = context.filter((f) => rel === "" || f === rel || f.startsWith(`${rel}/`));
                if (files.length === 0) throw new Error(`COPY ${src}: not in the build context`);
                for (const f of files) {
                  const to = rel === "" || f !== rel ? path.join(dest, rel === "" ? f : path.relative(rel, f)) : path.join(dest, path.basename(f));
                  fs.mkdirSync(path.dirname(to), { recursive: true });
                  fs.copyFileSync(path.join(ROOT, f), to);
                  fs.chmodSync(to, fs.statSync(path.join(ROOT, f)).mode & 0o777);
                }
              }
            }
            break;
          }
          case "RUN": {
            if (ca) fs.copyFileSync(ca, path.join(rootfs, "tmp/host-ca.crt"));
            const env = Object.entries({ PATH, HOME: "/root", ...state.env, ...runEnv }).map(([k, v]) => `${k}=${v}`);
            const r = spawnSync("chroot", [rootfs, "/usr/bin/env", "-i", ...env, "/bin/sh", "-c", `cd ${state.workdir} && ${ins.args}`], { stdio: "inherit" });
            fs.rmSync(path.join(rootfs, "tmp/host-ca.crt"), { force: true });
            if (r.status !== 0) throw new Error(`RUN (line ${ins.line}) exited with ${r.status}`);
            break;
          }
          case "USER":
            state.user = ins.args;
            break;
          case "ENTRYPOINT":
            state.entrypoint = execForm(ins.args)!;
            break;
          case "CMD":
            state.cmd = execForm(ins.args)!;
            break;
          case "HEALTHCHECK":
            state.health = execForm(ins.args.replace(/^CMD\s+/, ""))!;
            break;
          default: // EXPOSE, STOPSIGNAL, LABEL: metadata only
        }
      }
    } finally {
      umount();
    }
    trees.set(stage.name ?? "", rootfs);
    last = state;
  }

  log("sizes in the runtime tree (MB; the tree's Debian is minbase with apt's cache, larger than the slim image's)");
  for (const dir of ["app", "app/node_modules", "usr/local"]) sh("du", ["-sm", path.join(last.rootfs, dir)]);
  sh("sh", ["-c", `du -sm ${path.join(last.rootfs, "app/node_modules")}/* ${path.join(last.rootfs, "app/node_modules")}/@* | sort -n | tail -8`]);

  log(`start: ${[...last.entrypoint, ...last.cmd].join(" ")} as ${last.user}`);
  const umount = mountSystem(last.rootfs);
  const env = Object.entries({ PATH, HOME: "/nonexistent", ...last.env }).map(([k, v]) => `${k}=${v}`);
  const inChroot = (argv: string[]) => ["chroot", `--userspec=${last.user}`, last.rootfs, "/usr/bin/env", "-i", ...env, "/bin/sh", "-c", `cd ${last.workdir} && exec "$@"`, "sh", ...argv];
  // in a PID namespace of its own, so the ENTRYPOINT (tini) is PID 1 as in a container
  const node = spawn("unshare", ["--pid", "--fork", "--kill-child", "--", ...inChroot([...last.entrypoint, ...last.cmd])], { stdio: ["ignore", "inherit", "inherit"] });
  const exited = new Promise<number | null>((resolve) => node.once("exit", (code) => resolve(code)));
  try {
    let healthy = false;
    for (let i = 0; i < 60 && !healthy; i++) {
      execFileSync("sleep", ["0.5"]);
      const [hc, ...hargs] = inChroot(last.health);
      healthy = spawnSync(hc!, hargs, { stdio: "inherit" }).status === 0;
    }
    if (!healthy) throw new Error("HEALTHCHECK did not pass within 30 s");
    log("HEALTHCHECK passed");
  } finally {
    // SIGTERM to PID 1 of the namespace (chroot, env and sh exec into the ENTRYPOINT), as an engine sends it
    const pid1 = fs.readFileSync(`/proc/${node.pid}/task/${node.pid}/children`, "utf8").trim().split(" ")[0];
    process.kill(Number(pid1), "SIGTERM");
  }
  void exited.then((code) => {
    umount();
    log(`exit code after SIGTERM: ${code}`);
    process.exitCode = code === 0 ? 0 : 1;
  });
}

main();
