/**
 * The command line's tokens, end to end: `veza-stream listen` and `veza-stream broadcast` run as
 * child processes (as a user runs them) against a small gateway of the test's own (an HTTP server
 * whose upgrades go to `ws`), which records every upgrade's URL and Authorization header and answers
 * as the real gateway does (docs/protocol.md): refusals as an `error` message and a 4401/4403 close,
 * a rate limit as HTTP 429 with Retry-After, `auth.expiring` during a session.
 * Checked: --token, --token @file and VEZA_TOKEN reach the server as `Authorization: Bearer` and
 * never in the URL; a refused token ends the command with exit 1 and a hint to mint one; a rate limit
 * is retried after Retry-After; a fixed token that expires gets a warning. In process, the
 * {@link Broadcast} and {@link Listener} classes with a token function (what `start --demo` can
 * give, since it can mint): a fresh token on auth.expiring, sent as auth.refresh, and on reconnection.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import WebSocket, { WebSocketServer } from "ws";
import { Broadcast } from "../../bin/commands/broadcast";
import { BUILTIN_DEMO, demoSource } from "../../bin/commands/demo-source";
import { Listener } from "../../bin/commands/listen";
import type { AuthEvent } from "../../client/core/auth";
import { resolveFfmpegPath } from "../../transports/ffmpeg/ffmpeg-path";
import { waitFor } from "../support/node-process";
import { cli, killAll } from "./cli-harness";

const TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjbGkifQ.c2lnbmF0dXJl";
const OTHER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlbnYifQ.b3RoZXI";

interface Upgrade {
  at: number;
  url: string;
  authorization: string | undefined;
  socket: WebSocket | null;
  received: Array<{ type: string; [k: string]: unknown }>;
}

/** A stand-in gateway: `decide` answers each upgrade with a WebSocket (then `onSocket`) or an HTTP refusal. */
class TestGateway {
  readonly upgrades: Upgrade[] = [];
  readonly server = http.createServer((_req, res) => res.writeHead(404).end());
  private readonly wss = new WebSocketServer({ noServer: true });
  /** Return an HTTP status line, headers and body to refuse the upgrade, or null to accept it. */
  decide: (u: Upgrade) => { status: string; headers: Record<string, string>; body: string } | null = () => null;
  onSocket: (u: Upgrade) => void = () => undefined;
  onText: (u: Upgrade, msg: { type: string; [k: string]: unknown }) => void = () => undefined;

  constructor() {
    this.server.on("upgrade", (req, socket, head) => {
      const u: Upgrade = { at: Date.now(), url: req.url ?? "", authorization: req.headers.authorization, socket: null, received: [] };
      this.upgrades.push(u);
      const refusal = this.decide(u);
      if (refusal) {
        const headers = { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(refusal.body)), Connection: "close", ...refusal.headers };
        socket.end(`HTTP/1.1 ${refusal.status}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n${refusal.body}`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        u.socket = ws;
        ws.on("message", (data, isBinary) => {
          if (isBinary) return;
          const msg = JSON.parse(data.toString()) as { type: string };
          u.received.push(msg);
          this.onText(u, msg);
        });
        this.onSocket(u);
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  static refuse(u: Upgrade, code: string, closeCode: number, message = `refused: ${code}`): void {
    u.socket?.send(JSON.stringify({ type: "error", code, message }));
    u.socket?.close(closeCode, code);
  }

  async stop(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

const hello = (streamId: string) =>
  JSON.stringify({ type: "hello", protocolVersion: 1, sessionId: "sess-1", streamId, codec: "opus", sampleRate: 48000, channels: 2, frameDurationMs: 20, rendition: 0, resumed: false, reconnects: 0 });
const started = (streamId: string) =>
  JSON.stringify({ type: "stream.started", sessionId: "b-1", streamId, state: "live", title: "", metadata: {}, format: "opus", listeners: 0, startedAt: null, frames: 0, mediaTime: 0, bitrate: 0, owner: "n" });

describe("command line: tokens (--token, @file, VEZA_TOKEN) against a gateway that records upgrades", function () {
  this.timeout(60_000);
  let gw: TestGateway;
  let url: string;
  let dir: string;

  beforeEach(async () => {
    gw = new TestGateway();
    url = await gw.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "veza-auth-clients-"));
  });
  afterEach(async () => {
    await killAll();
    await gw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("listen --token: Authorization: Bearer, not in the URL; UNAUTHORIZED (4401) is final: exit 1, one attempt, a hint to mint a listen token", async () => {
    gw.onSocket = (u) => TestGateway.refuse(u, "UNAUTHORIZED", 4401, "no valid token (reason signature)");
    const run = cli(["listen", "radio", "--url", url, "--token", TOKEN], { VEZA_TOKEN: "" });
    assert.equal(await run.exit(20_000), 1, run.stderr);
    assert.equal(gw.upgrades.length, 1, "not retried");
    assert.equal(gw.upgrades[0]!.authorization, `Bearer ${TOKEN}`);
    assert.equal(gw.upgrades[0]!.url, "/ws/listen/radio");
    assert.match(run.stderr, /UNAUTHORIZED: no valid token \(reason signature\) \(close 4401\) — pass a token with --token or VEZA_TOKEN; mint one with `veza-stream token --scope listen:radio`/);
    assert.ok(!run.stderr.includes(TOKEN), "the token is never printed");
  });

  it("--token @file reads the file, trimmed; VEZA_TOKEN is used without --token; --token wins over VEZA_TOKEN", async () => {
    gw.onSocket = (u) => {
      u.socket?.send(hello("radio"));
      u.socket?.close(1000);
    };
    const file = path.join(dir, "listener.jwt");
    fs.writeFileSync(file, `\n  ${TOKEN}\n\n`);
    const runs = [
      cli(["listen", "radio", "--url", url, "--no-reconnect", "--token", `@${file}`], { VEZA_TOKEN: "" }),
      cli(["listen", "radio", "--url", url, "--no-reconnect"], { VEZA_TOKEN: OTHER }),
      cli(["listen", "radio", "--url", url, "--no-reconnect", "--token", TOKEN], { VEZA_TOKEN: OTHER }),
      cli(["listen", "radio", "--url", url, "--no-reconnect"], { VEZA_TOKEN: "" }),
    ];
    for (const r of runs) assert.equal(await r.exit(20_000), 0, r.stderr);
    const seen = gw.upgrades.map((u) => u.authorization).sort();
    assert.deepEqual(seen, [`Bearer ${OTHER}`, `Bearer ${TOKEN}`, `Bearer ${TOKEN}`, undefined].sort());
    assert.ok(gw.upgrades.every((u) => !u.url.includes("token")), "never in the URL");
  });

  it("a token that is not a JWT, or an unreadable @file, stops before connecting, without echoing the token", async () => {
    const secret = "hunter2-not-a-jwt";
    const inline = cli(["listen", "radio", "--url", url, "--token", secret], { VEZA_TOKEN: "" });
    const fromEnv = cli(["broadcast", "builtin", "--stream", "radio", "--url", url], { VEZA_TOKEN: secret });
    const missing = cli(["listen", "radio", "--url", url, "--token", `@${path.join(dir, "nope.jwt")}`], { VEZA_TOKEN: "" });
    for (const r of [inline, fromEnv, missing]) assert.equal(await r.exit(20_000), 1, r.stderr);
    for (const r of [inline, fromEnv]) {
      assert.match(r.stderr, /--token \/ VEZA_TOKEN: the token is not a JWT/);
      assert.ok(!r.stderr.includes(secret), r.stderr);
    }
    assert.match(missing.stderr, /cannot read the token file .*nope\.jwt: ENOENT/);
    assert.equal(gw.upgrades.length, 0);
  });

  it("broadcast --token: Authorization: Bearer; FORBIDDEN (4403) after stream.start is final with a hint to mint a publish token", async () => {
    gw.onText = (u, m) => m.type === "stream.start" && TestGateway.refuse(u, "FORBIDDEN", 4403, "the token does not allow publish on radio");
    const run = cli(["broadcast", "builtin", "--stream", "radio", "--url", url, "--token", TOKEN], { VEZA_TOKEN: "" });
    assert.equal(await run.exit(20_000), 1, run.stderr);
    assert.equal(gw.upgrades.length, 1, "not retried");
    assert.equal(gw.upgrades[0]!.authorization, `Bearer ${TOKEN}`);
    assert.equal(gw.upgrades[0]!.url, "/ws/publish/radio");
    assert.match(run.stderr, /FORBIDDEN: the token does not allow publish on radio \(close 4403\) — the token does not allow publish on stream radio: mint one with `veza-stream token --scope publish:radio`/);
  });

  it("broadcast with a fixed token: a warning on auth.expiring, then TOKEN_EXPIRED ends it with exit 1", async () => {
    const exp = Math.floor(Date.now() / 1000) + 42;
    gw.onText = (u, m) => {
      if (m.type !== "stream.start") return;
      u.socket?.send(started("radio"));
      u.socket?.send(JSON.stringify({ type: "auth.expiring", exp }));
      setTimeout(() => TestGateway.refuse(u, "TOKEN_EXPIRED", 4401, "the token has expired"), 1500);
    };
    const run = cli(["broadcast", "builtin", "--stream", "radio", "--url", url], { VEZA_TOKEN: TOKEN });
    await run.waitFor(/warning: the token expires at/, 20_000);
    assert.ok(run.stderr.includes(new Date(exp * 1000).toISOString()), run.stderr);
    assert.equal(await run.exit(20_000), 1, run.stderr);
    assert.match(run.stderr, /TOKEN_EXPIRED: the token has expired \(close 4401\) — the token has expired: pass a fresh one/);
    assert.equal(gw.upgrades.length, 1, "not retried");
    assert.deepEqual(gw.upgrades[0]!.received.filter((m) => m.type === "auth.refresh"), [], "a fixed token is not sent again");
  });

  it("RATE_LIMITED at the upgrade (HTTP 429, Retry-After: 2) is retried after 2 s, with the token again", async () => {
    gw.decide = (u) => (gw.upgrades.indexOf(u) === 0 ? { status: "429 Too Many Requests", headers: { "Retry-After": "2" }, body: JSON.stringify({ error: "RATE_LIMITED", message: "slow down" }) } : null);
    gw.onSocket = (u) => {
      u.socket?.send(hello("radio"));
      u.socket?.close(1000);
    };
    const run = cli(["listen", "radio", "--url", url, "--token", TOKEN], { VEZA_TOKEN: "" });
    assert.equal(await run.exit(20_000), 0, run.stderr);
    assert.equal(gw.upgrades.length, 2);
    const gapMs = gw.upgrades[1]!.at - gw.upgrades[0]!.at;
    assert.ok(gapMs >= 1900, `retried after ${gapMs} ms, not the server's 2 s`);
    assert.match(run.stderr, /RATE_LIMITED: slow down \(HTTP 429\); retrying ws:\/\/127\.0\.0\.1:\d+ in 2\.0 s/);
    assert.deepEqual(gw.upgrades.map((u) => u.authorization), [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
  });

  it("with --no-reconnect a rate limit ends the command: exit 1 with the code", async () => {
    gw.decide = () => ({ status: "429 Too Many Requests", headers: { "Retry-After": "5" }, body: JSON.stringify({ error: "RATE_LIMITED", message: "slow down" }) });
    const run = cli(["listen", "radio", "--url", url, "--no-reconnect", "--token", TOKEN], { VEZA_TOKEN: "" });
    assert.equal(await run.exit(20_000), 1, run.stderr);
    assert.match(run.stderr, /RATE_LIMITED: slow down \(HTTP 429\)/);
    assert.equal(gw.upgrades.length, 1);
  });

  describe("in process, with a token function", () => {
    const tokens = ["A", "B", "C", "D"].map((c) => `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ${c}In0.c2ln`);

    it("Broadcast: the function gives each connection's token and the auth.refresh answer to auth.expiring", async () => {
      let calls = 0;
      const exp = Math.floor(Date.now() / 1000) + 30;
      gw.onText = (u, m) => {
        if (m.type === "stream.start") {
          u.socket?.send(started("radio"));
          if (gw.upgrades.indexOf(u) === 0) u.socket?.send(JSON.stringify({ type: "auth.expiring", exp }));
        } else if (m.type === "auth.refresh") {
          u.socket?.send(JSON.stringify({ type: "auth.refreshed", exp: exp + 600 }));
          setTimeout(() => u.socket?.close(1012, "OWNER_LOST"), 50); // retryable: the broadcast comes back
        }
      };
      const source = demoSource(BUILTIN_DEMO);
      const b = new Broadcast({
        url, reconnect: true, streamId: "radio", input: source.input, inputFormat: source.inputFormat, send: "opus",
        ffmpegPath: resolveFfmpegPath(process.env.FFMPEG_PATH), log: pino({ level: "silent" }), token: async () => tokens[calls++]!,
      });
      const events: AuthEvent[] = [];
      b.on("auth", (e: AuthEvent) => events.push(e));
      try {
        await b.start();
        await waitFor(() => gw.upgrades.length === 2 && gw.upgrades[1]!.received.length > 0, 10_000, "the reconnection's stream.start");
      } finally {
        await b.abort();
      }
      assert.deepEqual(gw.upgrades.map((u) => u.authorization), [`Bearer ${tokens[0]}`, `Bearer ${tokens[2]}`]);
      assert.deepEqual(gw.upgrades[0]!.received.filter((m) => m.type === "auth.refresh"), [{ type: "auth.refresh", token: tokens[1] }]);
      assert.deepEqual(events, [{ type: "expiring", exp, refreshing: true }, { type: "refresh-sent" }, { type: "refreshed", exp: exp + 600 }]);
      assert.equal(gw.upgrades[1]!.received[0]?.type, "stream.start");
      assert.equal(gw.upgrades[1]!.received[0]?.resume, "b-1", "the reconnection resumes its session");
    });

    it("Listener: the same exchange, and refreshToken(t) on demand", async () => {
      let calls = 0;
      const exp = Math.floor(Date.now() / 1000) + 30;
      gw.onSocket = (u) => {
        u.socket?.send(hello("radio"));
        u.socket?.send(JSON.stringify({ type: "auth.expiring", exp }));
      };
      gw.onText = (u, m) => m.type === "auth.refresh" && u.socket?.send(JSON.stringify({ type: "auth.refreshed", exp: exp + 600 }));
      const events: AuthEvent[] = [];
      const l = new Listener(url, "radio", { token: () => tokens[calls++]!, onAuth: (e) => events.push(e) });
      try {
        await l.opened;
        await waitFor(() => events.some((e) => e.type === "refreshed"), 5000, "auth.refreshed");
        assert.equal(l.refreshToken(tokens[3]), true);
        await waitFor(() => gw.upgrades[0]!.received.length === 2, 5000, "the second auth.refresh");
      } finally {
        l.close();
      }
      assert.equal(gw.upgrades[0]!.authorization, `Bearer ${tokens[0]}`);
      assert.deepEqual(gw.upgrades[0]!.received.map((m) => m.token), [tokens[1], tokens[3]]);
      assert.deepEqual(events.slice(0, 3), [{ type: "expiring", exp, refreshing: true }, { type: "refresh-sent" }, { type: "refreshed", exp: exp + 600 }]);
    });
  });
});
