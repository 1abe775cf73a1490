/**
 * The short fuzz run (issue 11, "Bad input"): `npm run bench:fuzz -- --seconds 20` as a user would
 * run it (a child process that starts a real node, a good broadcaster and a good listener, and
 * throws fast-check inputs at the node over real sockets), then its JSON summary is checked: no
 * crash, no failed batch check (/health 200, the good listener's seq continuous and no gap over 1 s,
 * the node alive, its RSS under the bound), no frame lost, /health 200 at the end, every kind of
 * input sent (tokens too: the node enforces them, the good pair carries its own), and the node's
 * RSS after full GCs within 25 % of its warm baseline (docs/benchmarks.md, "Fuzzing": the long
 * run's rule is 10 %, but 20 s end while the node is still warming up; +4 to +14 % observed). The
 * other bounds are generous (a loaded 2-core machine): 1 GiB of RSS, and only the input count's
 * floor is timed. The long run and its figures: docs/benchmarks.md, "Fuzzing".
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { ROOT } from "../support/node-process";
import type { FuzzSummary } from "../../bench/fuzz/summary";

/** Fuzzing time of the short run, s (start-up and the 5 s settle come on top). */
const SECONDS = 20;

describe("fuzz: random and mutated inputs against a live node (short run)", function () {
  this.timeout(180_000);
  let child: ChildProcess | null = null;

  after(async () => {
    // the harness stops its node and good pair on SIGTERM (after its current batch); SIGKILL is the last resort
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGTERM");
    const timer = setTimeout(() => c.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
  });

  it(`survives ${SECONDS} s of fuzzing: no crash, no frame lost by the good listener, /health ok, RSS bounded`, async () => {
    const args = [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), "bench/fuzz/index.ts", "--seconds", String(SECONDS), "--settle", "5", "--max-rss-mb", "1024"];
    const c = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    let stdout = "";
    let stderr = "";
    c.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    c.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    const code = await new Promise<number | null>((resolve) => c.once("exit", (exitCode) => resolve(exitCode)));
    assert.notEqual(code, 2, `the harness failed:\n${stderr}`);
    const summary = JSON.parse(stdout) as FuzzSummary;
    const brief = { inputs: summary.inputs, ratePerS: Math.round(summary.ratePerS), byKind: summary.byKind, crashes: summary.crashes, failures: summary.failures, framesLost: summary.framesLost, rss: summary.rss, stuckStreams: summary.stuckStreams, serverErrors: summary.serverErrors.count, internalErrors: summary.internalErrors.count };
    console.log(`      fuzz: ${JSON.stringify(brief)}`);

    assert.equal(summary.crashes, 0, `the node crashed: ${JSON.stringify(summary.failures)}`);
    assert.deepEqual(summary.failures, [], "a batch failed its checks (inputs of each failing batch in the record file named)");
    assert.equal(summary.framesLost, 0, "the good listener lost frames");
    assert.ok(summary.good !== null && summary.good.lost === 0 && summary.good.outOfOrder === 0 && summary.good.gapsOver1s === 0, `good pair: ${JSON.stringify(summary.good)}`);
    assert.ok(summary.goodFrames > SECONDS * 10, `the good listener received only ${summary.goodFrames} frames in ${SECONDS} s`);
    assert.equal(summary.finalHealth, 200);
    assert.equal(summary.stuckStreams.count, 0, "a closed broadcaster left its stream live (the bug bench/fuzz found, fixed in the publish route)");
    assert.ok(summary.rss.hwmMiB < 1024, `node RSS peaked at ${summary.rss.hwmMiB} MiB`);
    // the baseline rule of the short run: both readings after full GCs, the warm one once every kind of input has been served (docs/benchmarks.md)
    if (summary.rss.gc) assert.ok(summary.rss.finalMiB <= summary.rss.warmBaselineMiB * 1.25, `node RSS after full GCs ${summary.rss.finalMiB} MiB, over 125 % of its warm baseline ${summary.rss.warmBaselineMiB} MiB`);
    // the auth surface was reached: tokens refused at the door, and some accepted (the fuzz pool's and the generators' valid ones)
    const outcomes = Object.keys(summary.outcomes);
    assert.ok(outcomes.some((o) => o.includes("UNAUTHORIZED")), `no token was refused: ${outcomes.filter((o) => o.startsWith("auth")).join("; ")}`);
    assert.ok(outcomes.some((o) => o.includes("started")), "no fuzz broadcaster went live with a generated token");
    // every kind was thrown, and enough of them to mean something even on a loaded machine
    for (const [kind, n] of Object.entries(summary.byKind)) assert.ok(n > 0, `no ${kind} input was sent`);
    assert.ok(summary.inputs >= 1000, `only ${summary.inputs} inputs in ${SECONDS} s`);
  });
});
