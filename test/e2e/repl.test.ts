/**
 * The admin REPL driven as an operator would: `veza-stream repl` joins a running cluster over
 * NATS, and its commands are typed on its standard input one by one.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { testToken } from "../support/auth";
import { openListeners, startBroadcast } from "../support/broadcast";
import { startCluster } from "../support/cluster";
import { ROOT, waitFor, type NodeProcess } from "../support/node-process";
import { NATS_URL } from "../support/services";

class Repl {
  output = "";
  readonly proc: ChildProcessWithoutNullStreams;

  constructor(namespace: string, token?: string) {
    this.proc = spawn(process.execPath, [path.join(ROOT, "bin/veza-stream"), "repl"], {
      env: { ...process.env, NATS_URL, CLUSTER_NAMESPACE: namespace, LOG_LEVEL: "error", VEZA_TOKEN: token ?? "" },
    });
    this.proc.stdout.on("data", (d: Buffer) => (this.output += d.toString()));
    this.proc.stderr.on("data", (d: Buffer) => (this.output += d.toString()));
  }

  /** Types a command and returns what it printed once `expect` appears. */
  async run(command: string, expect: RegExp): Promise<string> {
    const from = this.output.length;
    this.proc.stdin.write(`${command}\n`);
    // the whole answer: a table's rows come after its first line, maybe in another chunk
    await waitFor(() => expect.test(this.output.slice(from)), 10_000, `"${command}" to print ${expect}`).catch((err: Error) => {
      throw new Error(`${err.message}; it printed: ${JSON.stringify(this.output.slice(from))}`);
    });
    return this.output.slice(from);
  }
}

/** A node's last 15 log lines at info or above, without Moleculer's node discovery lines: what to print when a test fails. */
function logTail(node: NodeProcess): string {
  return node.logs.filter((l) => Number(l.level) >= 30 && !/^Node '/.test(String(l.msg))).slice(-15).map((l) => JSON.stringify(l)).join("\n");
}

describe("admin REPL", function () {
  this.timeout(60_000);

  it("lists streams, listeners, roles and stats; kicks a listener; stops a stream", async () => {
    const cluster = await startCluster([
      { name: "gw", services: "gateway,relay" },
      { name: "wk", services: "stream,encoder" },
    ]);
    const gw = cluster.nodes.gw!;
    const repl = new Repl(cluster.namespace, await testToken("admin", ["*"], { sub: "ops" }));
    try {
      const broadcast = await startBroadcast(gw.url, "console", "apex-aleph.ogg", "opus", { startSeconds: 10 });
      const closedWith = new Promise<number>((r) => broadcast.once("close", (code: number) => r(code)));
      // a player reconnects after a lost socket (1006); the kick (1008) is final and ends it
      const [listener] = await openListeners(gw.url, "console", 1, { reconnect: true });
      await waitFor(() => (listener?.stats.frames ?? 0) > 10, 15_000, "audio").catch(async (err: Error) => {
        // what each side saw, to tell a broadcast that stopped from a relay that never fed the listener
        const info = await (await fetch(`${gw.http}/api/streams/console`)).text();
        const relay = (await (await fetch(`${gw.http}/metrics`)).text()).split("\n").filter((l) => /^veza_(relay|frames_out|listeners )/.test(l));
        throw new Error(`${err.message}; listener ${JSON.stringify(listener?.stats)}; broadcast sent ${broadcast.reconnects} reconnects; stream ${info}; gw ${relay.join(", ")}; gw log:\n${logTail(gw)}`);
      });
      await waitFor(() => /veza \$/.test(repl.output), 10_000, "the REPL prompt");
      await repl.run("roles", /wk .*encoder,stream/);
      await repl.run("streams", /console\s*[│║]\s*wk\s*[│║]\s*live/);
      const sessionId = listener!.stats.sessionId!;
      await repl.run("listeners console", new RegExp(`${sessionId}.*gw|gw.*${sessionId}`));
      await repl.run("stats", /streams: \d+, live: 1[^]*gw\s*[│║]\s*1/);
      await repl.run(`kick ${sessionId}`, /kicked/);
      assert.equal(await listener!.closed, 1008);
      await repl.run("stream stop console", /stream console is ended/);
      assert.equal(await closedWith, 4410, "the broadcaster is closed with STREAM_ENDED");
    } finally {
      repl.proc.kill();
      await cluster.stop();
    }
  });

  it("refuses every operator command without an admin token, and the admin actions themselves refuse a caller without one", async () => {
    const cluster = await startCluster([
      { name: "gw", services: "gateway,relay" },
      { name: "wk", services: "stream,encoder" },
    ]);
    const gw = cluster.nodes.gw!;
    // what an action's VezaError says when it is printed by moleculer-repl's `call`
    const actionRefusal = { UNAUTHORIZED: /VezaError: admin needs a token/, FORBIDDEN: /VezaError: the token of dj does not allow admin/ };
    const consoles = [new Repl(cluster.namespace), new Repl(cluster.namespace, await testToken("publish", ["*"], { sub: "dj" }))];
    try {
      const broadcast = await startBroadcast(gw.url, "guarded", "apex-aleph.ogg", "opus", { startSeconds: 10 });
      const [listener] = await openListeners(gw.url, "guarded", 1, { reconnect: true });
      await waitFor(() => (listener?.stats.frames ?? 0) > 10, 15_000, "audio");
      const sessionId = listener!.stats.sessionId!;
      for (const [repl, code] of [[consoles[0]!, "UNAUTHORIZED"], [consoles[1]!, "FORBIDDEN"]] as const) {
        await waitFor(() => /veza \$/.test(repl.output), 10_000, "the REPL prompt");
        for (const command of ["streams", "roles", "stats", "listeners guarded", `kick ${sessionId}`, "stream stop guarded", "revoke abc 4102444800"]) {
          await repl.run(command, new RegExp(`refused: ${code}`));
        }
        // Moleculer's own `call` reaches the action, which checks the token where it runs
        await repl.run("call stream.end --streamId guarded", actionRefusal[code]);
        await repl.run(`call listener-session.kick --sessionId ${sessionId}`, actionRefusal[code]);
      }
      // a kick closes with 1008 and is audited; a 1006 (the listener's socket cut under this test's load, then reconnected) is not one
      assert.ok(listener!.stats.frames > 0 && listener!.stats.closeCode !== 1008, `the listener was not kicked: ${JSON.stringify(listener!.stats)}; gw log:\n${logTail(gw)}`);
      assert.ok(!gw.output().includes("listener.kick"), "no kick was audited");
      await broadcast.stop();
    } finally {
      for (const r of consoles) r.proc.kill();
      await cluster.stop();
    }
  });
});
