/**
 * The good broadcaster and the good listener, in a child process of their own so that the fuzzer's
 * work (generating and sending inputs) cannot stall them: the broadcaster sends a synthetic 20 ms
 * Opus frame every 20 ms (real time) on `/ws/publish/<stream>`, the listener on
 * `/ws/listen/<stream>` records every frame's `seq` and arrival. Both send a token in
 * `Authorization: Bearer` (bench/fuzz/auth.ts: `publish` on the stream for the broadcaster, `listen`
 * for the listener, which only LISTEN_AUTH=token asks for). The parent asks for a report over IPC
 * after each batch. Run as a child by {@link startGoodPair}; stands alone as
 * `tsx bench/fuzz/good-pair.ts <ws-url> <stream>` (prints a report every second).
 */
import { fork, type ChildProcess } from "node:child_process";
import WebSocket from "ws";
import { stopChild } from "../../test/support/node-process";
import { goLive, opusFrame, rawSocket } from "../../test/support/raw-socket";
import { goodPairTokens } from "./auth";

/** What the good pair saw, from its start until the report. Times in ms. */
export interface PairReport {
  /** audio.data frames the listener received. */
  frames: number;
  /** Frames missing from the seq sequence (sum of forward jumps − 1, modulo 2^32). */
  lost: number;
  /** Frames whose seq went backwards or repeated. */
  outOfOrder: number;
  /** Longest time between two frames at the listener, ms. */
  maxGapMs: number;
  /** Gaps between two frames at the listener longer than 1000 ms. */
  gapsOver1s: number;
  /** Time since the listener's last frame, at the report, ms. */
  sinceLastFrameMs: number;
  /** Frames the broadcaster sent. */
  sent: number;
  /** Longest time between two sends of the broadcaster (its own timer's stalls), ms. */
  maxSendGapMs: number;
  /** Close codes of the broadcaster and the listener, null while open. */
  broadcasterClose: number | null;
  listenerClose: number | null;
}

async function runPair(url: string, stream: string, report: (r: PairReport) => void): Promise<() => void> {
  const r: PairReport = { frames: 0, lost: 0, outOfOrder: 0, maxGapMs: 0, gapsOver1s: 0, sinceLastFrameMs: 0, sent: 0, maxSendGapMs: 0, broadcasterClose: null, listenerClose: null };
  const tokens = await goodPairTokens(stream);
  const listener = new WebSocket(`${url}/ws/listen/${stream}`, { headers: { Authorization: `Bearer ${tokens.listen}` } });
  let lastSeq: number | null = null;
  let lastAt = 0;
  listener.on("message", (d: Buffer, isBinary) => {
    if (!isBinary || d.length < 8) return;
    const now = performance.now();
    const seq = d.readUInt32BE(4);
    if (lastSeq !== null) {
      const step = (seq - lastSeq) >>> 0;
      if (step === 0 || step > 0x80000000) r.outOfOrder++;
      else r.lost += step - 1;
      const gap = now - lastAt;
      r.maxGapMs = Math.max(r.maxGapMs, gap);
      if (gap > 1000) r.gapsOver1s++;
    }
    lastSeq = seq;
    lastAt = now;
    r.frames++;
  });
  listener.on("close", (code) => (r.listenerClose = code));
  listener.on("error", () => {});
  await new Promise((resolve, reject) => (listener.once("open", resolve), listener.once("error", reject)));

  const b = await rawSocket(url, `/ws/publish/${stream}`, undefined, tokens.publish);
  b.ws.on("close", (code) => (r.broadcasterClose = code));
  await goLive(b, { title: "good" });
  let seq = 0;
  let lastSend = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    r.maxSendGapMs = Math.max(r.maxSendGapMs, now - lastSend);
    lastSend = now;
    if (b.ws.readyState === WebSocket.OPEN) {
      b.ws.send(opusFrame(seq++));
      r.sent++;
    }
  }, 20);
  const snapshot = () => ({ ...r, sinceLastFrameMs: lastAt ? performance.now() - lastAt : 0 });
  process.on("message", () => report(snapshot()));
  const every = process.send ? null : setInterval(() => report(snapshot()), 1000);
  return () => {
    clearInterval(timer);
    if (every) clearInterval(every);
    listener.terminate();
    b.ws.terminate();
  };
}

/** Handle on the child process, for the fuzzer. */
export interface GoodPair {
  proc: ChildProcess;
  /** The child's report now. @throws when the child is gone or silent for 10 s. */
  report(): Promise<PairReport>;
  stop(): Promise<void>;
}

/** Forks this file as a child that runs the good pair against `url` on `stream`; resolves once both are connected and live. */
export async function startGoodPair(url: string, stream: string): Promise<GoodPair> {
  const proc = fork(__filename, [url, stream], { execArgv: ["--require", require.resolve("tsx/cjs")], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("good pair did not start in 15 s")), 15_000);
    proc.once("message", () => (clearTimeout(timer), resolve()));
    proc.once("exit", (code) => (clearTimeout(timer), reject(new Error(`good pair exited with ${code}`))));
  });
  return {
    proc,
    report: () =>
      new Promise<PairReport>((resolve, reject) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return reject(new Error("good pair is gone"));
        const timer = setTimeout(() => reject(new Error("good pair silent for 10 s")), 10_000);
        proc.once("message", (m) => (clearTimeout(timer), resolve(m as PairReport)));
        proc.send("report");
      }),
    stop: () => stopChild(proc, 3000),
  };
}

if (require.main === module) {
  const [url, stream] = process.argv.slice(2);
  if (!url || !stream) throw new Error("usage: good-pair.ts <ws-url> <stream>");
  runPair(url, stream, (r) => (process.send ? process.send(r) : console.log(JSON.stringify(r))))
    .then((stop) => {
      process.send?.("ready");
      process.once("SIGTERM", () => (stop(), process.exit(0)));
      process.once("disconnect", () => (stop(), process.exit(0)));
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
