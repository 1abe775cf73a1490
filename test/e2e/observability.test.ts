/**
 * Observability (issue 16, item 5) on real nodes: the gateway's fan-out lag histogram fills while
 * a stream plays; `promtool check metrics` on a live /metrics reports nothing of ours (only
 * prom-client's default gauges named `_total`, listed below); with TRACING_URL, a broadcaster's
 * `stream.start` is one trace across two nodes, received by a Zipkin-compatible collector (a small
 * HTTP server here standing for Zipkin, Jaeger or Tempo).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { openListeners, startBroadcast } from "../support/broadcast";
import { startCluster } from "../support/cluster";
import { startNodeProcess, waitFor } from "../support/node-process";

/**
 * What promtool reports on prom-client's default metrics, which we keep as they are: these are
 * gauges whose names end in `_total` (prom-client's own naming, siimon/prom-client#219).
 */
const PROM_CLIENT_EXCEPTIONS = [
  'veza_nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
  'veza_nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
  'veza_nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
];

/** A Zipkin v2 span, as POSTed to /api/v2/spans. */
interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
}

describe("observability", function () {
  this.timeout(60_000);

  it("fan-out lag histogram fills while a stream plays; promtool check metrics finds nothing of ours", async () => {
    const node = await startNodeProcess();
    try {
      const b = await startBroadcast(node.url, "lag", "apex-aleph.ogg", "opus", { startSeconds: 10 });
      const [l] = await openListeners(node.url, "lag", 1);
      await waitFor(() => (l?.stats.frames ?? 0) > 100, 10_000, "100 frames");
      const text = await (await fetch(`${node.http}/metrics`)).text();
      const count = Number(/^veza_fanout_lag_seconds_count (\S+)/m.exec(text)?.[1]);
      const sum = Number(/^veza_fanout_lag_seconds_sum (\S+)/m.exec(text)?.[1]);
      const buckets = [...text.matchAll(/^veza_fanout_lag_seconds_bucket\{le="([^"]+)"\} (\S+)/gm)].map((m) => [Number(m[1]), Number(m[2])] as const);
      const p = (q: number) => buckets.find(([, n]) => n >= q * count)?.[0];
      console.log(`      fan-out lag: ${count} frames, mean ${((sum / count) * 1000).toFixed(2)} ms, p50 ≤ ${p(0.5)! * 1000} ms, p99 ≤ ${p(0.99)! * 1000} ms`);
      assert.ok(count >= 50, `${count} frames observed`);
      assert.ok(Number.isFinite(sum) && sum >= 0);
      let report = "";
      try {
        execFileSync("promtool", ["check", "metrics"], { input: text, stdio: ["pipe", "pipe", "pipe"] });
      } catch (err) {
        report = `${(err as { stdout?: Buffer }).stdout ?? ""}${(err as { stderr?: Buffer }).stderr ?? ""}`;
      }
      const problems = report.split("\n").map((s) => s.trim()).filter(Boolean);
      assert.deepEqual(problems.filter((s) => !PROM_CLIENT_EXCEPTIONS.includes(s)), [], "promtool check metrics");
      l?.close();
      await b.stop();
    } finally {
      await node.stop();
    }
  });

  it("with TRACING_URL, a broadcaster's stream.start is one trace across the gateway and the worker", async () => {
    const spans: ZipkinSpan[] = [];
    const collector = http.createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        if (req.method === "POST" && req.url === "/api/v2/spans") spans.push(...(JSON.parse(body) as ZipkinSpan[]));
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    const cluster = await startCluster(
      [
        { name: "gw", services: "gateway,relay" },
        { name: "wk", services: "stream,encoder" },
      ],
      { TRACING_URL: url },
    );
    try {
      const b = await startBroadcast(cluster.nodes.gw!.url, "traced", "apex-aleph.ogg", "ogg", { startSeconds: 10 });
      await waitFor(() => spans.some((s) => s.name === "ws.publish stream.start") && spans.some((s) => s.name === "action 'stream.start'"), 10_000, "the spans of stream.start");
      const root = spans.find((s) => s.name === "ws.publish stream.start")!;
      const start = spans.find((s) => s.name === "action 'stream.start'" && s.traceId === root.traceId);
      assert.ok(start, `the owner's stream.start span is in the gateway's trace: ${JSON.stringify(spans.map((s) => [s.name, s.traceId, s.localEndpoint?.serviceName]))}`);
      assert.equal(start.parentId, root.id, "child of the gateway's span");
      assert.equal(root.tags?.streamId, "traced");
      // the worker's own calls (the encoder it opens for format ogg) continue the same trace
      await waitFor(() => spans.some((s) => s.name === "action 'encoder.open'" && s.traceId === root.traceId), 5000, "encoder.open in the trace");
      await b.stop();
    } finally {
      await cluster.stop();
      collector.close();
    }
  });
});
