/**
 * The access model's limits at the HTTP doors (docs/security.md): an HTTP listener (`/live/<id>.ogg`
 * on the main port, `GET /<mount>` on the Icecast port) counts against `connections` and the
 * listener quotas as a WebSocket listener does, a HEAD does not, and a refusal is 429 with
 * Retry-After while the listeners already in, and those of another address, keep their audio. An
 * Icecast source counts against `connections`.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { Broadcast } from "../../bin/commands/broadcast";
import { startBroadcast } from "../support/broadcast";
import { icecastPortOf, rawRequest } from "../support/icecast";
import { startNodeProcess, waitFor, type NodeProcess } from "../support/node-process";

/** An HTTP listener: its status, headers, and the bytes received so far. */
interface HttpListener {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes: () => number;
  close: () => void;
}

/** GET (or HEAD) `url` from `localAddress`; resolves once the head arrived, then keeps counting the body. */
function listen(url: string, localAddress: string, method = "GET"): Promise<HttpListener> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, localAddress, agent: false }, (res) => {
      let bytes = 0;
      res.on("data", (d: Buffer) => (bytes += d.length));
      res.on("error", () => undefined);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes: () => bytes, close: () => req.destroy() });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("limits at the HTTP doors: HTTP listeners and Icecast sources", function () {
  this.timeout(60_000);
  let node: NodeProcess;
  let icecast: number;
  let broadcast: Broadcast;
  const open: HttpListener[] = [];

  before(async () => {
    node = await startNodeProcess(["--log-format", "json"], {
      ICECAST_PORT: "0",
      RATE_LIMITS: "connections:100000/10s,httpApi:100000/60s,publishStarts:100000/60s,listenersPerIp:2",
    });
    icecast = icecastPortOf(node);
    broadcast = await startBroadcast(node.url, "lim", "apex-aleph.ogg", "opus", { loop: true });
    await waitFor(async () => ((await (await fetch(`${node.http}/api/streams/lim`)).json()) as { state?: string }).state === "live", 15_000, "stream lim live");
  });
  after(async () => {
    for (const l of open) l.close();
    await broadcast?.stop();
    await node?.stop();
  });

  it("listenersPerIp counts HTTP listeners on both ports (not HEAD); past it 429 with Retry-After; a freed place is reusable; another address unaffected", async () => {
    const a = await listen(`${node.http}/live/lim.ogg`, "127.0.0.1");
    const b = await listen(`http://127.0.0.1:${icecast}/lim`, "127.0.0.1");
    open.push(a, b);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const head = await listen(`${node.http}/live/lim.ogg`, "127.0.0.1", "HEAD");
    assert.equal(head.status, 200, "a HEAD is not a listener");
    for (const url of [`${node.http}/live/lim.ogg`, `http://127.0.0.1:${icecast}/lim`, `http://127.0.0.1:${icecast}/live/lim.ogg`]) {
      const third = await listen(url, "127.0.0.1");
      third.close();
      assert.equal(third.status, 429, url);
      assert.ok(Number(third.headers["retry-after"]) >= 1, `${url}: Retry-After ${third.headers["retry-after"]}`);
    }
    const other = await listen(`http://127.0.0.1:${icecast}/lim`, "127.0.0.2");
    open.push(other);
    assert.equal(other.status, 200, "another address has its own quota");
    const before = [a.bytes(), b.bytes(), other.bytes()];
    await waitFor(() => a.bytes() > before[0]! + 4000 && b.bytes() > before[1]! + 4000 && other.bytes() > before[2]! + 4000, 5000, "the admitted listeners keep receiving");
    // a closed listener gives its place back
    a.close();
    await waitFor(async () => {
      const again = await listen(`${node.http}/live/lim.ogg`, "127.0.0.1");
      if (again.status === 200) open.push(again);
      else again.close();
      return again.status === 200;
    }, 5000, "a new listener admitted once one left");
    const refused = await fetch(`${node.http}/metrics`).then((r) => r.text());
    assert.match(refused, /veza_rate_limited_total\{limit="listenersPerIp"\} [1-9]/);
  });

  it("an Icecast source counts against connections: past it 429 with Retry-After, before the password is checked", async () => {
    const limited = await startNodeProcess(["--log-format", "json"], { ICECAST_PORT: "0", RATE_LIMITS: "connections:2/60s,httpApi:100000/60s" });
    try {
      const port = icecastPortOf(limited);
      const put = "PUT /other HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + Buffer.from("source:not-a-token").toString("base64") + "\r\nContent-Type: audio/mpeg\r\n\r\n";
      const answers = [];
      for (let i = 0; i < 2; i++) answers.push((await rawRequest(port, put, 1500)).split("\r\n")[0]);
      assert.deepEqual(answers, ["HTTP/1.1 401 Authentication Required", "HTTP/1.1 401 Authentication Required"]);
      const third = await rawRequest(port, put, 1500);
      assert.match(third, /^HTTP\/1\.1 429 /);
      assert.match(third, /\r\nRetry-After: \d+\r\n/i);
    } finally {
      await limited.stop();
    }
  });
});
