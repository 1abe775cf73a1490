/**
 * WebSocket upgrades after an asynchronous admission (a cluster node: rate limits and listener
 * slots in Redis): a listener let in stays open. uWebSockets.js 20.30's res.cork() could shut an
 * upgraded socket down right after its open handler (uNetworking/uWebSockets#1929; see
 * upgradeAfterAdmission in gateway/uws.ts): 2 listeners in 1 800 got hello, then 1006. The
 * fault depends on the allocator keeping the socket's address, so this test connects many.
 */
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startBroadcast } from "../support/broadcast";
import { startCluster } from "../support/cluster";
import { sleep } from "../support/node-process";

/** Listeners connected one after another; each watched this long after its open (ms). */
const LISTENERS = 1000;
const WATCH_MS = 30;

describe("WebSocket upgrade after an asynchronous admission", function () {
  this.timeout(180_000);

  it(`${LISTENERS} listeners admitted through Redis one after another: none is cut after its hello`, async () => {
    const cluster = await startCluster([{ name: "ua", services: "gateway,stream,encoder" }]);
    try {
      const node = cluster.nodes.ua!;
      const broadcast = await startBroadcast(node.url, "upgrades", "awakening.ogg", "opus", { loop: true });
      try {
        await sleep(500);
        const cut: string[] = [];
        for (let i = 0; i < LISTENERS; i++) {
          const ws = new WebSocket(`${node.url}/ws/listen/upgrades`);
          const texts: string[] = [];
          ws.on("message", (m, binary) => binary || texts.push(JSON.parse(String(m)).type));
          const code = await new Promise<number | "open">((resolve, reject) => {
            ws.once("close", (c) => resolve(c));
            ws.once("error", reject);
            ws.once("open", () => setTimeout(() => resolve("open"), WATCH_MS));
          });
          if (code !== "open") cut.push(`listener ${i}: closed ${code} after ${texts.join(", ") || "nothing"}`);
          ws.terminate();
        }
        console.log(`      ${LISTENERS - cut.length} of ${LISTENERS} listeners stayed open`);
        assert.deepEqual(cut, []);
      } finally {
        await broadcast.stop();
      }
    } finally {
      await cluster.stop();
    }
  });
});
