/**
 * No secret in the logs (issue 11): a 2-node cluster at debug level is driven through every way a
 * token or secret reaches a node (Authorization headers, ?token=, auth.refresh, bad tokens, the
 * admin HTTP API and its cross-node call, METRICS_TOKEN); then every line both nodes wrote is
 * searched for each token and secret used: none may appear. The audit lines the run should have
 * produced are checked too, so the search reads a log that did record the run.
 */
import assert from "node:assert/strict";
import { hsSigningKey } from "../../actors/auth/keys";
import { mintToken } from "../../actors/auth/tokens";
import { testToken, TEST_JWT_SECRET } from "../support/auth";
import { startNodeProcess, sleep, waitFor, type NodeProcess } from "../support/node-process";
import { goLive, rawBroadcaster, rawSocket, sendInRealTime } from "../support/raw-socket";
import { ensureNats, ensureRedis, NATS_URL, REDIS_URL } from "../support/services";

const METRICS_TOKEN = "metrics-secret-for-the-log-test-0123";

describe("logs: no token or secret in any line", function () {
  this.timeout(90_000);

  it("a whole run of a 2-node cluster at debug level logs none of the tokens or secrets it used, and logs the audit events", async () => {
    await ensureNats();
    await ensureRedis();
    const namespace = `logs${process.pid}x${Date.now().toString(36)}`;
    const env = { NATS_URL, REDIS_URL, CLUSTER_NAMESPACE: namespace, LISTEN_AUTH: "token", METRICS_TOKEN };
    const nodes: NodeProcess[] = [];
    const used: string[] = [TEST_JWT_SECRET, METRICS_TOKEN];
    const token = async (...args: Parameters<typeof testToken>) => {
      const t = await testToken(...args);
      used.push(t);
      return t;
    };
    try {
      nodes.push(await startNodeProcess(["--node-id", "wk", "--services", "stream,encoder", "--log-level", "debug"], env));
      nodes.push(await startNodeProcess(["--node-id", "gw", "--services", "gateway,relay", "--log-level", "debug"], env));
      const [wk, gw] = nodes as [NodeProcess, NodeProcess];
      await waitFor(async () => ((await (await fetch(`${gw.http}/health`)).json()) as { workers: string[] }).workers.length > 0, 15_000, "the worker");
      // and the worker knows the gateway (else its stream events do not reach it yet)
      await waitFor(() => wk.logs.some((e) => /Node 'gw' connected/.test(String(e.msg))), 15_000, "the worker to see the gateway");

      // publish: header, then ?token= on another stream; metadata; auth.refresh good and bad
      const b = await rawBroadcaster(gw.url, "secret-show", await token("publish", ["secret-show"], { sub: "alice" }));
      await goLive(b, { title: "t" });
      const stop = sendInRealTime(b);
      b.ws.send(JSON.stringify({ type: "auth.refresh", token: await token("publish", ["secret-show"], { sub: "alice" }) }));
      await waitFor(() => b.texts.some((t) => t.type === "auth.refreshed"), 5000, "auth.refreshed");
      const q = await rawSocket(gw.url, `/ws/publish/by-query?token=${await token("publish", ["by-query"])}`);
      await goLive(q);
      q.ws.close();

      // refusals: bad signature, garbage, another stream's, expired; a bad refresh
      const foreign = await mintToken(hsSigningKey("a-secret-nobody-configured-0123456789abc"), { scopes: [{ action: "publish", streams: ["*"] }], ttlS: 60, sub: "eve" });
      used.push(foreign);
      for (const t of [foreign, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJldmUifQ.", await token("publish", ["elsewhere"])]) {
        const r = await rawBroadcaster(gw.url, "secret-show", t);
        await r.closed;
      }
      const bad = await rawSocket(gw.url, `/ws/publish/x?token=${foreign}`);
      await bad.closed;

      // listeners with LISTEN_AUTH=token: header, query, bad
      const l1 = await rawSocket(gw.url, "/ws/listen/secret-show", undefined, await token("listen", ["secret-show"]));
      const l2 = await rawSocket(gw.url, `/ws/listen/secret-show?token=${await token("listen", ["secret-*"])}`);
      const l3 = await rawSocket(gw.url, `/ws/listen/secret-show?token=${foreign}`);
      await l3.closed;
      l2.ws.send(JSON.stringify({ type: "auth.refresh", token: foreign }));
      await l2.closed;

      // the HTTP API and /metrics
      const admin = await token("admin", ["*"], { sub: "ops" });
      const headers = (t: string) => ({ authorization: `Bearer ${t}` });
      assert.equal((await fetch(`${gw.http}/api/streams`, { headers: headers(await token("listen", ["*"])) })).status, 200);
      assert.equal((await fetch(`${gw.http}/api/streams`, { headers: headers(foreign) })).status, 401);
      assert.equal((await fetch(`${gw.http}/metrics`, { headers: headers(METRICS_TOKEN) })).status, 200);
      assert.equal((await fetch(`${gw.http}/metrics`, { headers: headers(`${METRICS_TOKEN}x`) })).status, 401);
      const revoke = await fetch(`${gw.http}/api/revocations`, { method: "POST", headers: headers(admin), body: JSON.stringify({ jti: "some-jti", exp: Math.floor(Date.now() / 1000) + 60 }) });
      assert.equal(revoke.status, 201);
      const end = await fetch(`${gw.http}/api/streams/secret-show`, { method: "DELETE", headers: headers(admin) });
      assert.equal(end.status, 200, await end.clone().text());
      assert.equal(await b.closed, 4410);
      stop();
      l1.ws.close();
      await sleep(500);

      const lines = nodes.flatMap((n) => n.output().split("\n")).filter(Boolean);
      assert.ok(lines.length > 50, `${lines.length} lines logged`);
      for (const secret of used) {
        const hits = lines.filter((line) => line.includes(secret) || line.includes(secret.split(".")[2] ?? secret));
        assert.deepEqual(hits, [], `a token or secret (${secret.slice(0, 12)}…) appears in the logs`);
      }
      const audit = [...wk.logs, ...gw.logs].filter((e) => e.audit === true).map((e) => `${String(e.event)}${e.reason ? `:${String(e.reason)}` : ""}`);
      for (const event of ["publish.start", "publish.stop", "auth.failure:unknown_kid", "auth.failure:algorithm", "auth.failure:scope", "token.revoke", "stream.end"]) {
        assert.ok(audit.includes(event), `audit ${event} in ${JSON.stringify([...new Set(audit)])}`);
      }
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });
});
