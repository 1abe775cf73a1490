/**
 * The browser client (client/pages/*, client/worklets/*, style.css) served under /assets/. Built
 * ahead of time into dist/web/ by bin/build.js (`npm install` runs it): when that build is current
 * its files are read once and served. When it is missing or stale (a client source edited since),
 * the client is built in memory with esbuild on the first request instead, as before the build
 * existed, so a page never serves old code. Either way the result is kept for the life of the
 * process. Pages are ES modules with code splitting (the WebAssembly Opus decoder is a chunk loaded
 * only where WebCodecs is missing); each worklet is one self-contained module, as
 * AudioWorklet.addModule wants. Only gateway/ imports this.
 */
import fs from "node:fs";
import path from "node:path";
import { buildWebFiles, prebuiltWebFiles, WEB_DIR } from "../../bin/build";

/** One file served under /assets/. */
export interface Asset {
  body: Buffer;
  contentType: string;
}

/** The built client: files by path under /assets/ (e.g. "player.js", "chunks/opus-decoder-XXXX.js"), and where they came from. */
export interface WebAssets {
  assets: Map<string, Asset>;
  /** "dist/web": the build of bin/build.js, current; "memory": built by this process. */
  source: "dist/web" | "memory";
}

const CONTENT_TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

const asset = (name: string, body: Uint8Array): Asset => ({
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
  contentType: CONTENT_TYPES[path.extname(name)] ?? "application/octet-stream",
});

let cached: Promise<WebAssets> | null = null;

/** The built client, from dist/web when current, else built in memory (once per process). */
export function webAssets(): Promise<WebAssets> {
  cached ??= loadAssets().catch((err: unknown) => {
    cached = null; // let a later request try again
    throw err;
  });
  return cached;
}

async function loadAssets(): Promise<WebAssets> {
  const prebuilt = prebuiltWebFiles();
  if (prebuilt) {
    const assets = new Map<string, Asset>();
    await Promise.all([...prebuilt].map(async ([name, file]) => assets.set(name, asset(name, await fs.promises.readFile(file)))));
    return { assets, source: "dist/web" };
  }
  const { files } = await buildWebFiles(WEB_DIR);
  return { assets: new Map([...files].map(([name, body]) => [name, asset(name, body)])), source: "memory" };
}
