/**
 * The clients' tokens against real nodes that enforce them (docs/security.md): the command line
 * (child processes) goes on air with --token and is refused, with the mint hint, without one or
 * with a listen-only one; the SDK sends its token as Authorization: Bearer (tokenIn header) or
 * ?token= (query) and both are accepted; a broadcaster whose token function gives a fresh token on
 * auth.expiring stays on air past the first token's exp, on the same socket.
 */
import assert from "node:assert/strict";
import WebSocket from "ws";
import type { AuthEvent } from "../../client/core/auth";
import { ListenConnection } from "../../client/core/listen-connection";
import { PublishConnection } from "../../client/core/publish-connection";
import type { SocketFactory, WebSocketLike } from "../../client/core/socket";
import { testToken } from "../support/auth";
import { sleep, startNodeProcess, waitFor, type NodeProcess } from "../support/node-process";
import { cli, killAll } from "./cli-harness";

const wsFactory: SocketFactory = (url, init) => new WebSocket(url, { headers: init.headers }) as unknown as WebSocketLike;
/** A small valid Opus packet (code 0, 20 ms CELT frame of silence). */
const OPUS_SILENCE = new Uint8Array([0xfc, 0xff, 0xfe]);

describe("clients' tokens against nodes that enforce them", function () {
  this.timeout(60_000);
  let node: NodeProcess;
  let guarded: NodeProcess;

  before(async () => {
    [node, guarded] = await Promise.all([startNodeProcess(), startNodeProcess([], { LISTEN_AUTH: "token" })]);
  });
  afterEach(() => killAll());
  after(async () => Promise.all([node?.stop(), guarded?.stop()]));

  it("CLI broadcast: on air with --token; without one UNAUTHORIZED, with a listen token FORBIDDEN, each exit 1 with the mint hint", async () => {
    const onAir = cli(["broadcast", "builtin", "--stream", "cli-ok", "--url", node.url, "--token", await testToken("publish", ["cli-ok"])], { VEZA_TOKEN: "" });
    const none = cli(["broadcast", "builtin", "--stream", "cli-none", "--url", node.url], { VEZA_TOKEN: "" });
    const listenOnly = cli(["broadcast", "builtin", "--stream", "cli-ro", "--url", node.url], { VEZA_TOKEN: await testToken("listen", ["cli-ro"]) });
    await onAir.waitFor(/on air: stream cli-ok/, 20_000);
    assert.equal(await none.exit(20_000), 1, none.stderr);
    assert.match(none.stderr, /UNAUTHORIZED: .* \(close 4401\) — pass a token with --token or VEZA_TOKEN; mint one with `veza-stream token --scope publish:cli-none`/);
    assert.equal(await listenOnly.exit(20_000), 1, listenOnly.stderr);
    assert.match(listenOnly.stderr, /FORBIDDEN: .* \(close 4403\) — the token does not allow publish on stream cli-ro: mint one with `veza-stream token --scope publish:cli-ro`/);
    onAir.proc.kill("SIGINT");
    assert.equal(await onAir.exit(10_000), 0, onAir.stderr);
  });

  it("CLI listen on a LISTEN_AUTH=token node: refused without a token (hint for a listen scope), hears the stream with VEZA_TOKEN", async () => {
    const broadcast = cli(["broadcast", "builtin", "--stream", "cli-g", "--url", guarded.url, "--token", await testToken("publish", ["cli-g"])], { VEZA_TOKEN: "" });
    await broadcast.waitFor(/on air/, 20_000);
    const refused = cli(["listen", "cli-g", "--url", guarded.url, "--seconds", "1"], { VEZA_TOKEN: "" });
    const heard = cli(["listen", "cli-g", "--url", guarded.url, "--seconds", "1"], { VEZA_TOKEN: await testToken("listen", ["cli-g"]) });
    assert.equal(await refused.exit(20_000), 1, refused.stderr);
    assert.match(refused.stderr, /UNAUTHORIZED: .* \(close 4401\) — pass a token with --token or VEZA_TOKEN; mint one with `veza-stream token --scope listen:cli-g`/);
    assert.equal(await heard.exit(20_000), 0, heard.stderr);
    assert.ok((JSON.parse(heard.stdout) as { frames: number }).frames >= 40, heard.stdout);
    broadcast.proc.kill("SIGINT"); // stops its ffmpeg too (a SIGKILL would leave it running)
    assert.equal(await broadcast.exit(10_000), 0, broadcast.stderr);
  });

  it("SDK: the header and the query parameter both carry the token to a real gateway", async () => {
    const listen = new ListenConnection({ baseUrl: guarded.http, streamId: "sdk-g", token: () => testToken("listen", ["sdk-g"]), tokenIn: "header", createSocket: wsFactory });
    const publish = new PublishConnection({ baseUrl: guarded.http, streamId: "sdk-g", format: "opus", token: await testToken("publish", ["sdk-g"]), createSocket: wsFactory });
    const refusedListen = new ListenConnection({ baseUrl: guarded.http, streamId: "sdk-g", token: await testToken("listen", ["other"]), createSocket: wsFactory });
    try {
      listen.start();
      refusedListen.start();
      const started = await publish.start();
      assert.equal(started.state, "live");
      await waitFor(() => listen.state.state === "open" && refusedListen.state.state === "closed", 5000, "the listeners' verdicts");
      assert.deepEqual(refusedListen.state, { state: "closed", closeCode: 4403, final: true, code: "FORBIDDEN", message: (refusedListen.state as { message: string }).message });
    } finally {
      publish.stop();
      listen.stop();
      refusedListen.stop();
    }
  });

  it("SDK: a token function renews the token on auth.expiring; the broadcast outlives the first token on the same socket", async () => {
    const ttlS = 8; // auth.expiring at half its remaining life: about 4 s in
    let calls = 0;
    const firstExp = Math.floor(Date.now() / 1000) + ttlS;
    const publish = new PublishConnection({
      baseUrl: node.url, streamId: "renew", format: "opus", createSocket: wsFactory, tokenIn: "header",
      token: () => testToken("publish", ["renew"], { ttlS: calls++ === 0 ? ttlS : 3600 }),
    });
    const events: AuthEvent[] = [];
    publish.on("auth", (e) => events.push(e));
    const pace = setInterval(() => publish.isLive && publish.sendOpus(OPUS_SILENCE, 960), 20);
    try {
      await publish.start();
      await waitFor(() => events.some((e) => e.type === "refreshed"), 15_000, "auth.refreshed");
      assert.deepEqual(events.slice(0, 2).map((e) => e.type), ["expiring", "refresh-sent"]);
      const expiring = events[0] as Extract<AuthEvent, { type: "expiring" }>;
      assert.ok(Math.abs(expiring.exp - firstExp) <= 1 && expiring.refreshing, JSON.stringify(expiring));
      await sleep(Math.max(0, (firstExp + 6) * 1000 - Date.now())); // past the first exp and the verifier's leeway
      assert.deepEqual(publish.state.state === "live" && [publish.state.state, publish.state.generation], ["live", 1], JSON.stringify(publish.state));
      assert.equal(calls, 2);
    } finally {
      clearInterval(pace);
      publish.stop();
    }
  });
});
