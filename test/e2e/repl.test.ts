/**
 * The admin REPL driven as an operator would: `veza-stream repl` joins a running cluster over
 * NATS, and its commands are typed on its standard input one by one.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { openListeners, startBroadcast } from "../support/broadcast";
import { startCluster } from "../support/cluster";
import { ROOT, waitFor } from "../support/node-process";
import { NATS_URL } from "../support/services";

class Repl {
  output = "";
  readonly proc: ChildProcessWithoutNullStreams;

  constructor(namespace: string) {
    this.proc = spawn(process.execPath, [path.join(ROOT, "bin/veza-stream"), "repl"], {
      env: { ...process.env, NATS_URL, CLUSTER_NAMESPACE: namespace, LOG_LEVEL: "error" },
    });
    this.proc.stdout.on("data", (d: Buffer) => (this.output += d.toString()));
    this.proc.stderr.on("data", (d: Buffer) => (this.output += d.toString()));
  }

  /** Types a command and returns what it printed once `expect` appears. */
  async run(command: string, expect: RegExp): Promise<string> {
    const from = this.output.length;
    this.proc.stdin.write(`${command}\n`);
    await waitFor(() => expect.test(this.output.slice(from)), 10_000, `"${command}" to print ${expect}`);
    return this.output.slice(from);
  }
}

describe("admin REPL", function () {
  this.timeout(60_000);

  it("lists streams, listeners, roles and stats; kicks a listener; stops a stream", async () => {
    const cluster = await startCluster([
      { name: "gw", services: "gateway,relay" },
      { name: "wk", services: "stream,encoder" },
    ]);
    const gw = cluster.nodes.gw!;
    const repl = new Repl(cluster.namespace);
    try {
      const broadcast = await startBroadcast(gw.url, "console", "apex-aleph.ogg", "opus", { startSeconds: 10 });
      const closedWith = new Promise<number>((r) => broadcast.once("close", (code: number) => r(code)));
      const [listener] = await openListeners(gw.url, "console", 1);
      await waitFor(() => (listener?.stats.frames ?? 0) > 10, 5000, "audio");
      await waitFor(() => /veza \$/.test(repl.output), 10_000, "the REPL prompt");
      await repl.run("roles", /wk .*encoder,stream/);
      assert.match(await repl.run("streams", /console/), /console\s*[│║]\s*wk\s*[│║]\s*live/);
      const sessionId = listener!.stats.sessionId!;
      assert.match(await repl.run("listeners console", new RegExp(sessionId)), /gw/);
      assert.match(await repl.run("stats", /streams: \d+, live: 1/), /gw\s*[│║]\s*1/);
      await repl.run(`kick ${sessionId}`, /kicked/);
      assert.equal(await listener!.closed, 1008);
      await repl.run("stream stop console", /stream console is ended/);
      assert.equal(await closedWith, 4410, "the broadcaster is closed with STREAM_ENDED");
    } finally {
      repl.proc.kill();
      await cluster.stop();
    }
  });
});
