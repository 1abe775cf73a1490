/**
 * Issue 10, the command line as a newcomer meets it: flags validated by commander, errors in the
 * user's words with the server's code, retries only where they can help, `--out -`. Every check
 * runs the real binary (`node bin/veza-stream …`) against a real node process; the audio files are
 * made by the real ffmpeg, so nothing here needs ../shared/media. The nodes enforce tokens: each
 * broadcast gets a publish token for its stream in VEZA_TOKEN, as a user given one would set it.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { readFileSync } from "node:fs";
import { testToken } from "../support/auth";
import { ensureNats, NATS_URL } from "../support/services";
import { freePort, ROOT, startNodeProcess, waitFor, type NodeProcess } from "../support/node-process";
import { cli, getJson, killAll, makeTone, run, tempDir } from "./cli-harness";

/** The environment of a broadcast to `streamId`: VEZA_TOKEN, a publish token for it. */
const publishing = async (streamId: string) => ({ VEZA_TOKEN: await testToken("publish", [streamId]) });

describe("first contact: the command line", function () {
  this.timeout(60_000);
  let node: NodeProcess;
  let tone: string;

  before(async () => {
    tone = makeTone(path.join(tempDir(), "tone.ogg"), 20);
    node = await startNodeProcess(["--demo"]);
  });
  after(async () => node?.stop());
  afterEach(killAll);

  describe("flags, through commander", () => {
    it("--version prints package.json's version", async () => {
      const r = cli(["--version"]);
      assert.equal(await r.exit(10_000), 0);
      assert.equal(r.stdout.trim(), (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version);
    });

    it("--help marks required flags and shows defaults and choices", async () => {
      const b = cli(["broadcast", "--help"]);
      assert.equal(await b.exit(10_000), 0);
      b.stdout = b.stdout.replace(/\s+/g, " ");
      assert.match(b.stdout, /--stream <id>.*\(required\)/);
      assert.match(b.stdout, /--url <urls>.*default: ws:\/\/127\.0\.0\.1:8080/);
      assert.match(b.stdout, /choices: "opus", "ogg", "mp3", "webm", "wav", default: "opus"/);
      const s = cli(["start", "--help"]);
      assert.equal(await s.exit(10_000), 0);
      s.stdout = s.stdout.replace(/\s+/g, " ");
      assert.match(s.stdout, /--port <value>[^]*\(default: 8080\) \[env PORT\]/);
      assert.match(s.stdout, /--reuse-port\s[^]*\(default: false\) \[env REUSE_PORT\]/);
      assert.match(s.stdout, /--demo \[file\]/);
    });

    for (const [args, flag] of [
      [["listen", "demo", "--seconds", "abc"], /--seconds <n>.*'abc' is invalid.*number of seconds/],
      [["listen", "demo", "--seconds", "0"], /--seconds <n>.*'0' is invalid/],
      [["broadcast", "x.ogg", "--stream", "s", "--ss", "-3"], /--ss <seconds>.*'-3' is invalid/],
      [["broadcast", "x.ogg", "--stream", "s", "--send", "flac"], /--send <format>.*'flac' is invalid.*opus, ogg, mp3, webm, wav/],
      [["broadcast", "x.ogg"], /required option '--stream <id>' not specified/],
      [["listen", "demo", "--url", "http://127.0.0.1:1"], /--url <urls>.*not a ws:\/\/ or wss:\/\/ URL/],
    ] as Array<[string[], RegExp]>) {
      it(`refuses ${args.slice(1).join(" ")} at once, non-zero, with a clear message`, async () => {
        const r = cli(args);
        assert.notEqual(await r.exit(10_000), 0);
        assert.match(r.stderr.replace(/\n/g, " "), flag);
      });
    }

    it("listen --out - writes Ogg/Opus to stdout and the JSON stats to stderr", async () => {
      const r = cli(["listen", "demo", "--url", node.url, "--seconds", "1", "--out", "-"]);
      assert.equal(await r.exit(20_000), 0, r.stderr);
      const ogg = Buffer.concat(r.stdoutBytes);
      assert.equal(ogg.subarray(0, 4).toString(), "OggS", "stdout starts with an Ogg page");
      assert.ok(ogg.includes("OpusHead") && ogg.length > 4000, `Ogg Opus with audio (${ogg.length} bytes)`);
      const stats = JSON.parse(r.stderr.trim().split("\n").find((l) => l.startsWith("{")) ?? "null") as { frames: number; audioMs: number };
      assert.ok(stats.frames >= 50 && stats.audioMs >= 1000, JSON.stringify(stats));
    });
  });

  describe("normal ends", () => {
    it("broadcast exits 0 when its input ends, and on Ctrl-C (SIGINT) within 2 s", async () => {
      const short = makeTone(path.join(tempDir(), "short.ogg"), 2);
      const r = cli(["broadcast", short, "--stream", "short", "--url", node.url], await publishing("short"));
      assert.equal(await r.exit(20_000), 0, r.stderr);
      assert.match(r.stderr, /on air: stream short[^]*stream ended/);
      const looped = cli(["broadcast", tone, "--stream", "looped", "--loop", "--url", node.url], await publishing("looped"));
      await looped.waitFor(/on air/, 15_000);
      const sent = Date.now();
      looped.proc.kill("SIGINT");
      assert.equal(await looped.exit(5000), 0, looped.stderr);
      assert.ok(Date.now() - sent < 2000, `exited ${Date.now() - sent} ms after SIGINT`);
    });
  });

  describe("errors in the user's words", () => {
    it("listen 'bad id!' reports the server's BAD_STREAM_ID and exits 1, without retrying", async () => {
      const r = cli(["listen", "bad id!", "--url", node.url]);
      assert.equal(await r.exit(10_000), 1);
      assert.match(r.stderr, /BAD_STREAM_ID: stream ids are 1-64 characters/);
      assert.doesNotMatch(r.stderr, /retrying/);
    });

    it("broadcast of a missing file says so before connecting, never 'on air'", async () => {
      const r = cli(["broadcast", "/nonexistent.ogg", "--stream", "nofile", "--url", node.url], await publishing("nofile"));
      assert.equal(await r.exit(10_000), 1);
      assert.match(r.stderr, /cannot read \/nonexistent\.ogg: no such file/);
      assert.doesNotMatch(r.stderr, /on air|at .*\.ts:\d+/);
    });

    it("broadcast --send mp3 of an Ogg Vorbis file explains which --send fits", async () => {
      const r = cli(["broadcast", tone, "--stream", "wrongcodec", "--send", "mp3", "--url", node.url], await publishing("wrongcodec"));
      assert.equal(await r.exit(10_000), 1);
      assert.match(r.stderr, /--send mp3 copies the input's codec, but .*tone\.ogg holds vorbis; use --send opus \(default\) or --send ogg/);
      assert.equal(await getJson(`${node.http}/api/streams/wrongcodec`), null, "nothing went on air");
    });
    it("listen --out into a missing folder says it cannot write; a reader of --out - that leaves ends it quietly", async () => {
      const r = cli(["listen", "demo", "--url", node.url, "--seconds", "2", "--out", "/nonexistent/dir/x.ogg"]);
      assert.equal(await r.exit(15_000), 1);
      assert.match(r.stderr, /cannot write \/nonexistent\/dir\/x\.ogg: .*no such file or directory/);
      const piped = run("bash", ["-c", `set -o pipefail; ${process.execPath} ${path.join(ROOT, "bin/veza-stream")} listen demo --url ${node.url} --seconds 5 --out - | head -c 1000 | wc -c`]);
      assert.equal(await piped.exit(15_000), 0, piped.stderr);
      assert.equal(piped.stdout.trim(), "1000");
      assert.doesNotMatch(piped.stderr, /EPIPE|at .*\.ts:\d+/, "no stack trace");
    });
  });

  describe("retries: retryable failures across every URL, final ones never", () => {
    it("broadcast --url dead,live retries the live one and goes on air; listen does the same", async () => {
      const dead = `ws://127.0.0.1:${await freePort()}`;
      const b = cli(["broadcast", tone, "--stream", "failover", "--loop", "--url", `${dead},${node.url}`], await publishing("failover"));
      await b.waitFor(/on air/, 15_000);
      assert.match(b.stderr, /ECONNREFUSED: nothing listens at ws:\/\/127\.0\.0\.1:\d+.*; retrying ws:\/\/127\.0\.0\.1:\d+ in \d/);
      assert.equal((await getJson(`${node.http}/api/streams/failover`))?.state, "live");
      const l = cli(["listen", "failover", "--seconds", "1", "--url", `${dead},${node.url}`]);
      assert.equal(await l.exit(20_000), 0, l.stderr);
      assert.match(l.stderr, /ECONNREFUSED.*retrying/);
      assert.ok((JSON.parse(l.stdout) as { frames: number }).frames >= 50);
    });

    it("after a lost connection (its node killed), broadcast and listen fail over to the next URL and carry on", async () => {
      const a = await startNodeProcess();
      try {
        const urls = `${a.url},${node.url}`;
        const b = cli(["broadcast", tone, "--stream", "lost", "--loop", "--url", urls], await publishing("lost"));
        await b.waitFor(/on air/, 15_000);
        const l = cli(["listen", "lost", "--seconds", "4", "--url", urls]);
        await waitFor(async () => ((await getJson(`${a.http}/api/streams/lost`)) as { listeners?: number } | null)?.listeners === 1, 10_000, "the listener on a");
        await new Promise((r) => setTimeout(r, 1000));
        a.proc.kill("SIGKILL");
        await b.waitFor(/on air again/, 15_000);
        assert.match(b.stderr, /connection lost: CLOSED: .*\(close 1006\); reconnecting/);
        assert.equal((await getJson(`${node.http}/api/streams/lost`))?.state, "live", "on air on the surviving node");
        assert.equal(await l.exit(30_000), 0, l.stderr);
        const stats = JSON.parse(l.stdout) as { reconnects: number; audioMs: number };
        assert.ok(stats.reconnects >= 1 && stats.audioMs >= 4000, JSON.stringify(stats));
      } finally {
        await a.stop();
      }
    });

    it("the README's cluster order: a broadcaster that meets NO_WORKER keeps retrying until it is on air; an operator's stop (STREAM_ENDED) is final", async function () {
      this.timeout(90_000);
      await ensureNats();
      const env = { NATS_URL, CLUSTER_NAMESPACE: `fc${process.pid}x${Date.now().toString(36)}` };
      const b = await startNodeProcess(["--node-id", "b", "--services", "gateway,relay"], env);
      let c: NodeProcess | null = null;
      try {
        const caster = cli(["broadcast", "builtin", "--stream", "radio", "--url", b.url], await publishing("radio"));
        await caster.waitFor(/NO_WORKER: no live node runs the stream service \(close 1013\); retrying[^]*NO_WORKER/, 15_000);
        assert.ok(caster.alive, "still retrying");
        c = await startNodeProcess(["--node-id", "c", "--services", "stream,encoder"], env);
        await caster.waitFor(/on air/, 20_000);
        await waitFor(async () => (await getJson(`${b.http}/api/streams/radio`))?.state === "live", 10_000, "radio live");

        // the operator's console, with an admin token (stream stop is an admin action)
        const admin = await testToken("admin", ["*"], { sub: "operator" });
        const repl = run(process.execPath, [path.join(ROOT, "bin/veza-stream"), "repl"], { env: { ...process.env, ...env, LOG_LEVEL: "error", VEZA_TOKEN: admin }, stdio: ["pipe", "pipe", "pipe"] });
        await repl.waitFor(/veza \$/, 15_000, "stdout");
        repl.proc.stdin!.write("stream stop radio\n");
        await repl.waitFor(/stream radio is ended/, 10_000, "stdout");
        assert.equal(await caster.exit(5000), 1, "the broadcaster gives up");
        assert.match(caster.stderr, /STREAM_ENDED: .*\(close 4410\)/);
        await new Promise((r) => setTimeout(r, 1500));
        assert.notEqual((await getJson(`${b.http}/api/streams/radio`))?.state, "live", "the stream stays ended");
      } finally {
        await killAll();
        await c?.stop();
        await b.stop();
      }
    });
  });
});
