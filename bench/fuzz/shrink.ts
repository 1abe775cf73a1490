/**
 * `npx tsx bench/fuzz/shrink.ts [--runs N] [--seed S]`: one fuzz property, checked input by input
 * with fast-check so that a failure is shrunk to a minimal reproduction: "after any message a live
 * broadcaster sends (the fuzzer's binary and JSON inputs), once its connection is over — closed by
 * the server, or by the client 300 ms later — a new broadcaster can start the stream within 2 s".
 * Each run uses a fresh stream id on one real node (`node bin/veza-stream start`), so runs do not
 * disturb each other. Prints fast-check's report (seed, path, minimal counterexample); exit code 1
 * when the property fails.
 */
import { parseArgs } from "node:util";
import fc from "fast-check";
import WebSocket from "ws";
import { startNodeProcess, type NodeProcess } from "../../test/support/node-process";
import { authEnvironment, poolToken } from "./auth";
import { binaryInput, jsonInput } from "./gen-ws";
import { materialize, materializeText, type BinaryInput, type JsonInput } from "./inputs";

/** Opens a broadcaster on `streamId`, sends `stream.start` (opus); resolves with the socket once live, or the refusal's error code. */
function goLive(node: NodeProcess, streamId: string): Promise<WebSocket | string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${node.url}/ws/publish/${streamId}`, { headers: { Authorization: `Bearer ${poolToken("shrink")}` } });
    const timer = setTimeout(() => (ws.terminate(), resolve("timeout")), 5000);
    ws.on("error", () => {});
    ws.on("open", () => ws.send(JSON.stringify({ type: "stream.start", format: "opus" })));
    ws.on("message", (d: Buffer, isBinary) => {
      if (isBinary) return;
      const msg = JSON.parse(d.toString()) as { type: string; code?: string };
      if (msg.type === "stream.started") (clearTimeout(timer), resolve(ws));
      else if (msg.type === "error") (clearTimeout(timer), ws.terminate(), resolve(msg.code ?? "error"));
    });
    ws.on("close", (code) => (clearTimeout(timer), resolve(`closed ${code}`)));
  });
}

/** The property's check for one input; throws (with the refusal) when the stream is not released. */
async function releasedAfter(node: NodeProcess, streamId: string, input: BinaryInput | JsonInput): Promise<void> {
  const first = await goLive(node, streamId);
  if (typeof first === "string") throw new Error(`the first broadcaster could not go live: ${first}`);
  const closed = new Promise<number>((r) => first.once("close", (code) => r(code)));
  if (input.kind === "binary") first.send(materialize(input.data), { binary: true });
  else first.send(materializeText(input.text), { binary: false });
  const code = await Promise.race([closed, new Promise<null>((r) => setTimeout(() => r(null), 300))]);
  if (code === null) {
    first.terminate(); // the server kept the connection: the client leaves
    await closed;
  }
  let answer: WebSocket | string = "";
  for (const until = Date.now() + 2000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
    answer = await goLive(node, streamId);
    if (typeof answer !== "string") break;
  }
  if (typeof answer === "string") throw new Error(`after the first broadcaster's connection closed (${code ?? "by the client"}), a new broadcaster is still refused after 2 s: ${answer}`);
  answer.send(JSON.stringify({ type: "stream.stop" }));
  answer.terminate();
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { runs: { type: "string" }, seed: { type: "string" } } });
  const node = await startNodeProcess([], authEnvironment("high")); // its tokens, and limits that let 2 starts per input through
  let n = 0;
  try {
    const live = fc.oneof(jsonInput, binaryInput).map((i) => ({ ...i, target: "publish-live" as const }));
    const result = await fc.check(
      fc.asyncProperty(live, async (input) => releasedAfter(node, `fz-rl-${n++}`, input)),
      { numRuns: Number(values.runs ?? 300), seed: values.seed === undefined ? undefined : Number(values.seed), endOnFailure: false },
    );
    console.log(fc.defaultReportMessage(result) ?? `property held for ${result.numRuns} inputs (seed ${result.seed})`);
    if (result.failed && result.counterexample) console.log(`minimal counterexample (JSON): ${JSON.stringify(result.counterexample[0], (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v))}`);
    return result.failed ? 1 : 0;
  } finally {
    await node.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
