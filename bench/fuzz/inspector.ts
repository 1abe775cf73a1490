/**
 * The node under test seen from inside, through its inspector (the DevTools protocol), for the
 * memory figures: a full GC (`HeapProfiler.collectGarbage`), V8's used heap
 * (`Runtime.getHeapUsage`), `process.memoryUsage()` and V8's heap spaces (`Runtime.evaluate`), and
 * heap snapshots. The node is started with `--inspect-port=0` in NODE_OPTIONS (a free port, so two
 * runs on one machine never share 9229); SIGUSR1 opens the inspector at the first reading (not at
 * start: nothing of it is in the node before the baseline), and the node prints its address on
 * stderr (https://nodejs.org/en/learn/getting-started/debugging). Best effort: every reading
 * resolves null when the inspector cannot be reached.
 */
import fs from "node:fs";
import type { ChildProcess } from "node:child_process";
import WebSocket from "ws";

/** NODE_OPTIONS for the node under test: its inspector, once opened, on a free port. */
export const INSPECT_OPTIONS = "--inspect-port=0";

/** What `process.memoryUsage()` and V8's statistics say inside the node, bytes. */
export interface InsideMemory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Physical size of each V8 heap space (old_space, code_space, large_object_space, …). */
  spaces: Record<string, number>;
  /** V8's code and bytecode, with their metadata (v8.getHeapCodeStatistics). */
  codeAndMetadata: number;
  bytecodeAndMetadata: number;
}

type Call = (method: string, params?: Record<string, unknown>, onEvent?: (method: string, params: Record<string, unknown>) => void) => Promise<Record<string, unknown>>;

/** The inspector of one node process. */
export class NodeInspector {
  private url: Promise<string | null> | null = null;
  private stderr = "";

  /** Watches `proc`'s stderr for the inspector's address (call right after spawning it). */
  constructor(private readonly proc: ChildProcess) {
    const onData = (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4096);
      if (/Debugger listening on ws:\/\/\S+/.test(this.stderr)) proc.stderr?.off("data", onData);
    };
    proc.stderr?.on("data", onData);
  }

  /** A full garbage collection, `times` times in a row; resolves with V8's used heap after it, bytes. */
  async collectGarbage(times = 1): Promise<number | null> {
    return this.session(async (call) => {
      for (let i = 0; i < times; i++) await call("HeapProfiler.collectGarbage");
      return Number((await call("Runtime.getHeapUsage")).usedSize);
    });
  }

  /** `process.memoryUsage()`, V8's heap spaces and code statistics, read inside the node. */
  async inside(): Promise<InsideMemory | null> {
    const expression = `JSON.stringify((() => { const v8 = require("v8"); const c = v8.getHeapCodeStatistics();
      return { ...process.memoryUsage(), spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size])),
        codeAndMetadata: c.code_and_metadata_size, bytecodeAndMetadata: c.bytecode_and_metadata_size }; })())`;
    return this.session(async (call) => {
      const r = (await call("Runtime.evaluate", { expression, includeCommandLineAPI: true, returnByValue: true })) as { result?: { value?: string } };
      return JSON.parse(r.result?.value ?? "null") as InsideMemory | null;
    });
  }

  /** Writes a heap snapshot of the node to `file` (the node stops for a second or more meanwhile). */
  async heapSnapshot(file: string): Promise<boolean> {
    const out = fs.createWriteStream(file);
    const ok = await this.session(async (call) => {
      await call("HeapProfiler.takeHeapSnapshot", { reportProgress: false }, (method, params) => {
        if (method === "HeapProfiler.addHeapSnapshotChunk") out.write(String(params.chunk));
      });
      return true;
    }, 120_000);
    await new Promise((r) => out.end(r));
    return ok === true;
  }

  /** The inspector's WebSocket address, opening the inspector (SIGUSR1) on first use. */
  private address(): Promise<string | null> {
    this.url ??= (async () => {
      try {
        process.kill(this.proc.pid!, "SIGUSR1");
      } catch {
        return null;
      }
      const until = Date.now() + 10_000;
      for (;;) {
        const m = /Debugger listening on (ws:\/\/\S+)/.exec(this.stderr);
        if (m) return m[1]!;
        if (Date.now() > until) return null;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return this.url;
  }

  /** Runs `fn` on one DevTools session; resolves null on any failure or after `timeoutMs`. */
  private async session<T>(fn: (call: Call) => Promise<T>, timeoutMs = 20_000): Promise<T | null> {
    const url = await this.address();
    if (!url) return null;
    const ws = new WebSocket(url, { maxPayload: 0 });
    const pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void; onEvent?: Parameters<Call>[2] }>();
    let nextId = 1;
    ws.on("message", (d: Buffer) => {
      const msg = JSON.parse(d.toString()) as { id?: number; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { message?: string } };
      if (msg.id === undefined) {
        for (const p of pending.values()) if (msg.method) p.onEvent?.(msg.method, msg.params ?? {});
        return;
      }
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(msg.error.message ?? "inspector error"));
      else p?.resolve(msg.result ?? {});
    });
    const call: Call = (method, params = {}, onEvent) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject, onEvent });
        ws.send(JSON.stringify({ id, method, params }));
      });
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
      const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
      const closed = new Promise<null>((resolve) => ws.once("close", () => resolve(null)));
      return await Promise.race([fn(call), timeout, closed]);
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
      ws.terminate();
    }
  }
}
