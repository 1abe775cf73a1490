/**
 * Rate limits at a real node's doors (issue 11): one address past its limit is refused with HTTP
 * 429 and Retry-After while another address's listener misses no frame; on a 2-node cluster the
 * limit holds across nodes through Redis; with Redis stopped both nodes keep serving on their
 * in-memory limits. Clients take distinct loopback addresses (127.0.0.x) as distinct IPs.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import http from "node:http";
import WebSocket from "ws";
import { decodeAudioData } from "../../media/wire";
import { startCluster } from "../support/cluster";
import { startNodeProcess, sleep, waitFor, type NodeProcess } from "../support/node-process";
import { goLive, rawBroadcaster, sendInRealTime } from "../support/raw-socket";
import { ensureRedis, isListening } from "../support/services";

/** Tries a listener upgrade from `localAddress`: the HTTP status of a refusal, or 101 (then closed). */
function tryListen(url: string, streamId: string, localAddress: string): Promise<{ status: number; retryAfter: string | null; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}/ws/listen/${streamId}`, { localAddress });
    ws.once("open", () => resolve({ status: 101, retryAfter: null, ws }));
    ws.once("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] ?? null });
      res.resume();
      ws.terminate();
    });
    ws.once("error", () => undefined);
  });
}

/** GET `path` from `localAddress`: status and Retry-After. */
function get(base: string, path: string, localAddress: string): Promise<{ status: number; retryAfter: string | null }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${path}`, { localAddress }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, retryAfter: (res.headers["retry-after"] as string | undefined) ?? null });
    });
    req.once("error", reject);
  });
}

/** A listener from 127.0.0.1 that records every frame's sequence number. */
async function seqListener(url: string, streamId: string): Promise<{ ws: WebSocket; seqs: number[] }> {
  const ws = new WebSocket(`${url}/ws/listen/${streamId}`);
  const seqs: number[] = [];
  ws.on("message", (d: Buffer, isBinary) => isBinary && seqs.push(decodeAudioData(new Uint8Array(d)).seq));
  await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
  return { ws, seqs };
}

const gaps = (seqs: number[]) => seqs.slice(1).filter((s, i) => s !== seqs[i]! + 1).length;

describe("rate limits on the wire", function () {
  this.timeout(90_000);

  it("one address past its limits gets 429 with Retry-After; another address's listener misses no frame", async () => {
    const node: NodeProcess = await startNodeProcess([], { RATE_LIMITS: "connections:20/60s,httpApi:10/60s" });
    const close: WebSocket[] = [];
    try {
      const b = await rawBroadcaster(node.url, "busy");
      await goLive(b);
      const stop = sendInRealTime(b);
      const good = await seqListener(node.url, "busy");
      await waitFor(() => good.seqs.length > 10, 5000, "audio");
      const flood = await Promise.all(Array.from({ length: 30 }, () => tryListen(node.url, "busy", "127.0.0.2")));
      for (const f of flood) if (f.ws) close.push(f.ws);
      const admitted = flood.filter((f) => f.status === 101).length;
      const refused = flood.filter((f) => f.status === 429);
      assert.equal(admitted, 20, "the first 20 connections of the address");
      assert.equal(refused.length, 10);
      assert.ok(refused.every((f) => Number(f.retryAfter) >= 1), "each refusal says when to come back");
      const api = [];
      for (let i = 0; i < 11; i++) api.push(await get(node.http, "/api/streams", "127.0.0.3"));
      assert.deepEqual(api.slice(0, 10).map((r) => r.status), Array(10).fill(200));
      assert.equal(api[10]!.status, 429);
      assert.ok(Number(api[10]!.retryAfter) >= 1);
      assert.equal((await get(node.http, "/api/streams", "127.0.0.1")).status, 200, "another address is not limited");
      const heard = good.seqs.length;
      await sleep(1000);
      stop();
      assert.ok(good.seqs.length >= heard + 40, `the good listener kept receiving (${good.seqs.length - heard} frames in 1 s)`);
      assert.equal(gaps(good.seqs), 0, "no frame missed");
      const text = await (await fetch(`${node.http}/metrics`)).text();
      assert.match(text, /veza_rate_limited_total\{limit="connections"\} 10\b/);
      assert.match(text, /veza_rate_limited_total\{limit="httpApi"\} 1\b/);
      good.ws.close();
    } finally {
      for (const ws of close) ws.terminate();
      await node.stop();
    }
  });

  it("on 2 nodes the limit holds across them through Redis; with Redis stopped both keep serving on memory limits", async () => {
    const cluster = await startCluster(
      [
        { name: "na", services: "gateway,stream,encoder,relay" },
        { name: "nb", services: "gateway,relay" },
      ],
      { RATE_LIMITS: "connections:10/60s" },
    );
    const close: WebSocket[] = [];
    const { na, nb } = cluster.nodes as Record<string, NodeProcess>;
    try {
      const b = await rawBroadcaster(na!.url, "shared");
      await goLive(b);
      const stop = sendInRealTime(b);
      try {
        const results = [];
        for (let i = 0; i < 12; i++) results.push(await tryListen((i % 2 ? nb : na)!.url, "shared", "127.0.0.4"));
        for (const r of results) if (r.ws) close.push(r.ws);
        assert.equal(results.filter((r) => r.status === 101).length, 10, "10 in all across the two nodes, not 10 each");
        assert.equal(results.filter((r) => r.status === 429).length, 2);

        try {
          execFileSync("redis-cli", ["-p", "6379", "shutdown", "nosave"], { stdio: "ignore" });
        } catch {
          // redis-cli exits non-zero when the server closes the connection as it shuts down
        }
        await waitFor(async () => !(await isListening(6379)), 10_000, "Redis down");
        for (const n of [na!, nb!]) {
          // each node counts alone now: 10 from this address on each
          const own = [];
          for (let i = 0; i < 11; i++) own.push(await tryListen(n.url, "shared", "127.0.0.5"));
          for (const r of own) if (r.ws) close.push(r.ws);
          assert.equal(own.filter((r) => r.status === 101).length, 10, `${n.url}: memory limit`);
          assert.equal(own[10]!.status, 429);
          const health = await fetch(`${n.http}/health`);
          assert.equal(health.status, 200);
        }
        const l = await seqListener(nb!.url, "shared");
        await waitFor(() => l.seqs.length > 20, 10_000, "audio through the relay with Redis down");
        l.ws.close();
      } finally {
        stop();
        await ensureRedis();
      }
      for (const n of [na!, nb!]) assert.equal(n.proc.exitCode, null, "no node crashed");
    } finally {
      for (const ws of close) ws.terminate();
      await cluster.stop();
    }
  });
});
