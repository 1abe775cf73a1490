/**
 * Listening analytics on a real node, on SQLite (the default: a file in DATA_DIR) and on the
 * machine's PostgreSQL (DATABASE_URL, a database made for the run): WebSocket and HTTP listeners
 * with listen tokens of known users listen for known times; GET /api/streams/:id/analytics gives
 * their number, unique users, listening time (within 1 s of what the clients measured) and peak
 * concurrency; an admin socket (/ws/admin) is pushed `analytics.update` figures while they change,
 * and refuses a listen token. On PostgreSQL the node reaches the database through a TCP proxy of the test's, cut
 * while sessions end: the writes fail and are counted, the sessions wait, and all of them land once
 * the proxy is back.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import pg from "pg";
import WebSocket from "ws";
import { Listener } from "../../bin/commands/listen";
import { testToken } from "../support/auth";
import { startBroadcast } from "../support/broadcast";
import { freePort, sleep, startNodeProcess, waitFor, type NodeProcess } from "../support/node-process";

interface Report {
  listens: number;
  uniqueUsers: number;
  listeningHours: number;
  peakConcurrent: number;
  listening: number;
  byHour: unknown[];
  byRendition: Record<string, number>;
}

/** A TCP proxy to 127.0.0.1:`target` that can be cut (open connections destroyed, new ones refused) and restored. */
async function tcpProxy(target: number): Promise<{ port: number; cut(): void; restore(): void; close(): void }> {
  let up = true;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (!up) return void client.destroy();
    const upstream = net.connect(target, "127.0.0.1");
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => (client.destroy(), upstream.destroy(), sockets.delete(client), sockets.delete(upstream));
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    port,
    cut: () => {
      up = false;
      for (const s of sockets) s.destroy();
    },
    restore: () => (up = true),
    close: () => (server.close(), [...sockets].forEach((s) => s.destroy())),
  };
}

/** Listens to `streamId` with a token of `sub` for `ms`; resolves with the time it was open (client side). */
async function listenFor(node: NodeProcess, streamId: string, sub: string, ms: number): Promise<number> {
  const l = new Listener(node.url, streamId, { token: await testToken("listen", [streamId], { sub }), reconnect: false });
  await l.opened;
  const t0 = Date.now();
  await sleep(ms);
  l.close();
  await l.closed;
  return Date.now() - t0;
}

async function report(node: NodeProcess, streamId: string): Promise<Report> {
  const admin = await testToken("admin", [streamId]);
  const r = await fetch(`${node.http}/api/streams/${streamId}/analytics`, { headers: { authorization: `Bearer ${admin}` } });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as Report;
}

async function metric(node: NodeProcess, name: string): Promise<number> {
  const text = await (await fetch(`${node.http}/metrics`)).text();
  return Number(text.split("\n").find((l) => l.startsWith(`${name} `))?.split(" ")[1] ?? NaN);
}

/** Runs the same listening on `node`: 4 WebSocket sessions of 3 users (1 to 3.5 s, two at once at most… all four overlap) and one HTTP session. */
async function listenAndCheck(node: NodeProcess, streamId: string, during?: () => Promise<void>): Promise<Report> {
  const broadcast = await startBroadcast(node.url, streamId, "awakening.ogg", "opus", { loop: true });
  try {
    const http = fetch(`${node.http}/live/${streamId}.ogg?token=${await testToken("listen", [streamId], { sub: "carol" })}`);
    const ws = Promise.all([listenFor(node, streamId, "alice", 1000), listenFor(node, streamId, "alice", 2000), listenFor(node, streamId, "bob", 2500), listenFor(node, streamId, "carol", 3500)]);
    const res = await http;
    const reader = res.body!.getReader();
    const httpStart = Date.now();
    const readUntil = httpStart + 1500;
    while (Date.now() < readUntil) await reader.read();
    await reader.cancel();
    const httpMs = Date.now() - httpStart;
    if (during) await during();
    const wsMs = await ws;
    const measured = [...wsMs, httpMs].reduce((a, b) => a + b, 0);
    await sleep(1500); // the sessions' ends reach the analytics service and its next write
    let r = await report(node, streamId);
    await waitFor(async () => (r = await report(node, streamId)).listening === 0 && r.listens === 5, 30_000, `5 ended sessions: ${JSON.stringify(r)}`);
    const reportedMs = r.listeningHours * 3_600_000;
    console.log(`      ${streamId}: listens ${r.listens}, users ${r.uniqueUsers}, listened ${(reportedMs / 1000).toFixed(2)} s (clients measured ${(measured / 1000).toFixed(2)} s), peak ${r.peakConcurrent}`);
    assert.equal(r.listens, 5);
    assert.equal(r.uniqueUsers, 3, "alice, bob, carol");
    assert.ok(Math.abs(reportedMs - measured) < 1000, `listening time ${reportedMs} ms against ${measured} ms measured`);
    assert.equal(r.peakConcurrent, 5, "all five overlapped");
    assert.deepEqual(r.byRendition, { "0": 4, ogg: 1 }, "four WebSocket sessions on rendition 0, one HTTP Ogg");
    assert.equal(r.byHour.length >= 1, true);
    return r;
  } finally {
    await broadcast.stop();
  }
}

describe("analytics: listen sessions in SQLite and PostgreSQL", function () {
  this.timeout(90_000);

  it("SQLite (default, DATA_DIR): listens, unique users, listening time within 1 s, peak concurrency, pushed to an admin socket, closed when its token expires; refused without an admin token", async () => {
    const dataDir = fs.mkdtempSync(`${os.tmpdir()}/veza-analytics-`);
    const node = await startNodeProcess(["--log-format", "json"], { DATA_DIR: dataDir, LISTEN_AUTH: "token" });
    try {
      // an admin socket sees the figures as they change; a listen token is refused one
      const admin = new WebSocket(`${node.url}/ws/admin`, { headers: { authorization: `Bearer ${await testToken("admin", ["an-*"])}` } });
      const updates: Array<{ type: string; streamId: string; listens: number; listening: number; peakConcurrent: number }> = [];
      admin.on("message", (m) => updates.push(JSON.parse(String(m))));
      await new Promise((r, j) => admin.once("open", r).once("error", j));
      const refused = new WebSocket(`${node.url}/ws/admin?token=${await testToken("listen", ["*"])}`);
      const refusedStatus = await new Promise<number>((r) => refused.once("unexpected-response", (_req, res) => r(res.statusCode ?? 0)).once("open", () => r(101)));
      assert.equal(refusedStatus, 403);
      // an admin token's expiry closes its socket (TOKEN_EXPIRED, 4401), told auth.expiring first
      const short = new WebSocket(`${node.url}/ws/admin?token=${await testToken("admin", ["an-*"], { ttlS: 3 })}`);
      const shortTexts: string[] = [];
      short.on("message", (m) => shortTexts.push(String(m)));
      const shortClosed = new Promise<number>((r) => short.once("close", (code) => r(code)));
      await listenAndCheck(node, "an-sqlite");
      await waitFor(() => updates.some((u) => u.type === "analytics.update" && u.listens === 5 && u.listening === 0), 10_000, `analytics.update with 5 ended listens: ${JSON.stringify(updates.at(-1))}`);
      const during = updates.filter((u) => u.type === "analytics.update" && u.listening > 0);
      assert.ok(during.length > 0, "an update while sessions were open");
      assert.equal(updates[0]?.type, "admin.hello");
      admin.send("hello?");
      await waitFor(() => updates.some((u) => u.type === "error"), 5000, "an error for a client message");
      admin.close();
      assert.equal(await Promise.race([shortClosed, sleep(10_000).then(() => "still open 10 s after the token's 3 s")]), 4401, shortTexts.join(" | "));
      assert.ok(shortTexts.some((t) => JSON.parse(t).type === "auth.expiring"), shortTexts.join(" | "));
      assert.equal(JSON.parse(shortTexts.at(-1)!).code, "TOKEN_EXPIRED");
      assert.ok(fs.existsSync(`${dataDir}/analytics.sqlite`));
      const listenOnly = await fetch(`${node.http}/api/streams/an-sqlite/analytics`, { headers: { authorization: `Bearer ${await testToken("listen", ["*"])}` } });
      assert.equal(listenOnly.status, 403);
      const bad = await fetch(`${node.http}/api/streams/an-sqlite/analytics?from=yesterday`, { headers: { authorization: `Bearer ${await testToken("admin", ["*"])}` } });
      assert.equal(bad.status, 400);
    } finally {
      await node.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("PostgreSQL (DATABASE_URL): the same figures, and a database outage while sessions end loses none (failures counted, written after, then pushed to an admin socket)", async () => {
    const dbName = `veza_analytics_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/postgres" });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    const proxy = await tcpProxy(5432);
    const node = await startNodeProcess(["--log-format", "json"], { DATABASE_URL: `postgres://postgres@127.0.0.1:${proxy.port}/${dbName}`, LISTEN_AUTH: "token" });
    try {
      assert.ok(!node.output().includes(`postgres://postgres@127.0.0.1:${proxy.port}`), "the database URL is not logged");
      // an admin socket is told the figures once the database is back
      const dashboard = new WebSocket(`${node.url}/ws/admin`, { headers: { authorization: `Bearer ${await testToken("admin", ["an-*"])}` } });
      const updates: Array<{ type: string; listens: number; listening: number }> = [];
      dashboard.on("message", (m) => updates.push(JSON.parse(String(m))));
      await new Promise((r, j) => dashboard.once("open", r).once("error", j));
      await listenAndCheck(node, "an-pg", async () => {
        proxy.cut(); // the WebSocket sessions end while the database is out
        await sleep(4000);
        assert.ok((await metric(node, "veza_analytics_write_failures_total")) >= 1, "the failed writes are counted");
        assert.ok((await metric(node, "veza_analytics_pending_sessions")) >= 1, "the sessions wait");
        proxy.restore();
      });
      assert.equal(await metric(node, "veza_analytics_sessions_lost_total"), 0);
      const rows = await new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:5432/${dbName}` });
      await rows.connect();
      const { rows: counted } = await rows.query("SELECT count(*)::int AS n, count(ended_at)::int AS ended FROM listen_sessions WHERE stream_id = 'an-pg'");
      await rows.end();
      assert.deepEqual(counted[0], { n: 5, ended: 5 });
      await waitFor(() => updates.some((u) => u.type === "analytics.update" && u.listens === 5 && u.listening === 0), 10_000, `analytics.update after the outage: ${JSON.stringify(updates.at(-1))}`);
      dashboard.close();
    } finally {
      await node.stop();
      proxy.close();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
    }
  });

  it("an HLS player is a listen session: from its first request to its last, with the rendition it fetched", async () => {
    const dataDir = fs.mkdtempSync(`${os.tmpdir()}/veza-analytics-hls-`);
    const node = await startNodeProcess(["--log-format", "json"], { DATA_DIR: dataDir });
    const broadcast = await startBroadcast(node.url, "an-hls", "awakening.ogg", "opus", { loop: true });
    try {
      const fetched = new Set<string>();
      let started = 0; // the first answer: a 503 while the first segment is made is not listening
      let bytes = 0;
      let lastAt = 0;
      while (started === 0 || Date.now() - started < 6000) {
        const r = await fetch(`${node.http}/hls/an-hls/r0/media.m3u8`, { headers: { "user-agent": "test-player/1" } });
        if (r.status === 503) { await sleep(500); continue; }
        assert.equal(r.status, 200);
        started ||= Date.now();
        const names = ["init.mp4", ...(await r.text()).split("\n").filter((l) => /^s\d+\.m4s$/.test(l))];
        for (const name of names.filter((n) => !fetched.has(n))) {
          const seg = await fetch(`${node.http}/hls/an-hls/r0/${name}`, { headers: { "user-agent": "test-player/1" } });
          bytes += (await seg.arrayBuffer()).byteLength;
          fetched.add(name);
        }
        lastAt = Date.now();
        await sleep(1000);
      }
      const playedMs = lastAt - started;
      let r = await report(node, "an-hls");
      await waitFor(async () => (r = await report(node, "an-hls")).listens === 1 && r.listening === 0, 20_000, `the player's session ended (idle 10 s): ${JSON.stringify(r)}`);
      console.log(`      an HLS player fetched ${fetched.size} files (${bytes} bytes) over ${(playedMs / 1000).toFixed(1)} s: listened ${(r.listeningHours * 3600).toFixed(1)} s, byRendition ${JSON.stringify(r.byRendition)}`);
      assert.deepEqual(r.byRendition, { "0": 1 });
      assert.ok(Math.abs(r.listeningHours * 3_600_000 - playedMs) < 1000, `listened ${r.listeningHours * 3_600_000} ms of ${playedMs} ms`);
    } finally {
      await broadcast.stop();
      await node.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
