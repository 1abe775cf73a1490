/**
 * The SRT relay side by side with srt-live-transmit (srt-tools, the reference tool), in one run:
 *
 * 1. **Latency**: probe packets (1316 bytes, a sequence number and the send time inside) from a
 *    libsrt sender to a libsrt receiver in this process (one clock), at `--rate` Mbit/s and the
 *    same SRT latency everywhere: directly, through `veza-stream relay`, through srt-live-transmit.
 *    Added latency = the path's p50 − the direct path's p50. (The probe ends are our libsrt
 *    binding, which is also what ffmpeg's libsrt protocol is: ffmpeg→ffmpeg cannot timestamp
 *    packets for us.)
 * 2. **CPU per Mbit/s**: each relay's user+system CPU (/proc/<pid>/stat) over the same window,
 *    divided by the Mbit relayed.
 * 3. **Loss**: `--loss-rate` Mbit/s through a forwarder that drops `--loss` of the packets on the
 *    way into each relay: packets delivered, and the relay's own loss and drop counters; meanwhile
 *    `/health` is asked every 100 ms and its answer times kept.
 * 4. **Start-up**: from spawning `veza-stream relay` to its first `/health` 200 (asked every 2 ms),
 *    `--starts` times, and the same for a bare `node -e` HTTP server (the floor: Node's own start
 *    on this machine), alternately.
 *
 *   npm run bench:relay -- --seconds 15 --rate 10 --loss-rate 20 --loss 0.01
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { SrtListener, srtConnect, type SrtConnection } from "../../transports/srt/libsrt";
import { lossyUdp } from "../../test/support/lossy-udp";
import { freePort } from "../../test/support/node-process";
import { freeUdpPort } from "../../test/support/srt";
import { quantile } from "../stats";

const ROOT = path.resolve(__dirname, "../..");
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "15" },
    rate: { type: "string", default: "10" },
    "loss-rate": { type: "string", default: "20" },
    loss: { type: "string", default: "0.01" },
    latency: { type: "string", default: "120" },
    starts: { type: "string", default: "10" },
    json: { type: "string" },
  },
});
const SECONDS = Number(values.seconds);
const LATENCY = Number(values.latency);
const PACKET = 1316;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A receiver listening on `port`: latency of each probe packet (µs) and the sequence numbers seen. */
function receiver(port: number) {
  const l = SrtListener.listen("127.0.0.1", port, { latencyMs: LATENCY });
  const r = { latenciesUs: [] as number[], seqs: new Set<number>(), close: () => l.close() };
  l.onAccept = (conn) => {
    conn.onData = (packets) => {
      const now = performance.now() * 1000;
      for (const p of packets) {
        r.seqs.add(p.readUInt32BE(0));
        r.latenciesUs.push(now - p.readDoubleBE(4));
      }
    };
  };
  return r;
}

/** Sends probe packets to `port` at `mbps` for `seconds`; resolves with the number sent. */
async function sender(port: number, mbps: number, seconds: number): Promise<number> {
  const conn: SrtConnection = srtConnect("127.0.0.1", port, { latencyMs: LATENCY });
  await new Promise<void>((resolve, reject) => {
    conn.onConnect = resolve;
    conn.onClose = (reason) => reject(new Error(`sender: ${reason}`));
  });
  await sleep(300); // the relay's output connects
  const perMs = (mbps * 1e6) / 8 / PACKET / 1000;
  const start = performance.now();
  let sent = 0;
  const packet = Buffer.alloc(PACKET, 0x47);
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor((performance.now() - start) * perMs);
    for (; sent < due; sent++) {
      packet.writeUInt32BE(sent, 0);
      packet.writeDoubleBE(performance.now() * 1000, 4);
      conn.send(packet);
    }
    await sleep(1);
  }
  await sleep(LATENCY * 3 + 500);
  conn.close();
  return sent;
}

/** User + system CPU of `pid` so far, s. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface PathResult {
  path: string;
  sent: number;
  delivered: number;
  latencyMs: { p50: number; p99: number };
  cpuS?: number;
  cpuSPerMbit?: number;
}

/** Spawn to first /health 200, ms, `n` times each: the relay and a bare Node HTTP server, alternately. */
async function startups(n: number): Promise<{ relay: number[]; bareNode: number[] }> {
  const times = { relay: [] as number[], bareNode: [] as number[] };
  for (let i = 0; i < 2 * n; i++) {
    const http = await freePort();
    const relay = i % 2 === 0;
    const args = relay
      ? [path.join(ROOT, "bin/veza-stream"), "relay", `srt://:${await freeUdpPort()}`, `srt://:${await freeUdpPort()}`, "--http-addr", `127.0.0.1:${http}`]
      : ["-e", `require("node:http").createServer((q, r) => r.end("ok")).listen(${http}, "127.0.0.1")`];
    const t0 = performance.now();
    const proc = spawn(process.execPath, args, { stdio: "ignore" });
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${http}/health`).then((r) => r.status === 200, () => false);
      if (ok) break;
      await sleep(2);
    }
    (relay ? times.relay : times.bareNode).push(performance.now() - t0);
    proc.kill("SIGTERM");
    await new Promise((r) => proc.on("exit", r));
  }
  times.relay.sort((a, b) => a - b);
  times.bareNode.sort((a, b) => a - b);
  return times;
}

async function relayProcess(kind: "veza" | "srt-live-transmit", inPort: number, outPort: number): Promise<{ proc: ChildProcess; metrics?: string }> {
  if (kind === "veza") {
    const http = await freePort();
    const proc = spawn(process.execPath, [path.join(ROOT, "bin/veza-stream"), "relay", `srt://:${inPort}?latency=${LATENCY}`, `srt://127.0.0.1:${outPort}?latency=${LATENCY}`, "--http-addr", `127.0.0.1:${http}`], { stdio: "ignore", env: { ...process.env, LOG_LEVEL: "warn" } });
    for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${http}/health`).catch(() => null)); i++) await sleep(50);
    return { proc, metrics: `http://127.0.0.1:${http}/metrics` };
  }
  const proc = spawn("srt-live-transmit", ["-q", `srt://:${inPort}?latency=${LATENCY}`, `srt://127.0.0.1:${outPort}?latency=${LATENCY}`], { stdio: "ignore" });
  await sleep(300);
  return { proc };
}

async function measure(name: string, through: "direct" | "veza" | "srt-live-transmit", mbps: number, loss = 0): Promise<PathResult & { relayLost?: number; relayDropped?: number }> {
  const outPort = await freeUdpPort();
  const recv = receiver(outPort);
  let proc: ChildProcess | null = null;
  let metricsUrl: string | undefined;
  let target = outPort;
  if (through !== "direct") {
    const inPort = await freeUdpPort();
    const r = await relayProcess(through, inPort, outPort);
    proc = r.proc;
    metricsUrl = r.metrics;
    target = inPort;
  }
  const lossy = loss > 0 ? await lossyUdp(target, { loss, jitterMs: 0 }) : null;
  const cpu0 = proc ? cpuSeconds(proc.pid!) : 0;
  const healthMs: number[] = [];
  const healthTimer = metricsUrl
    ? setInterval(() => {
        const t = performance.now();
        void fetch(metricsUrl!.replace("/metrics", "/health")).then((r) => r.status === 200 && healthMs.push(performance.now() - t), () => undefined);
      }, 100)
    : null;
  const sent = await sender(lossy?.port ?? target, mbps, SECONDS);
  if (healthTimer) clearInterval(healthTimer);
  const cpuS = proc ? cpuSeconds(proc.pid!) - cpu0 : undefined;
  let relayLost: number | undefined;
  let relayDropped: number | undefined;
  if (metricsUrl) {
    const text = await (await fetch(metricsUrl)).text();
    const value = (n: string) => Number(text.split("\n").find((l) => l.startsWith(`${n}{direction="in"`))?.split(" ").pop() ?? NaN);
    relayLost = value("relay_packets_lost_total");
    relayDropped = value("relay_packets_dropped_total");
  }
  proc?.kill("SIGTERM");
  lossy?.close();
  recv.close();
  const lat = recv.latenciesUs.sort((a, b) => a - b);
  const mbit = (recv.seqs.size * PACKET * 8) / 1e6;
  const result = {
    path: name, sent, delivered: recv.seqs.size, latencyMs: { p50: quantile(lat, 0.5) / 1000, p99: quantile(lat, 0.99) / 1000 },
    ...(cpuS !== undefined ? { cpuS, cpuSPerMbit: cpuS / mbit } : {}), ...(relayLost !== undefined ? { relayLost, relayDropped } : {}),
    ...(healthMs.length ? { healthMs: { answers: healthMs.length, p50: quantile(healthMs.sort((a, b) => a - b), 0.5), max: healthMs[healthMs.length - 1]! } } : {}),
  };
  console.log(JSON.stringify(result));
  await sleep(500);
  return result;
}

async function main(): Promise<void> {
  const rate = Number(values.rate);
  const lossRate = Number(values["loss-rate"]);
  const loss = Number(values.loss);
  const direct = await measure(`direct ${rate} Mbit/s`, "direct", rate);
  const veza = await measure(`veza-stream relay ${rate} Mbit/s`, "veza", rate);
  const slt = await measure(`srt-live-transmit ${rate} Mbit/s`, "srt-live-transmit", rate);
  const vezaLoss = await measure(`veza-stream relay ${lossRate} Mbit/s, ${loss * 100} % loss`, "veza", lossRate, loss);
  const sltLoss = await measure(`srt-live-transmit ${lossRate} Mbit/s, ${loss * 100} % loss`, "srt-live-transmit", lossRate, loss);
  const starts = await startups(Number(values.starts));
  console.log(JSON.stringify({ startupMs: { relay: starts.relay.map(Math.round), bareNode: starts.bareNode.map(Math.round) } }));
  const summary = {
    addedLatencyMs: { veza: veza.latencyMs.p50 - direct.latencyMs.p50, srtLiveTransmit: slt.latencyMs.p50 - direct.latencyMs.p50 },
    cpuPerMbitRatio: (veza.cpuSPerMbit ?? NaN) / (slt.cpuSPerMbit ?? NaN),
    lossDelivered: { veza: vezaLoss.delivered / vezaLoss.sent, srtLiveTransmit: sltLoss.delivered / sltLoss.sent },
    startupMs: {
      relay: { p50: quantile(starts.relay, 0.5), max: starts.relay[starts.relay.length - 1] },
      bareNode: { p50: quantile(starts.bareNode, 0.5), max: starts.bareNode[starts.bareNode.length - 1] },
    },
  };
  console.log(JSON.stringify(summary));
  const out = { date: new Date().toISOString(), seconds: SECONDS, latencyMs: LATENCY, results: [direct, veza, slt, vezaLoss, sltLoss], summary };
  const file = values.json ?? path.join(__dirname, `results-${out.date.slice(0, 10)}.json`);
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
  console.log(`results: ${path.relative(ROOT, file)}`);
  process.exit(0);
}

void main();
