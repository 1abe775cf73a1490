/**
 * The listener-session actor on a real node over NATS, driven from another broker of the cluster
 * (as the admin console is): `listener-session.list` shows a WebSocket listener and an HTTP
 * listener of a live stream, with their kind and the user of the listener's token; `get` reads one
 * and an unknown id is SESSION_NOT_FOUND across the network; `kick` closes each (1008 for the
 * WebSocket, the connection for HTTP) and is audited; a listen token cannot; `session.start` and
 * `session.end` reach a service that subscribes to them, with the sessions' durations.
 */
import assert from "node:assert/strict";
import { ServiceBroker } from "moleculer";
import { tokenMiddleware } from "../../bin/commands/repl";
import type { SessionEventPayloads, SessionInfo } from "../../actors/contract";
import { errorCodeOf } from "../../actors/errors";
import { testToken } from "../support/auth";
import { startBroadcast } from "../support/broadcast";
import { Listener } from "../../bin/commands/listen";
import { startCluster } from "../support/cluster";
import { NATS_URL } from "../support/services";
import { sleep, waitFor } from "../support/node-process";

describe("listener-session actor (Moleculer service on every gateway node)", function () {
  this.timeout(60_000);

  it("lists, reads and kicks WebSocket and HTTP sessions for an admin (a listen token is refused), and emits session.start and session.end", async () => {
    const cluster = await startCluster([{ name: "ls-gw", services: "gateway,stream,encoder,relay" }], { LISTEN_AUTH: "token" });
    const gw = cluster.nodes["ls-gw"]!;
    const events: Array<{ event: string; payload: SessionInfo & { durationMs?: number } }> = [];
    const admin = new ServiceBroker({ nodeID: "ls-admin", namespace: cluster.namespace, transporter: NATS_URL, serializer: "JSON", logger: false, middlewares: [tokenMiddleware(await testToken("admin", ["*"], { sub: "ops" }))] });
    admin.createService({
      name: "session-recorder",
      events: {
        "session.start"(ctx: { params: SessionEventPayloads["session.start"] }) {
          events.push({ event: "session.start", payload: ctx.params });
        },
        "session.end"(ctx: { params: SessionEventPayloads["session.end"] }) {
          events.push({ event: "session.end", payload: ctx.params });
        },
      },
    });
    const listenerOnly = new ServiceBroker({ nodeID: "ls-listener", namespace: cluster.namespace, transporter: NATS_URL, serializer: "JSON", logger: false, middlewares: [tokenMiddleware(await testToken("listen", ["*"]))] });
    const abort = new AbortController();
    try {
      await Promise.all([admin.start(), listenerOnly.start()]);
      await admin.waitForServices(["listener-session"], 10_000);
      await sleep(1500); // the gateway learns of the recorder's events
      const broadcast = await startBroadcast(gw.url, "sessions", "awakening.ogg", "opus", { loop: true });
      const listenToken = await testToken("listen", ["sessions"], { sub: "alice" });
      // a WebSocket listener with a token (LISTEN_AUTH=token), and an HTTP listener with one
      const wsListener = new Listener(gw.url, "sessions", { token: listenToken });
      await wsListener.opened;
      await waitFor(() => wsListener.stats.frames > 10, 15_000, "the WebSocket listener's audio");
      const http = await fetch(`${gw.http}/live/sessions.ogg?token=${await testToken("listen", ["sessions"], { sub: "bob" })}`, { signal: abort.signal });
      assert.equal(http.status, 200);
      const reader = http.body!.getReader();
      let httpBytes = 0;
      let httpEnded = false;
      void (async () => {
        for (;;) {
          const r = await reader.read().catch(() => ({ done: true, value: undefined }));
          if (r.done) return void (httpEnded = true);
          httpBytes += r.value?.length ?? 0;
        }
      })();
      await waitFor(() => httpBytes > 4000, 10_000, "the HTTP listener's audio");

      const list = (await admin.call("listener-session.list", { streamId: "sessions" }, { nodeID: "ls-gw" })) as SessionInfo[];
      const byKind = Object.fromEntries(list.map((s) => [s.kind, s]));
      assert.deepEqual(Object.keys(byKind).sort(), ["http", "websocket"], JSON.stringify(list));
      assert.equal(byKind.websocket!.sub, "alice");
      assert.equal(byKind.http!.sub, "bob");
      assert.ok((byKind.websocket!.framesSent ?? 0) > 10 && (byKind.http!.bytes ?? 0) > 4000, "frames and bytes counted");
      const one = (await admin.call("listener-session.get", { sessionId: byKind.http!.sessionId }, { nodeID: "ls-gw" })) as SessionInfo;
      assert.equal(one.kind, "http");
      const unknown = await admin.call("listener-session.get", { sessionId: "nope" }, { nodeID: "ls-gw" }).then(() => null, (e: unknown) => e);
      assert.equal(errorCodeOf(unknown), "SESSION_NOT_FOUND");
      const refused = await listenerOnly.call("listener-session.kick", { sessionId: byKind.websocket!.sessionId }, { nodeID: "ls-gw" }).then(() => null, (e: unknown) => e);
      assert.equal(errorCodeOf(refused), "FORBIDDEN", "a listen token cannot kick");
      const services = (await admin.call("$node.services", {}, { nodeID: "ls-gw" })) as Array<{ name: string }>;
      assert.ok(services.some((s) => s.name === "listener-session"), "the actor is visible among the node's services");

      await admin.call("listener-session.kick", { sessionId: byKind.http!.sessionId }, { nodeID: "ls-gw" });
      await admin.call("listener-session.kick", { sessionId: byKind.websocket!.sessionId }, { nodeID: "ls-gw" });
      await waitFor(() => httpEnded && wsListener.stats.closeCode === 1008, 10_000, "both listeners closed");
      await waitFor(() => events.filter((e) => e.event === "session.end").length >= 2, 10_000, "session.end for both");
      const started = events.filter((e) => e.event === "session.start").map((e) => e.payload.sessionId);
      assert.ok(started.includes(byKind.http!.sessionId) && started.includes(byKind.websocket!.sessionId), "session.start for both");
      for (const e of events.filter((x) => x.event === "session.end" && [byKind.http!.sessionId, byKind.websocket!.sessionId].includes(x.payload.sessionId))) {
        const p = e.payload as SessionEventPayloads["session.end"];
        assert.ok(p.durationMs > 100 && p.durationMs === p.endedAt - p.connectedAt, `a duration: ${JSON.stringify(p)}`);
      }
      assert.match(gw.output(), /"event":"listener.kick"[^\n]*"kind":"http"/, "the kick is audited");
      wsListener.close();
      await broadcast.stop();
    } finally {
      abort.abort();
      await Promise.all([admin.stop(), listenerOnly.stop()]);
      await cluster.stop();
    }
  });
});
