/**
 * Issue 10, `veza-stream start` as a newcomer meets it: the built-in demo on a fresh clone, a fresh
 * install's generated key and the broadcaster token it prints, a demo that cannot play, a busy
 * port, Ctrl-C / SIGTERM in every output mode (terminal, file, pipe, a pipe whose reader went
 * away), and readable logs in a terminal. Real node processes throughout; `start` run through the
 * CLI has no key configured (the harness puts XDG_DATA_HOME in a temporary folder, so the key it
 * generates never lands in the real ~/.local/share).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { freePort, startNodeProcess, waitFor } from "../support/node-process";
import { CLI, cli, CliRun, getJson, killAll, run, tempDir } from "./cli-harness";

/** Nothing configured for tokens, as on a fresh install (an empty variable counts as unset). */
const NO_KEY = { JWT_SECRET: "", JWKS_FILE: "", JWKS_URL: "", DATA_DIR: "", NATS_URL: "", REDIS_URL: "", VEZA_TOKEN: "" };

/** Limit for an exit after SIGINT/SIGTERM (the 2 s), plus what spawning a process costs. */
const EXIT_LIMIT_MS = 2000;

/** The pid in a node's /health nodeID (`<hostname>-<pid>`), for a node run behind `script`. */
async function nodePid(http: string): Promise<number> {
  const health = (await getJson(`${http}/health`)) as { nodeID: string };
  return Number(/-(\d+)$/.exec(health.nodeID)?.[1]);
}

/** ms from `signal` to the exit of `r`'s process. @throws after 10 s. */
async function timeToExit(r: CliRun, signal: NodeJS.Signals, pid = r.proc.pid!): Promise<number> {
  const sent = Date.now();
  process.kill(pid, signal);
  await r.exit(10_000);
  return Date.now() - sent;
}

describe("first contact: start", function () {
  this.timeout(60_000);
  afterEach(killAll);

  it("--demo with no file plays the built-in chords on stream demo, with no ../shared needed", async () => {
    const node = await startNodeProcess(["--demo"], { DEMO_FILE: "" });
    try {
      await waitFor(async () => (await getJson(`${node.http}/api/streams/demo`))?.state === "live", 15_000, "demo live");
      const info = await getJson(`${node.http}/api/streams/demo`);
      assert.match(String(info?.title), /built-in chords/);
      const l = cli(["listen", "demo", "--seconds", "2", "--url", node.url]);
      assert.equal(await l.exit(20_000), 0, l.stderr);
      assert.ok((JSON.parse(l.stdout) as { audioMs: number }).audioMs >= 2000);
      const open = node.logs.find((e) => e.msg === `open http://localhost:${node.port}/`);
      assert.ok(open, "an 'open http://localhost:PORT/' line with the real port");
    } finally {
      await node.stop();
    }
  });

  it("a fresh install (no key configured) generates its key, prints a broadcaster token and the page's link on stderr (never in the log), and that token goes on air", async () => {
    const dataHome = tempDir();
    const node = cli(["start", "--port", "0", "--host", "127.0.0.1"], { ...NO_KEY, XDG_DATA_HOME: dataHome });
    await node.waitFor(/"msg":"node started"/, 20_000, "stdout");
    await node.waitFor(/#token=\S+\n/, 5000);
    const port = Number((JSON.parse(node.stdout.split("\n").find((l) => l.includes('"msg":"node started"'))!) as { port: number }).port);
    console.log(`      stderr of start:\n${node.stderr.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, "<token>").replace(/^/gm, "        ")}`);
    const printed = /Broadcasting needs a token\. One for this machine \(publish on any stream, valid 24 h\):\n\s+(eyJ[\w-]+\.[\w-]+\.[\w-]+)\n/.exec(node.stderr);
    assert.ok(printed, `a token on stderr: ${node.stderr}`);
    const token = printed[1]!;
    const link = new RegExp(`http://localhost:${port}/broadcast/radio#token=(\\S+)`).exec(node.stderr);
    assert.equal(link?.[1], token, "the broadcaster page's link, with this node's port, carries the same token in its fragment");
    assert.match(node.stderr, /VEZA_TOKEN=\S+ npx veza-stream broadcast builtin --stream radio/);
    assert.match(node.stderr, /npx veza-stream token --scope publish:radio/, "how to mint more");
    assert.ok(!node.stdout.includes(token), "the token is not in the log");
    const key = path.join(dataHome, "veza-stream", "jwt-secret");
    assert.equal(fs.statSync(key).mode & 0o777, 0o600, "the generated key, readable by its owner only");

    const url = `ws://127.0.0.1:${port}`;
    const without = cli(["broadcast", "builtin", "--stream", "radio", "--url", url], NO_KEY);
    assert.equal(await without.exit(15_000), 1, without.stderr);
    assert.match(without.stderr, /UNAUTHORIZED: .*pass a token with --token or VEZA_TOKEN/, "a broadcast without the token is told what is missing");
    const onAir = cli(["broadcast", "builtin", "--stream", "radio", "--url", url], { ...NO_KEY, VEZA_TOKEN: token });
    await onAir.waitFor(/on air/, 15_000);
    assert.equal((await getJson(`http://127.0.0.1:${port}/api/streams/radio`))?.state, "live", "the printed token publishes");
  });

  it("--demo with a file that cannot be read is exit code 2 at start, naming the file", async () => {
    const r = cli(["start", "--port", "0", "--demo", "/missing.ogg"]);
    assert.equal(await r.exit(15_000), 2);
    assert.match(r.stderr, /demo: cannot read \/missing\.ogg: no such file/);
    assert.doesNotMatch(r.stdout, /node started/, "refused before the node started");
  });

  it("a demo broadcast that cannot go on air is logged and retried; the node stays up", async () => {
    // a gateway with no stream service in the cluster answers NO_WORKER to every broadcaster
    const node = await startNodeProcess(["--services", "gateway,relay", "--demo"]);
    try {
      await waitFor(() => node.logs.filter((e) => /NO_WORKER/.test(String(e.msg))).length >= 2, 15_000, "two NO_WORKER retries logged");
      assert.equal(node.proc.exitCode, null, "the node is still running");
      assert.equal((await fetch(`${node.http}/health`)).status, 200);
    } finally {
      await node.stop();
    }
  });

  it("a port in use is exit code 2 naming the port, unless --reuse-port", async () => {
    const port = await freePort();
    const first = await startNodeProcess(["--port", String(port), "--host", "127.0.0.1"]);
    try {
      const second = cli(["start", "--port", String(port), "--host", "127.0.0.1"]);
      assert.equal(await second.exit(15_000), 2, second.stderr);
      assert.match(second.stderr, new RegExp(`port ${port} is in use \\(another veza-stream\\?\\); choose --port or set REUSE_PORT=1`));
    } finally {
      await first.stop();
    }
    // SO_REUSEPORT takes every process on the port asking for it
    const shared = await freePort();
    const a = await startNodeProcess(["--port", String(shared), "--host", "127.0.0.1", "--reuse-port"]);
    try {
      const b = await startNodeProcess(["--port", String(shared), "--host", "127.0.0.1"], { REUSE_PORT: "1" }).catch((err: Error) => err);
      assert.ok(!(b instanceof Error), `a second node with REUSE_PORT=1 starts: ${String(b)}`);
      await b.stop();
    } finally {
      await a.stop();
    }
  });

  describe(`exits within ${EXIT_LIMIT_MS} ms of SIGINT or SIGTERM in every output mode`, () => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      it(`${signal}, stdout a pipe whose reader went away (npm start | tee, tee gone)`, async () => {
        const reader = spawn("cat", [], { stdio: ["pipe", "pipe", "ignore"] });
        const node = cli(["start", "--port", "0"], {}, { stdio: ["ignore", reader.stdin, "pipe"] });
        const started = new Promise<void>((resolve) => readline.createInterface({ input: reader.stdout }).on("line", (l) => /node started/.test(l) && resolve()));
        await Promise.race([started, node.exited]);
        reader.kill("SIGKILL");
        await new Promise((r) => reader.once("exit", r));
        const ms = await timeToExit(node, signal);
        assert.ok(ms < EXIT_LIMIT_MS, `exited ${ms} ms after ${signal}`);
        assert.equal(node.code, 0, `an orderly stop, not the hard limit (code ${node.code}, ${node.stderr})`);
      });

      it(`${signal}, stdout a file`, async () => {
        const log = path.join(tempDir(), "node.log");
        const fd = fs.openSync(log, "w");
        const node = cli(["start", "--port", "0"], {}, { stdio: ["ignore", fd, "pipe"] });
        fs.closeSync(fd);
        await waitFor(() => /node started/.test(fs.readFileSync(log, "utf8")) || !node.alive, 20_000, "node started in the log file");
        const ms = await timeToExit(node, signal);
        assert.ok(ms < EXIT_LIMIT_MS, `exited ${ms} ms after ${signal}`);
        assert.equal(node.code, 0);
        assert.match(fs.readFileSync(log, "utf8"), /"msg":"shutting down"/, "JSON lines in a file");
      });
    }

    it("SIGINT, stdout a pipe that is read (JSON lines)", async () => {
      const node = cli(["start", "--port", "0"]);
      await node.waitFor(/node started/, 20_000, "stdout");
      for (const line of node.stdout.trim().split("\n")) JSON.parse(line);
      const ms = await timeToExit(node, "SIGINT");
      assert.ok(ms < EXIT_LIMIT_MS, `exited ${ms} ms after SIGINT`);
    });
  });

  describe("logs in a terminal", () => {
    before(() => {
      // script(1) is util-linux's (Debian's essential bsdutils): a terminal for the node to write to
      assert.ok(fs.existsSync("/usr/bin/script"), "script(1) from util-linux is needed to give the node a terminal");
    });

    it("are one readable line per event (pino-pretty), with the open line; SIGINT exits within the limit", async () => {
      const port = await freePort();
      const term = run("script", ["-qfec", `${process.execPath} ${CLI} start --port ${port} --host 127.0.0.1`, "/dev/null"], { env: { ...process.env, LOG_FORMAT: "", TERM: "dumb" } });
      await term.waitFor(/node started/, 20_000, "stdout");
      await term.waitFor(new RegExp(`open http://localhost:${port}/`), 5000, "stdout");
      const text = term.stdout.replace(/\x1b\[[0-9;]*m/g, "");
      assert.doesNotMatch(text, /\{"level"/, "no JSON in a terminal");
      assert.match(text, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: node started \{/m);
      const ms = await timeToExit(term, "SIGINT", await nodePid(`http://127.0.0.1:${port}`));
      assert.ok(ms < EXIT_LIMIT_MS, `exited ${ms} ms after SIGINT`);
    });

    it("stay JSON in a terminal with LOG_FORMAT=json", async () => {
      const port = await freePort();
      const term = run("script", ["-qfec", `${process.execPath} ${CLI} start --port ${port} --host 127.0.0.1`, "/dev/null"], { env: { ...process.env, LOG_FORMAT: "json" } });
      await term.waitFor(/"msg":"node started"/, 20_000, "stdout");
      await timeToExit(term, "SIGTERM", await nodePid(`http://127.0.0.1:${port}`));
    });
  });
});
