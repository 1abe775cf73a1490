/**
 * The client SDK's tokens (client/core: auth.ts, socket.ts, publish-connection.ts,
 * listen-connection.ts) over real sockets: a small `ws` server of the test's own plays the gateway
 * (docs/security.md, docs/protocol.md) and records every upgrade. Checked: the token as
 * `Authorization: Bearer` (tokenIn header) or `?token=` next to `?session=` (query), the
 * auth.expiring → auth.refresh → auth.refreshed exchange, and which closes end a connection
 * (4401, 4403, BROADCASTER_TOO_FAST's 4429) and which are retried (RATE_LIMITED's 4429).
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import WebSocket, { WebSocketServer } from "ws";
import { isAuthErrorCode, SessionToken, withQuery, type AuthEvent } from "../../client/core/auth";
import { ListenConnection, type ListenState } from "../../client/core/listen-connection";
import { PublishConnection, type PublishState } from "../../client/core/publish-connection";
import { isFinalCloseCode, RATE_LIMITED_DELAY_MS, type SocketFactory, type WebSocketLike } from "../../client/core/socket";
import { offAirNotice, offAirOf } from "../../client/pages/player-view";
import type { PlayerStats } from "../../client/core/stats";

/** Three base64url parts: shaped like a JWT (the fake gateway does not verify it). */
const TOKEN_A = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnLWE";
const TOKEN_B = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiIn0.c2lnLWI";

/** A `ws` socket factory that sends the SDK's headers with the upgrade, as a Node application would. */
const wsFactory: SocketFactory = (url, init) => new WebSocket(url, { headers: init.headers }) as unknown as WebSocketLike;

interface Upgrade {
  url: string;
  authorization: string | undefined;
  socket: WebSocket;
  /** Text messages the client sent on this socket, parsed. */
  received: Array<{ type: string; [k: string]: unknown }>;
}

/** A stand-in gateway: accepts every upgrade, records it, lets the test answer. */
class FakeGateway {
  readonly upgrades: Upgrade[] = [];
  private readonly wss: WebSocketServer;
  onUpgrade: (u: Upgrade) => void = () => undefined;
  onText: (u: Upgrade, msg: { type: string; [k: string]: unknown }) => void = () => undefined;

  constructor() {
    this.wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    this.wss.on("connection", (socket, req) => {
      const u: Upgrade = { url: req.url ?? "", authorization: req.headers.authorization, socket, received: [] };
      this.upgrades.push(u);
      socket.on("message", (data, isBinary) => {
        if (isBinary) return;
        const msg = JSON.parse(data.toString()) as { type: string };
        u.received.push(msg);
        this.onText(u, msg);
      });
      this.onUpgrade(u);
    });
  }

  async ready(): Promise<string> {
    if (!this.wss.address()) await new Promise((r) => this.wss.once("listening", r));
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  /** Sends the server's refusal as the gateway does: an `error` message, then the close. */
  static refuse(u: Upgrade, code: string, closeCode: number): void {
    u.socket.send(JSON.stringify({ type: "error", code, message: `refused: ${code}` }));
    u.socket.close(closeCode, code);
  }

  close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    return new Promise((r) => this.wss.close(() => r()));
  }
}

const started = (streamId: string, sessionId = "s-1") =>
  JSON.stringify({ type: "stream.started", sessionId, streamId, state: "live", title: "", metadata: {}, format: "opus", listeners: 0, startedAt: null, frames: 0, mediaTime: 0, bitrate: 0, owner: "n" });
const hello = (streamId: string, sessionId: string) =>
  JSON.stringify({ type: "hello", protocolVersion: 1, sessionId, streamId, codec: "opus", sampleRate: 48000, channels: 2, frameDurationMs: 20, rendition: 0, resumed: false, reconnects: 0 });

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const query = (u: Upgrade) => new URL(u.url, "http://x").searchParams;

describe("client SDK: tokens", function () {
  this.timeout(15_000);
  let gw: FakeGateway;
  let base: string;
  const cleanup: Array<() => void> = [];

  beforeEach(async () => {
    gw = new FakeGateway();
    base = await gw.ready();
  });
  afterEach(async () => {
    for (const f of cleanup.splice(0)) f();
    await gw.close();
  });

  describe("where the token goes", () => {
    it("tokenIn header: Authorization: Bearer on the upgrade, nothing in the URL", async () => {
      gw.onText = (u, m) => m.type === "stream.start" && u.socket.send(started("radio"));
      const p = new PublishConnection({ baseUrl: base, streamId: "radio", format: "opus", token: TOKEN_A, tokenIn: "header", createSocket: wsFactory });
      cleanup.push(() => p.stop());
      await p.start();
      assert.equal(gw.upgrades.length, 1);
      assert.equal(gw.upgrades[0]!.authorization, `Bearer ${TOKEN_A}`);
      assert.equal(gw.upgrades[0]!.url, "/ws/publish/radio");
    });

    it("tokenIn query (the default, browsers): ?token= on the URL, no Authorization header", async () => {
      gw.onText = (u, m) => m.type === "stream.start" && u.socket.send(started("radio"));
      const p = new PublishConnection({ baseUrl: base.replace("ws:", "http:"), streamId: "radio", format: "opus", token: TOKEN_A, createSocket: wsFactory });
      cleanup.push(() => p.stop());
      await p.start();
      assert.equal(gw.upgrades[0]!.authorization, undefined);
      assert.equal(query(gw.upgrades[0]!).get("token"), TOKEN_A);
    });

    it("no token: neither header nor query parameter", async () => {
      const l = new ListenConnection({ baseUrl: base, streamId: "radio", createSocket: wsFactory });
      cleanup.push(() => l.stop());
      l.start();
      await until(() => gw.upgrades.length === 1, 2000, "the upgrade");
      assert.equal(gw.upgrades[0]!.url, "/ws/listen/radio");
      assert.equal(gw.upgrades[0]!.authorization, undefined);
    });

    it("a listener that reconnects carries ?session= and ?token= together, and asks the token function again", async () => {
      let calls = 0;
      gw.onUpgrade = (u) => u.socket.send(hello("radio", "sess/1"));
      const l = new ListenConnection({ baseUrl: base, streamId: "radio", token: async () => (++calls === 1 ? TOKEN_A : TOKEN_B), createSocket: wsFactory, backoff: { baseMs: 20 } });
      cleanup.push(() => l.stop());
      l.start();
      await until(() => l.state.state === "open", 2000, "the first hello");
      gw.upgrades[0]!.socket.close(1012, "OWNER_LOST"); // retryable
      await until(() => gw.upgrades.length === 2, 2000, "the reconnection");
      assert.equal(query(gw.upgrades[0]!).get("token"), TOKEN_A);
      assert.equal(query(gw.upgrades[0]!).get("session"), null);
      const second = query(gw.upgrades[1]!);
      assert.equal(second.get("session"), "sess/1", "the session id, encoded and decoded intact");
      assert.equal(second.get("token"), TOKEN_B, "the token function was asked again");
      assert.equal(calls, 2);
    });

    it("withQuery keeps what the URL has, replaces what it sets, and leaves out undefined values", () => {
      assert.equal(withQuery("ws://h/ws/listen/a", {}), "ws://h/ws/listen/a");
      assert.equal(withQuery("ws://h/ws/listen/a?x=1", { session: "s 1", token: undefined }), "ws://h/ws/listen/a?x=1&session=s+1");
      assert.equal(withQuery("/p?token=old#f", { token: "new" }), "/p?token=new#f");
    });

    it("SessionToken: blank means none; header placement puts nothing in the URL", async () => {
      assert.equal(new SessionToken("  ").current(), undefined);
      assert.equal(await new SessionToken(() => " t ").current(), "t");
      const t = new SessionToken(TOKEN_A, "header").target("ws://h/ws/publish/a", TOKEN_A);
      assert.deepEqual(t, { url: "ws://h/ws/publish/a", init: { headers: { Authorization: `Bearer ${TOKEN_A}` } } });
    });
  });

  describe("auth.expiring and auth.refresh", () => {
    it("a token function is asked for a new token, sent as auth.refresh; auth.refreshed is reported", async () => {
      let calls = 0;
      const exp = Math.floor(Date.now() / 1000) + 30;
      gw.onText = (u, m) => {
        if (m.type === "stream.start") {
          u.socket.send(started("radio"));
          u.socket.send(JSON.stringify({ type: "auth.expiring", exp }));
        } else if (m.type === "auth.refresh") u.socket.send(JSON.stringify({ type: "auth.refreshed", exp: exp + 3600 }));
      };
      const p = new PublishConnection({ baseUrl: base, streamId: "radio", format: "opus", token: () => (++calls === 1 ? TOKEN_A : TOKEN_B), tokenIn: "header", createSocket: wsFactory });
      cleanup.push(() => p.stop());
      const events: AuthEvent[] = [];
      p.on("auth", (e) => events.push(e));
      await p.start();
      await until(() => events.some((e) => e.type === "refreshed"), 2000, "auth.refreshed");
      const refresh = gw.upgrades[0]!.received.filter((m) => m.type === "auth.refresh");
      assert.deepEqual(refresh, [{ type: "auth.refresh", token: TOKEN_B }]);
      assert.deepEqual(events, [{ type: "expiring", exp, refreshing: true }, { type: "refresh-sent" }, { type: "refreshed", exp: exp + 3600 }]);
      assert.equal(gw.upgrades.length, 1, "the same socket: no reconnection");
    });

    it("with a fixed token nothing is sent on auth.expiring; refreshToken(t) sends t and keeps it for the next socket", async () => {
      const exp = Math.floor(Date.now() / 1000) + 30;
      gw.onUpgrade = (u) => {
        u.socket.send(hello("radio", "s"));
        u.socket.send(JSON.stringify({ type: "auth.expiring", exp }));
      };
      const l = new ListenConnection({ baseUrl: base, streamId: "radio", token: TOKEN_A, createSocket: wsFactory, backoff: { baseMs: 20 } });
      cleanup.push(() => l.stop());
      const events: AuthEvent[] = [];
      l.on("auth", (e) => events.push(e));
      const messages: string[] = [];
      l.on("message", (m) => messages.push(m.type));
      l.start();
      await until(() => events.length === 1, 2000, "auth.expiring");
      assert.deepEqual(events, [{ type: "expiring", exp, refreshing: false }]);
      assert.ok(!messages.includes("auth.expiring"), "auth messages are not passed on as stream messages");
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(gw.upgrades[0]!.received, [], "nothing to refresh with");
      assert.equal(await l.refreshToken(TOKEN_B), true);
      await until(() => gw.upgrades[0]!.received.length === 1, 2000, "auth.refresh");
      assert.deepEqual(gw.upgrades[0]!.received[0], { type: "auth.refresh", token: TOKEN_B });
      gw.upgrades[0]!.socket.close(1001, "NODE_SHUTTING_DOWN");
      await until(() => gw.upgrades.length === 2, 2000, "the reconnection");
      assert.equal(query(gw.upgrades[1]!).get("token"), TOKEN_B);
    });

    it("refreshToken() without an open socket sends nothing and says so", async () => {
      const p = new PublishConnection({ baseUrl: base, streamId: "radio", format: "opus", token: TOKEN_A, createSocket: wsFactory });
      assert.equal(await p.refreshToken(), false);
    });
  });

  describe("close codes", () => {
    const publishUntilFailed = async (refusal: string, closeCode: number) => {
      gw.onText = (u, m) => m.type === "stream.start" && FakeGateway.refuse(u, refusal, closeCode);
      const p = new PublishConnection({ baseUrl: base, streamId: "radio", format: "opus", token: TOKEN_A, createSocket: wsFactory, backoff: { baseMs: 20, capMs: 20 } });
      cleanup.push(() => p.stop());
      const states: PublishState[] = [];
      p.on("state", (s) => states.push(s));
      const outcome = await p.start().then(
        () => null,
        (err: Error & { code?: string }) => err,
      );
      return { p, states, outcome };
    };

    for (const [code, closeCode] of [["UNAUTHORIZED", 4401], ["TOKEN_EXPIRED", 4401], ["FORBIDDEN", 4403], ["BROADCASTER_TOO_FAST", 4429]] as const) {
      it(`${code} (${closeCode}) ends a broadcaster: failed with the code, no reconnection`, async () => {
        const { p, outcome } = await publishUntilFailed(code, closeCode);
        assert.equal(outcome?.code, code);
        assert.deepEqual(p.state, { state: "failed", code, message: `refused: ${code}`, afterLive: false });
        await new Promise((r) => setTimeout(r, 150)); // several backoffs of 20 ms
        assert.equal(gw.upgrades.length, 1);
      });
    }

    it("RATE_LIMITED (4429) is retried, after at least RATE_LIMITED_DELAY_MS", async () => {
      gw.onUpgrade = (u) => FakeGateway.refuse(u, "RATE_LIMITED", 4429);
      const l = new ListenConnection({ baseUrl: base, streamId: "radio", token: TOKEN_A, createSocket: wsFactory, backoff: { baseMs: 20 } });
      cleanup.push(() => l.stop());
      l.start();
      await until(() => l.state.state !== "connecting", 2000, "the refusal");
      const s = l.state as ListenState;
      assert.equal(s.state, "retrying");
      assert.ok(s.state === "retrying" && s.closeCode === 4429 && s.delayMs >= RATE_LIMITED_DELAY_MS, JSON.stringify(s));
    });

    it("a listener refused with 4403 is closed for good with the server's code", async () => {
      gw.onUpgrade = (u) => FakeGateway.refuse(u, "FORBIDDEN", 4403);
      const l = new ListenConnection({ baseUrl: base, streamId: "radio", token: TOKEN_A, createSocket: wsFactory, backoff: { baseMs: 20 } });
      cleanup.push(() => l.stop());
      l.start();
      await until(() => l.state.state === "closed", 2000, "the close");
      assert.deepEqual(l.state, { state: "closed", closeCode: 4403, final: true, code: "FORBIDDEN", message: "refused: FORBIDDEN" });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(gw.upgrades.length, 1);
    });

    it("a close reason naming the code is enough (no error message first)", async () => {
      gw.onUpgrade = (u) => u.socket.close(4401, "TOKEN_EXPIRED");
      const l = new ListenConnection({ baseUrl: base, streamId: "radio", createSocket: wsFactory });
      cleanup.push(() => l.stop());
      l.start();
      await until(() => l.state.state === "closed", 2000, "the close");
      assert.equal((l.state as Extract<ListenState, { state: "closed" }>).code, "TOKEN_EXPIRED");
    });

    it("isFinalCloseCode: 4401/4403 final, 4429 final unless RATE_LIMITED, 1013 retried", () => {
      assert.equal(isFinalCloseCode(4401), true);
      assert.equal(isFinalCloseCode(4403, "FORBIDDEN"), true);
      assert.equal(isFinalCloseCode(4429), true);
      assert.equal(isFinalCloseCode(4429, "BROADCASTER_TOO_FAST"), true);
      assert.equal(isFinalCloseCode(4429, "RATE_LIMITED"), false);
      assert.equal(isFinalCloseCode(1013, "AUTH_UNAVAILABLE"), false);
      assert.equal(isFinalCloseCode(1006), false);
      assert.ok(isAuthErrorCode("TOKEN_EXPIRED") && !isAuthErrorCode("RATE_LIMITED") && !isAuthErrorCode(null));
    });
  });

  describe("player page words", () => {
    const closed = (closeCode: number, code: string | null): PlayerStats =>
      ({ connection: { state: "closed", closeCode, final: true, code, message: null }, stream: null }) as unknown as PlayerStats;

    it("a refused token asks for a listener token in the link", () => {
      for (const [closeCode, code] of [[4401, "UNAUTHORIZED"], [4403, "FORBIDDEN"], [4401, null]] as const) {
        const notice = offAirNotice(offAirOf(closed(closeCode, code)), false);
        assert.match(notice ?? "", /This stream needs a listener token: open the link with \?token=…/, `${closeCode} ${code}`);
      }
      assert.match(offAirNotice(offAirOf(closed(4401, "TOKEN_EXPIRED")), false) ?? "", /expired/);
      assert.match(offAirNotice(offAirOf(closed(4403, "FORBIDDEN")), false) ?? "", /does not allow listening/);
    });

    it("other final closes keep their words", () => {
      assert.equal(offAirNotice(offAirOf(closed(1008, null)), false), "The server closed this connection (code 1008); reload the page to listen again.");
    });
  });
});
