/**
 * Issue 16, fast start: `veza-stream` runs the build of bin/build.js (dist/) when it is current, and
 * never stale code. Each test works on a copy of the repository's sources in a temporary folder
 * (node_modules linked), so the tests can delete dist/ and edit sources without touching the
 * repository. Which way bin/veza-stream went is read from its VEZA_STARTUP_DEBUG=1 line, which way
 * the gateway served the web client from its debug log line. Behaviour only, no timing (the
 * timing is bench/startup).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { TEST_JWT_SECRET } from "../support/auth";
import { ROOT, stopChild } from "../support/node-process";

/** What a copy needs to build and run: the sources and package.json; not dist/, tests or docs. */
const COPIED = ["actors", "bin", "client", "config", "gateway", "media", "transports", "moleculer.config.ts", "package.json", "tsconfig.json"];

/** A copy of the sources in a new temporary folder, node_modules linked to the repository's. */
function copyRepo(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "veza-startup-"));
  for (const name of COPIED) fs.cpSync(path.join(ROOT, name), path.join(dir, name), { recursive: true });
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
  return dir;
}

const ENV = { ...process.env, VEZA_STARTUP_DEBUG: "1", VEZA_RUN: "", JWT_SECRET: TEST_JWT_SECRET, NATS_URL: "", REDIS_URL: "" };

/** Runs `node bin/veza-stream ...args` in `dir` to its end. */
function cli(dir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [path.join(dir, "bin/veza-stream"), ...args], { cwd: dir, env: { ...ENV, ...env }, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, way: startupWay(r.stderr) };
}

/** The ways bin/veza-stream said it went, e.g. ["rebuilding …", "compiled (rebuilt)"]. */
const startupWay = (stderr: string) => [...stderr.matchAll(/^veza-stream startup: (.+) at [\d.]+ ms$/gm)].map((m) => m[1]!);

/** Replaces `from` with `to` in a file of the copy; fails when `from` is not there. */
function edit(dir: string, file: string, from: string, to: string): void {
  const full = path.join(dir, file);
  const text = fs.readFileSync(full, "utf8");
  assert.ok(text.includes(from), `${file} has ${from}`);
  fs.writeFileSync(full, text.replace(from, to));
}

/** `veza-stream start` in `dir` on a free port at debug level, until its "node started" line. */
async function startNode(dir: string) {
  const proc = spawn(process.execPath, [path.join(dir, "bin/veza-stream"), "start", "--port", "0", "--log-level", "debug", "--log-format", "json"], { cwd: dir, env: ENV, stdio: ["ignore", "pipe", "pipe"] });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    readline.createInterface({ input: proc.stdout }).on("line", (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === "node started") resolve(Number(entry.port));
      } catch {
        // not a log line
      }
    });
    proc.once("exit", (code) => reject(new Error(`node exited with ${code}: ${stderr}`)));
  });
  return { port, logs, way: () => startupWay(stderr), stop: () => stopChild(proc, 5000) };
}

describe("start-up: the build (dist/) and bin/veza-stream", function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  const fresh = () => {
    const dir = copyRepo();
    dirs.push(dir);
    return dir;
  };
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it("builds from a clean copy (npm run build), then runs the build as long as the sources are unchanged, a touched file included", () => {
    const dir = fresh();
    const built = spawnSync(process.execPath, [path.join(dir, "bin/build.js")], { cwd: dir, encoding: "utf8" });
    assert.equal(built.status, 0, built.stderr);
    for (const f of ["dist/bin/cli.js", "dist/bin/stamp.json", "dist/web/manifest.json", "dist/web/player.js", "dist/web/player-processor.js", "dist/web/style.css"]) assert.ok(fs.existsSync(path.join(dir, f)), f);
    const version = (JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { version: string }).version;
    const run = cli(dir, ["--version"]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), version);
    assert.deepEqual(run.way, ["compiled (current)"]);
    // a newer mtime with the same content (a touch, a checkout) is not a change
    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(path.join(dir, "bin/cli.ts"), later, later);
    assert.deepEqual(cli(dir, ["--version"]).way, ["compiled (current)"]);
  });

  it("builds on the first start when dist/ is missing, and rebuilds after an edit instead of running stale code", () => {
    const dir = fresh();
    const first = cli(dir, ["--help"]);
    assert.equal(first.status, 0, first.stderr);
    assert.deepEqual(first.way, ["rebuilding dist/bin/cli.js (missing or stale)", "compiled (rebuilt)"]);
    assert.deepEqual(cli(dir, ["--help"]).way, ["compiled (current)"]);
    // a TypeScript source the bundle holds, and package.json (its version is bundled)
    edit(dir, "bin/cli.ts", "Live-audio streaming cluster: start a node", "Edited-after-the-build cluster: start a node");
    edit(dir, "package.json", '"version": "0.1.0"', '"version": "0.1.0-edited"');
    const edited = cli(dir, ["--help"]);
    assert.deepEqual(edited.way, ["rebuilding dist/bin/cli.js (missing or stale)", "compiled (rebuilt)"]);
    assert.match(edited.stdout, /Edited-after-the-build cluster/);
    const version = cli(dir, ["--version"]);
    assert.equal(version.stdout.trim(), "0.1.0-edited");
    assert.deepEqual(version.way, ["compiled (current)"]);
  });

  it("writes V8's code cache of the bundle once and uses it at the next start; a rebuilt bundle or a corrupt cache gets a new one", () => {
    const dir = fresh();
    const caches = () => fs.readdirSync(path.join(dir, "dist/bin")).filter((f) => f.endsWith(".v8cache"));
    const cacheState = (stderr: string) => /^veza-stream code cache: (.+)$/m.exec(stderr)?.[1];
    assert.equal(spawnSync(process.execPath, [path.join(dir, "bin/build.js"), "--node"], { cwd: dir }).status, 0);
    const stamp = JSON.parse(fs.readFileSync(path.join(dir, "dist/bin/stamp.json"), "utf8")) as { inputs: Record<string, unknown> };
    // (node_modules is a link to the repository's here: esbuild names its real path)
    assert.ok(Object.keys(stamp.inputs).some((f) => f.endsWith("node_modules/moleculer/package.json")), "a bundled package's version is a stamp input");
    const first = cli(dir, ["--help"]);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(cacheState(first.stderr), "none");
    assert.equal(caches().length, 1, "written at exit");
    const second = cli(dir, ["--version"]);
    assert.equal(second.status, 0, second.stderr);
    assert.equal(cacheState(second.stderr), "used");
    assert.equal(cacheState(cli(dir, ["--version"], { VEZA_CODE_CACHE: "off" }).stderr), "off (VEZA_CODE_CACHE=off)");
    // a corrupt cache: V8 refuses it, the node runs, and the cache is written again
    const file = path.join(dir, "dist/bin", caches()[0]!);
    fs.writeFileSync(file, Buffer.alloc(fs.statSync(file).size, 7));
    const corrupt = cli(dir, ["--version"]);
    assert.equal(corrupt.status, 0, corrupt.stderr);
    assert.equal(cacheState(corrupt.stderr), "rejected by V8");
    assert.equal(cacheState(cli(dir, ["--version"]).stderr), "used");
    // a rebuilt bundle has a cache of its own; the old one is removed when the new one is written
    edit(dir, "bin/cli.ts", "Live-audio streaming cluster: start a node", "Rebuilt cluster: start a node");
    const rebuilt = cli(dir, ["--help"]);
    assert.deepEqual(rebuilt.way, ["rebuilding dist/bin/cli.js (missing or stale)", "compiled (rebuilt)"]);
    assert.equal(cacheState(rebuilt.stderr), "none");
    assert.match(rebuilt.stdout, /Rebuilt cluster/);
    assert.equal(caches().length, 1);
    assert.notEqual(caches()[0], path.basename(file));
    assert.equal(cacheState(cli(dir, ["--help"]).stderr), "used");
  });

  it("VEZA_RUN=tsx runs the TypeScript sources through tsx", () => {
    const dir = fresh();
    edit(dir, "bin/cli.ts", "Live-audio streaming cluster: start a node", "Through-tsx cluster: start a node");
    const run = cli(dir, ["--help"], { VEZA_RUN: "tsx" });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.way, ["tsx (VEZA_RUN=tsx)"]);
    assert.match(run.stdout, /Through-tsx cluster/);
    assert.ok(!fs.existsSync(path.join(dir, "dist")), "tsx writes no dist/");
  });

  it("start: the gateway serves the prebuilt web client when current, and builds it in memory after a client source changed", async () => {
    const dir = fresh();
    assert.equal(spawnSync(process.execPath, [path.join(dir, "bin/build.js")], { cwd: dir }).status, 0);
    const node = await startNode(dir);
    try {
      assert.deepEqual(node.way(), ["compiled (current)"]);
      assert.equal((await fetch(`http://127.0.0.1:${node.port}/health`)).status, 200);
      const player = await fetch(`http://127.0.0.1:${node.port}/assets/player.js`);
      assert.equal(player.status, 200);
      assert.equal(await player.text(), fs.readFileSync(path.join(dir, "dist/web/player.js"), "utf8"));
      assert.ok(node.logs.some((l) => l.msg === "web client served from dist/web" && l.source === "dist/web"));
    } finally {
      await node.stop();
    }
    fs.appendFileSync(path.join(dir, "client/pages/streams.ts"), '\nconsole.info("edited-after-the-build");\n');
    const edited = await startNode(dir);
    try {
      assert.deepEqual(edited.way(), ["compiled (current)"], "a client source is not part of the node's bundle");
      const streams = await fetch(`http://127.0.0.1:${edited.port}/assets/streams.js`);
      assert.equal(streams.status, 200);
      assert.match(await streams.text(), /edited-after-the-build/);
      assert.ok(edited.logs.some((l) => l.source === "memory" && /built in memory/.test(String(l.msg))));
    } finally {
      await edited.stop();
    }
  });
});
