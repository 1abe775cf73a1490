/**
 * The container image, checked on a machine without a container engine (deploy/image/README.md):
 * the Dockerfile's structure and its COPY sources; dockerfile-utils' lint (a devDependency); and
 * the runtime stage laid out here as the build stage makes it (the build context after
 * .dockerignore, the dependencies `npm prune --omit=dev` keeps, deploy/image/slim.sh run over it),
 * started with the image's environment as uid 10001, probed by the image's HEALTHCHECK command.
 */
import { strict as assert } from "node:assert";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { contextFiles, envPairs, execForm, parseDockerfile, type Instruction, type Stage } from "../../deploy/image/dockerfile";
import { freePort, ROOT, stopChild, waitFor } from "../support/node-process";

const BASE = "node:20-bookworm-slim";
const UID = 10001;

const stages = parseDockerfile(fs.readFileSync(path.join(ROOT, "Dockerfile"), "utf8"));
const runtime = stages.at(-1)!;
const all = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((i) => i.keyword === keyword);
const one = (stage: Stage, keyword: string): Instruction => {
  const found = all(stage, keyword);
  assert.equal(found.length, 1, `${stage.name}: one ${keyword}`);
  return found[0]!;
};

describe("container image (Dockerfile)", function () {
  it("is a two-stage build on node:20-bookworm-slim whose runtime runs as uid 10001 under tini, with a HEALTHCHECK", () => {
    assert.deepEqual(stages.map((s) => [s.name, s.image]), [["build", BASE], ["runtime", BASE]]);
    for (const s of stages) assert.doesNotMatch(s.image, /:latest$|^[^:]+$/, `${s.image}: a pinned tag, not latest`);
    assert.equal(one(runtime, "USER").args, `${UID}:${UID}`, "numeric uid:gid, as Kubernetes' runAsNonRoot can verify");
    assert.equal(one(runtime, "EXPOSE").args, "8080 8000 8890/udp");
    assert.equal(one(runtime, "STOPSIGNAL").args, "SIGTERM");
    assert.deepEqual(execForm(one(runtime, "ENTRYPOINT").args), ["/usr/bin/tini", "--", "node", "bin/veza-stream"]);
    assert.deepEqual(execForm(one(runtime, "CMD").args), ["start"]);
    const health = one(runtime, "HEALTHCHECK");
    assert.match(health.args, /^CMD \[/, "exec form");
    assert.equal(execForm(health.args.slice(4))![0], "node", "node itself (no curl in a slim image)");
    assert.ok(health.flags["start-period"] && health.flags.interval && health.flags.timeout, "interval, timeout, start period");
    const run = all(runtime, "RUN").map((i) => i.args).join(" ");
    assert.match(run, /apt-get install -y --no-install-recommends tini libsrt1\.5-openssl librist4/, "tini, and libsrt for the SRT port");
    assert.match(run, /rm -rf \/var\/lib\/apt\/lists/, "no apt lists left in the layer");
    assert.match(run, /useradd --uid 10001 --gid 10001/);
    assert.match(run, /install -d -o 10001 -g 10001 -m 0700 \/data/);
    assert.equal(envPairs(one(runtime, "ENV").args).DATA_DIR, "/data");
    // the build stage: npm ci without scripts, the allowed ones, the build step, prune, slim.sh
    const build = all(stages[0]!, "RUN").map((i) => i.args).join(" && ");
    for (const step of ["npm ci --ignore-scripts", "npm rebuild", "npm run --if-present prepare", "bin/build-native.js --strict", "npm prune --omit=dev", "sh deploy/image/slim.sh"]) {
      assert.ok(build.includes(step), `build stage runs ${step}`);
    }
    assert.ok(build.indexOf("npm prune") < build.indexOf("slim.sh") && build.indexOf("prepare") < build.indexOf("npm prune"), "build, prune, then slim");
  });

  it("copies only what exists: build context files after .dockerignore, or an earlier stage's WORKDIR", () => {
    const context = contextFiles(ROOT);
    for (const never of ["node_modules/", ".git/", "dist/", "test/artifacts/"]) {
      assert.ok(!context.some((f) => f.startsWith(never)), `${never} is not sent to the engine`);
    }
    for (const needed of ["package.json", "package-lock.json", "bin/veza-stream", "deploy/image/slim.sh", "deploy/image/healthcheck.js"]) {
      assert.ok(context.includes(needed), `${needed} is in the build context`);
    }
    stages.forEach((stage, index) => {
      for (const copy of all(stage, "COPY")) {
        const words = copy.args.split(/\s+/);
        const sources = words.slice(0, -1);
        assert.ok(sources.length > 0, `line ${copy.line}: COPY has a source`);
        const from = copy.flags.from;
        if (from) {
          const earlier = stages.slice(0, index).find((s) => s.name === from);
          assert.ok(earlier, `line ${copy.line}: --from=${from} is an earlier stage`);
          const dirs = all(earlier, "WORKDIR").map((w) => w.args);
          for (const src of sources) assert.ok(dirs.some((d) => src === d || src.startsWith(`${d}/`)), `line ${copy.line}: ${src} lies in ${from}'s WORKDIR`);
        } else {
          for (const src of sources) {
            const rel = src.replace(/^\.\/?/, "");
            assert.ok(rel === "" || context.some((f) => f === rel || f.startsWith(`${rel}/`)), `line ${copy.line}: ${src} is in the build context`);
          }
        }
      }
    });
  });

  it("passes dockerfile-utils lint (a devDependency)", function () {
    const lint = spawnSync(path.join(ROOT, "node_modules/.bin/dockerfile-utils"), ["lint", "Dockerfile"], { cwd: ROOT, encoding: "utf8", timeout: 20_000 });
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
  });

  describe("the runtime stage, laid out on this machine", function () {
    this.timeout(60_000);
    let tmp = "";
    let app = "";
    let node: ChildProcess | null = null;
    let output = "";
    const asRoot = process.getuid?.() === 0;
    /** The command as the image's USER: setpriv when the test runs as root, else this user. */
    const asUser = (argv: string[]) => (asRoot ? ["setpriv", "--reuid", String(UID), "--regid", String(UID), "--clear-groups", "--", ...argv] : argv);
    const imageEnv = envPairs(all(runtime, "ENV").map((i) => i.args).join(" "));
    /** The image's environment (PATH: this machine's node), no variable of the test's own. */
    const envFor = (overrides: Record<string, string>) => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent", ...imageEnv, ...overrides });
    const healthcheck = () => {
      const argv = execForm(one(runtime, "HEALTHCHECK").args.slice(4))!;
      return (env: Record<string, string>) => spawnSync(asUser(argv)[0]!, asUser(argv).slice(1), { cwd: app, env, encoding: "utf8", timeout: 5000 }).status;
    };

    before(function () {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), "veza-image-"));
      fs.chmodSync(tmp, 0o755);
      app = path.join(tmp, "app");
      // COPY . . (the build context), the build step's output, the production dependencies
      for (const file of contextFiles(ROOT)) fs.cpSync(path.join(ROOT, file), path.join(app, file), { preserveTimestamps: true });
      // npm ci, then the build step (`prepare`, when package.json has one), then npm prune
      // --omit=dev: every package the lockfile marks dev-only goes (the same 165 packages stay as
      // with npm's own prune, checked by hand)
      execFileSync("cp", ["-a", path.join(ROOT, "node_modules"), path.join(app, "node_modules")]);
      execFileSync("npm", ["run", "--silent", "--if-present", "prepare"], { cwd: app, encoding: "utf8", stdio: "pipe" });
      const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean }> };
      for (const [dir, meta] of Object.entries(lock.packages)) if (dir && meta.dev) fs.rmSync(path.join(app, dir), { recursive: true, force: true });
      execFileSync("sh", ["deploy/image/slim.sh"], { cwd: app });
      fs.mkdirSync(path.join(tmp, "data"), { mode: 0o700 });
      fs.mkdirSync(path.join(tmp, "tmp"), { mode: 0o777 });
      fs.chmodSync(path.join(tmp, "tmp"), 0o1777);
      if (asRoot) fs.chownSync(path.join(tmp, "data"), UID, UID);
    });

    afterEach(async () => {
      if (node) await stopChild(node, 3000);
      node = null;
    });

    after(() => {
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("holds the runtime files only: no dev dependency, no tests, one uWebSockets.js build, files others can read", () => {
      for (const gone of ["test", "bench", "docs", "k8s", "deploy/grafana", "node_modules/typescript", "node_modules/mocha", "node_modules/playwright-core"]) {
        assert.ok(!fs.existsSync(path.join(app, gone)), `${gone} is not in the image`);
      }
      for (const kept of ["node_modules/tsx", "node_modules/esbuild", "client/pages", "deploy/image/healthcheck.js"]) {
        assert.ok(fs.existsSync(path.join(app, kept)), `${kept} is in the image (needed at run time)`);
      }
      const uws = path.join(app, "node_modules/@trufflesuite/uws-js-unofficial");
      const natives = execFileSync("find", [uws, "-name", "*.node"], { encoding: "utf8" }).trim().split("\n");
      assert.deepEqual(natives.map((f) => path.relative(uws, f)), [`binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`]);
      for (const bin of ["node_modules/@ffmpeg-installer/linux-x64/ffmpeg", "node_modules/@ffprobe-installer/linux-x64/ffprobe"]) {
        assert.equal(fs.statSync(path.join(app, bin)).mode & 0o777, 0o755, `${bin} runs for any user`);
      }
      const mb = (dir: string) => Number(execFileSync("du", ["-sm", dir], { encoding: "utf8" }).split("\t")[0]);
      console.log(`      /app ${mb(app)} MB, of which node_modules ${mb(path.join(app, "node_modules"))} MB`);
    });

    it("runs the static ffmpeg and ffprobe as uid 10001, ffmpeg encoding Opus with libopus", () => {
      const bin = (name: string) => path.join(app, `node_modules/@${name}-installer/${process.platform}-${process.arch}/${name}`);
      const run = (argv: string[]) => execFileSync(asUser(argv)[0]!, asUser(argv).slice(1), { cwd: app, env: envFor({}), timeout: 10_000 });
      const ogg = run([bin("ffmpeg"), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.2", "-c:a", "libopus", "-f", "ogg", "-"]);
      assert.equal(ogg.subarray(0, 4).toString(), "OggS");
      assert.ok(ogg.includes(Buffer.from("OpusHead")), "an Ogg Opus stream");
      assert.match(run([bin("ffprobe"), "-version"]).toString(), /^ffprobe version/);
    });

    it("starts as uid 10001 with the image's environment: /health, the pages, the key in DATA_DIR; HEALTHCHECK passes, then fails once stopped", async () => {
      const port = await freePort();
      const env = envFor({ PORT: String(port), DATA_DIR: path.join(tmp, "data"), TMPDIR: path.join(tmp, "tmp") });
      const [cmd, ...args] = asUser([...execForm(one(runtime, "ENTRYPOINT").args)!.slice(2), ...execForm(one(runtime, "CMD").args)!]);
      node = spawn(cmd!, args, { cwd: app, env, stdio: ["ignore", "pipe", "pipe"] });
      node.stdout!.on("data", (d: Buffer) => (output += d.toString()));
      node.stderr!.on("data", (d: Buffer) => (output += d.toString()));
      const get = async (p: string) => fetch(`http://127.0.0.1:${port}${p}`).catch(() => null);
      await waitFor(async () => (await get("/health"))?.status === 200, 20_000, `/health (output: ${output})`);
      assert.equal(healthcheck()(env), 0, "HEALTHCHECK passes");
      const page = await get("/assets/player.js");
      assert.equal(page?.status, 200, "esbuild bundles the pages from the image's files");
      const key = fs.statSync(path.join(tmp, "data", "jwt-secret"));
      assert.equal(key.mode & 0o777, 0o600);
      if (asRoot) assert.equal(key.uid, UID);
      const exited = new Promise<number | null>((r) => node!.once("exit", (code) => r(code)));
      node.kill("SIGTERM");
      assert.equal(await exited, 0, `exit code after SIGTERM (output: ${output.slice(-2000)})`);
      node = null;
      assert.equal(healthcheck()(env), 1, "HEALTHCHECK fails when nothing answers");
    });

    it("runs as in Kubernetes: JWT_SECRET set, DATA_DIR read-only and left untouched", async () => {
      const port = await freePort();
      const data = path.join(tmp, "data-ro");
      fs.mkdirSync(data, { mode: 0o555 });
      const env = envFor({ PORT: String(port), DATA_DIR: data, TMPDIR: path.join(tmp, "tmp"), JWT_SECRET: randomBytes(48).toString("base64") });
      const [cmd, ...args] = asUser([...execForm(one(runtime, "ENTRYPOINT").args)!.slice(2), ...execForm(one(runtime, "CMD").args)!, "--services", "gateway,relay,stream,encoder"]);
      output = "";
      node = spawn(cmd!, args, { cwd: app, env, stdio: ["ignore", "pipe", "pipe"] });
      node.stdout!.on("data", (d: Buffer) => (output += d.toString()));
      node.stderr!.on("data", (d: Buffer) => (output += d.toString()));
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/ready`).catch(() => null))?.status === 200, 20_000, `/ready (output: ${output})`);
      assert.equal(healthcheck()(env), 0);
      assert.deepEqual(fs.readdirSync(data), []);
    });
  });
});
