/**
 * The bench's raw WebSocket client against a scripted server that writes the upgrade response and
 * frames in random cuts (1 to 3000 bytes), so every split of a header or payload is exercised.
 * Run: npx mocha --no-config --require tsx/cjs --extension ts bench/fanout/ws-client.test.ts
 */
import { strict as assert } from "node:assert";
import crypto from "node:crypto";
import net from "node:net";
import { LatencyHistogram } from "../histogram";
import { RawWsClient } from "./ws-client";

/** A server frame (FIN, unmasked) with 7-, 16- or 64-bit length. */
function frame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  let head: Buffer;
  if (len < 126) head = Buffer.from([0x80 | opcode, len]);
  else if (len < 65536) head = Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff]);
  else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeUInt32BE(len, 6);
  }
  return Buffer.concat([head, payload]);
}

/** Serves one connection: 101 response, then `frames`, cut at random. Resolves with what the client sent. */
function scriptedServer(frames: Buffer[]): Promise<{ port: number; fromClient: Promise<Buffer> }> {
  return new Promise((resolve) => {
    let got: (b: Buffer) => void = () => {};
    const fromClient = new Promise<Buffer>((r) => (got = r));
    const srv = net.createServer((s) => {
      let request = "";
      const sent: Buffer[] = [];
      s.on("data", async (d: Buffer) => {
        if (request.includes("\r\n\r\n")) return void sent.push(d);
        request += d.toString("latin1");
        const key = /Sec-WebSocket-Key: (.*)\r\n/.exec(request)?.[1];
        if (!key) return;
        const accept = crypto.createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
        const all = Buffer.concat([
          Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`),
          ...frames,
        ]);
        for (let off = 0; off < all.length; ) {
          const n = 1 + Math.floor(Math.random() * (Math.random() < 0.5 ? 12 : 3000));
          s.write(all.subarray(off, off + n));
          off += n;
          if (Math.random() < 0.2) await new Promise((r) => setTimeout(r, 1));
        }
      });
      s.on("close", () => {
        got(Buffer.concat(sent));
        srv.close();
      });
    });
    srv.listen(0, "127.0.0.1", () => resolve({ port: (srv.address() as net.AddressInfo).port, fromClient }));
  });
}

describe("bench RawWsClient", () => {
  it("reassembles text and binary frames split anywhere, answers ping and close", async () => {
    const sizes = [1, 2, 125, 126, 127, 336, 7666, 40_000, 65_535 - 14, 5];
    const messages = Array.from({ length: 200 }, (_, i) => crypto.randomBytes(sizes[i % sizes.length] as number));
    const frames = [
      frame(0x1, Buffer.from('{"type":"hello"}')),
      frame(0x9, Buffer.from("pi")),
      ...messages.map((m) => frame(0x2, m)),
      frame(0x8, Buffer.from([0x11, 0x97, 0x73, 0x6c, 0x6f, 0x77])), // 4503 "slow"
    ];
    const { port, fromClient } = await scriptedServer(frames);
    const seen = await new Promise<{ text: string; binary: number; bad: number; code: number; reason: string }>((resolve) => {
      let text = "";
      let binary = 0;
      let bad = 0;
      const client = new RawWsClient(port, "/ws/listen/x", {
        open: () => {},
        text: (b, s, e) => (text = b.toString("utf8", s, e)),
        binary: (b, s, e) => {
          if (!b.subarray(s, e).equals(messages[binary++] as Buffer)) bad++;
        },
        closed: (code, reason) => resolve({ text, binary, bad, code, reason }),
      });
      assert.ok(client);
    });
    assert.deepEqual(seen, { text: '{"type":"hello"}', binary: messages.length, bad: 0, code: 4503, reason: "slow" });
    const sent = await fromClient;
    // pong (0x8a) with the 2-byte ping payload, then close (0x88) echoing the code; both masked
    assert.equal(sent[0], 0x8a);
    assert.equal(sent[1], 0x80 | 2);
    assert.equal(sent[8], 0x88);
    assert.equal(sent[9], 0x80 | 2);
  });

  it("sends the given headers with the upgrade request (the broadcaster's Authorization: Bearer)", async () => {
    let request = "";
    const srv = net.createServer((s) =>
      s.on("data", (d: Buffer) => {
        request += d.toString("latin1");
        if (request.includes("\r\n\r\n")) s.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
      }),
    );
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => {
      new RawWsClient(port, "/ws/publish/x", { open: () => {}, text: () => {}, binary: () => {}, closed: () => resolve() }, "127.0.0.1", { authorization: "Bearer a.b.c" });
    });
    srv.close();
    assert.match(request, /^GET \/ws\/publish\/x HTTP\/1\.1\r\n[^]*\r\nauthorization: Bearer a\.b\.c\r\n\r\n$/);
  });

  it("reports a refused upgrade with code 0 and the status line", async () => {
    const srv = net.createServer((s) => s.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as net.AddressInfo).port;
    const closed = await new Promise<[number, string]>((resolve) => {
      new RawWsClient(port, "/nope", { open: () => {}, text: () => {}, binary: () => {}, closed: (c, r) => resolve([c, r]) });
    });
    srv.close();
    assert.deepEqual(closed, [0, "HTTP/1.1 404 Not Found"]);
  });
});

describe("bench LatencyHistogram", () => {
  it("gives percentiles within a 10 µs bucket and the exact max", () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i / 10); // 0.1 .. 100 ms
    const s = h.summary();
    assert.equal(s.count, 1000);
    assert.ok(Math.abs(s.p50Ms - 50) <= 0.011, `p50 ${s.p50Ms}`);
    assert.ok(Math.abs(s.p99Ms - 99) <= 0.011, `p99 ${s.p99Ms}`);
    assert.equal(s.maxMs, 100);
  });
});
