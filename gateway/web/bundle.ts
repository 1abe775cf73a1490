/**
 * Builds the browser client (client/pages/*, client/worklets/*) with esbuild's JS API, in memory,
 * the first time a page or asset is asked for; the result is kept for the life of the process, so
 * `npm start` needs no build step. Pages are ES modules with code splitting (the WebAssembly Opus
 * decoder is a chunk loaded only where WebCodecs is missing); each worklet is one self-contained
 * module, as AudioWorklet.addModule wants. Only gateway/ imports this.
 */
import fs from "node:fs";
import path from "node:path";

/** One file served under /assets/. */
export interface Asset {
  body: Buffer;
  contentType: string;
}

const ROOT = path.resolve(__dirname, "../..");
/** Output directory esbuild names files against (nothing is written there). */
const OUT_DIR = path.join(ROOT, ".web-build");

const PAGES = { player: "client/pages/player.ts", broadcaster: "client/pages/broadcaster.ts", streams: "client/pages/streams.ts" };
const WORKLETS = { "player-processor": "client/worklets/player-processor.ts", "capture-processor": "client/worklets/capture-processor.ts" };
/** Files copied as they are. */
const STATIC = { "style.css": "gateway/web/style.css" };

const CONTENT_TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

let cached: Promise<Map<string, Asset>> | null = null;

/** The built assets by path under /assets/ (e.g. "player.js", "chunks/opus-decoder-XXXX.js"). */
export function webAssets(): Promise<Map<string, Asset>> {
  cached ??= buildAssets().catch((err: unknown) => {
    cached = null; // let a later request try again
    throw err;
  });
  return cached;
}

async function buildAssets(): Promise<Map<string, Asset>> {
  const esbuild = await import("esbuild");
  const common = {
    absWorkingDir: ROOT,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: "linked",
    write: false,
    outdir: OUT_DIR,
    logLevel: "silent",
  } as const;
  const entry = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, path.join(ROOT, v)]));
  const [pages, worklets] = await Promise.all([
    esbuild.build({ ...common, entryPoints: entry(PAGES), splitting: true, chunkNames: "chunks/[name]-[hash]" }),
    esbuild.build({ ...common, entryPoints: entry(WORKLETS) }),
  ]);
  const assets = new Map<string, Asset>();
  for (const file of [...(pages.outputFiles ?? []), ...(worklets.outputFiles ?? [])]) {
    const name = path.relative(OUT_DIR, file.path).split(path.sep).join("/");
    assets.set(name, { body: Buffer.from(file.contents), contentType: CONTENT_TYPES[path.extname(name)] ?? "application/octet-stream" });
  }
  for (const [name, file] of Object.entries(STATIC)) {
    assets.set(name, { body: fs.readFileSync(path.join(ROOT, file)), contentType: CONTENT_TYPES[path.extname(name)] ?? "application/octet-stream" });
  }
  return assets;
}
