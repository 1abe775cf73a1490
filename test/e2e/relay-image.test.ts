/**
 * The relay image (deploy/relay/Dockerfile), checked without a container engine: the Dockerfile's
 * shape and dockerfile-utils' lint; its runtime files laid out by deploy/relay/layout.js from this
 * checkout (what the build stage copies), and the relay run from that folder alone, as the image's
 * ENTRYPOINT runs it: /health answers, an SRT publisher's packets reach a reader.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseDockerfile } from "../../deploy/image/dockerfile";
import { srtConnect } from "../../transports/srt/libsrt";
import { freePort, ROOT, sleep, stopChild, waitFor } from "../support/node-process";
import { freeUdpPort } from "../support/srt";

const DOCKERFILE = "deploy/relay/Dockerfile";

describe("relay image (deploy/relay/Dockerfile)", function () {
  this.timeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "veza-relay-image-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("is a two-stage build whose runtime has libsrt and tini, runs as uid 10001, and passes dockerfile-utils lint", () => {
    const stages = parseDockerfile(fs.readFileSync(path.join(ROOT, DOCKERFILE), "utf8"));
    assert.equal(stages.length, 2);
    const runtime = stages[1]!;
    const run = runtime.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args).join(" ");
    assert.match(run, /apt-get install -y --no-install-recommends libsrt1\.5-openssl librist4 tini/);
    assert.match(run, /rm -rf \/var\/lib\/apt\/lists/);
    assert.equal(runtime.instructions.find((i) => i.keyword === "USER")?.args, "10001:10001");
    assert.match(runtime.instructions.find((i) => i.keyword === "ENTRYPOINT")?.args ?? "", /"node", "dist\/bin\/relay\.js", "relay"/);
    const lint = spawnSync(path.join(ROOT, "node_modules/.bin/dockerfile-utils"), ["lint", DOCKERFILE], { cwd: ROOT, encoding: "utf8", timeout: 20_000 });
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
  });

  it("its runtime files (deploy/relay/layout.js) run the relay alone: /health, and packets from a publisher to a reader", async () => {
    execFileSync(process.execPath, [path.join(ROOT, "bin/build.js"), "--node"], { cwd: ROOT, stdio: "ignore" });
    execFileSync(process.execPath, [path.join(ROOT, "deploy/relay/layout.js"), dir], { cwd: ROOT, stdio: "ignore" });
    const files = execFileSync("find", [".", "-type", "f"], { cwd: dir, encoding: "utf8" }).split("\n").filter(Boolean);
    assert.ok(!files.some((f) => f.endsWith(".ts")), "no TypeScript");
    assert.ok(!files.some((f) => /node_modules\/(moleculer|@ffmpeg-installer|esbuild|tsx)\//.test(f)), "none of the node's packages");
    const bytes = Number(execFileSync("du", ["-sb", dir], { encoding: "utf8" }).split("\t")[0]);
    console.log(`      relay layout: ${files.length} files, ${(bytes / 1e6).toFixed(1)} MB`);
    assert.ok(bytes < 10e6, `${bytes} bytes`);

    const [inPort, outPort, http] = [await freeUdpPort(), await freeUdpPort(), await freePort()];
    const relay = spawn(process.execPath, ["dist/bin/relay.js", "relay", `srt://:${inPort}`, `srt://:${outPort}`, "--http-addr", `127.0.0.1:${http}`], { cwd: dir, stdio: "ignore" });
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${http}/health`).catch(() => null))?.status === 200, 10_000, "/health from the laid-out relay");
      let got = 0;
      const read = srtConnect("127.0.0.1", outPort, {});
      read.onData = (packets) => (got += packets.length);
      const pub = srtConnect("127.0.0.1", inPort, {});
      await new Promise<void>((resolve) => (pub.onConnect = resolve));
      await sleep(300);
      for (let i = 0; i < 100; i++) {
        pub.send(Buffer.alloc(1316, i));
        await sleep(2);
      }
      await waitFor(() => got >= 95, 5000, "the packets at the reader");
      pub.close();
      read.close();
    } finally {
      await stopChild(relay, 2000);
    }
  });
});
