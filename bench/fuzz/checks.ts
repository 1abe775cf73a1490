/**
 * The checks after each fuzz batch: the node process is alive, `GET /health` answers 200, the good
 * listener lost no frame and kept receiving, and the node's resident memory (VmRSS) stays under
 * its bound.
 */
import fs from "node:fs";
import http from "node:http";
import WebSocket from "ws";
import { poolToken } from "./auth";
import type { PairReport } from "./good-pair";

/** VmRSS of `pid` from /proc/<pid>/status, bytes; null when the process is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Status code of `GET http://127.0.0.1:<port>/health` (from 127.0.0.1), or 0 on error or after `timeoutMs`. */
export function healthStatus(port: number, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/health", agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", () => resolve(0));
    });
    req.on("timeout", () => (req.destroy(), resolve(0)));
    req.on("error", () => resolve(0));
  });
}

/** Limits the checks hold the node to. */
export interface CheckLimits {
  /** Largest time between two frames at the good listener, ms (also: since its last frame). */
  maxGapMs: number;
  /** Largest VmRSS of the node, bytes. */
  maxRssBytes: number;
}

/** One batch's check: what failed (empty when all passed), and the figures read. */
export interface CheckResult {
  failures: string[];
  rss: number | null;
  health: number;
  pair: PairReport | null;
}

/**
 * Runs every check. `previous` is the good pair's report after the previous batch: frames lost
 * and gaps are failures only when they grew during this batch.
 */
export async function checkNode(pid: number, alive: boolean, port: number, pair: () => Promise<PairReport>, previous: PairReport | null, limits: CheckLimits): Promise<CheckResult> {
  const failures: string[] = [];
  if (!alive) failures.push("node process exited");
  const health = alive ? await healthStatus(port) : 0;
  if (alive && health !== 200) failures.push(`GET /health answered ${health || "nothing"}`);
  const rss = rssBytes(pid);
  if (rss !== null && rss > limits.maxRssBytes) failures.push(`node RSS ${(rss / 2 ** 20).toFixed(0)} MiB over ${(limits.maxRssBytes / 2 ** 20).toFixed(0)} MiB`);
  let report: PairReport | null = null;
  try {
    report = await pair();
  } catch (err) {
    failures.push(`good pair: ${(err as Error).message}`);
  }
  if (report) {
    const before = previous ?? { lost: 0, outOfOrder: 0, gapsOver1s: 0, frames: 0 };
    if (report.lost > before.lost) failures.push(`good listener lost ${report.lost - before.lost} frame(s)`);
    if (report.outOfOrder > before.outOfOrder) failures.push(`good listener got ${report.outOfOrder - before.outOfOrder} frame(s) out of order`);
    if (report.maxGapMs > limits.maxGapMs && report.gapsOver1s > before.gapsOver1s) failures.push(`good listener waited ${report.maxGapMs.toFixed(0)} ms between two frames`);
    if (report.sinceLastFrameMs > limits.maxGapMs) failures.push(`good listener has had no frame for ${report.sinceLastFrameMs.toFixed(0)} ms`);
    if (report.listenerClose !== null) failures.push(`good listener closed (${report.listenerClose})`);
    if (report.broadcasterClose !== null) failures.push(`good broadcaster closed (${report.broadcasterClose})`);
  }
  return { failures, rss, health, pair: report };
}

/**
 * Whether stream `streamId` refuses a new broadcaster with BROADCASTER_EXISTS although no client
 * holds it: tries `stream.start` (opus) up to `attempts` times, `spacingMs` apart. A start that
 * succeeds is ended with `stream.stop` (so the probe leaves no broadcaster behind) and means the
 * earlier refusal was a race. Resolves true when every attempt was refused with BROADCASTER_EXISTS.
 */
export async function isStuck(port: number, streamId: string, attempts = 3, spacingMs = 1000): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, spacingMs));
    const answer = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/publish/${streamId}`, { headers: { Authorization: `Bearer ${poolToken("probe")}` } });
      const timer = setTimeout(() => (ws.terminate(), resolve("timeout")), 5000);
      ws.on("error", () => {});
      ws.on("open", () => ws.send(JSON.stringify({ type: "stream.start", format: "opus", title: "probe" })));
      ws.on("message", (d: Buffer, isBinary) => {
        if (isBinary) return;
        const text = d.toString();
        if (text.includes('"stream.started"')) ws.send(JSON.stringify({ type: "stream.stop" }));
        else if (!text.includes('"error"')) return;
        clearTimeout(timer);
        resolve(text.includes("BROADCASTER_EXISTS") ? "exists" : "other");
        setTimeout(() => ws.terminate(), 200);
      });
      ws.on("close", () => (clearTimeout(timer), resolve("closed")));
    });
    if (answer !== "exists") return false;
  }
  return true;
}
