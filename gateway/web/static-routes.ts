/**
 * The browser pages and their assets, registered before the catch-all 404 of http-routes.ts:
 *
 * | route | serves |
 * |---|---|
 * | GET / | streams.html: the list of streams with listener counts |
 * | GET /listen/:streamId | player.html: the live player |
 * | GET /broadcast/:streamId | broadcaster.html: microphone or file, encoded in the browser |
 * | GET /assets/* | the bundled client and style.css (gateway/web/bundle.ts: dist/web, or built in memory when stale) |
 *
 * Pages are static HTML; their scripts read the stream id from the URL. A stream id that does not
 * match STREAM_ID_PATTERN gets a 404 page.
 */
import fs from "node:fs";
import path from "node:path";
import { STREAM_ID_PATTERN } from "../../media/wire/control";
import type { Gateway } from "../gateway";
import type { HttpResponse } from "../uws";
import { ROOT } from "../../bin/build";
import { webAssets } from "./bundle";

/**
 * Same origin for everything (scripts, worklets, WebSockets, styles); 'wasm-unsafe-eval' lets the
 * WebAssembly Opus decoder compile; data: covers the empty favicon.
 */
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; style-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const PAGE_FILES = ["streams", "player", "broadcaster"] as const;
type Page = (typeof PAGE_FILES)[number];

/** The pages' HTML, read once (gateway/web/<page>.html; from the root, as this file may run bundled in dist/bin/cli.js). */
function loadPages(): Record<Page, string> {
  return Object.fromEntries(PAGE_FILES.map((name) => [name, fs.readFileSync(path.join(ROOT, "gateway/web", `${name}.html`), "utf8")])) as Record<Page, string>;
}

/**
 * Answers with security headers; `no-cache` makes browsers revalidate (assets change with the code).
 * COOP same-origin + COEP require-corp make the pages cross-origin isolated, which is what buys
 * them a 5 µs performance.now() and getOutputTimestamp() instead of 100 µs (High Resolution Time
 * §"Clock resolution"; Chromium's coarsening): the player's clock sync and audio clock read them.
 * Everything the pages load is same-origin, so nothing else needs a CORP header.
 */
function send(res: HttpResponse, status: string, contentType: string, body: string | Buffer): void {
  res.cork(() => {
    res
      .writeStatus(status)
      .writeHeader("content-type", contentType)
      .writeHeader("cache-control", "no-cache")
      .writeHeader("x-content-type-options", "nosniff")
      .writeHeader("content-security-policy", CSP)
      .writeHeader("cross-origin-opener-policy", "same-origin")
      .writeHeader("cross-origin-embedder-policy", "require-corp")
      .writeHeader("referrer-policy", "same-origin")
      .end(body);
  });
}

const NOT_FOUND_PAGE = `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Not found · veza-stream</title><link rel="stylesheet" href="/assets/style.css"><main><h1>Not found</h1><p>Stream ids are 1 to 64 characters of A-Z a-z 0-9 _ -.</p><p><a href="/">All streams</a></p></main>`;

export function registerStaticRoutes(gw: Gateway): void {
  const { app } = gw;
  const pages = loadPages();
  let told = false;
  /** The client, logged once: whether it came from dist/web or was built here (dist/web stale or missing). */
  const client = () =>
    webAssets().then((web) => {
      if (!told) {
        told = true;
        const msg = web.source === "memory" ? "web client built in memory (dist/web is missing or older than its sources)" : "web client served from dist/web";
        gw.log.debug({ source: web.source, files: web.assets.size }, msg);
      }
      return web.assets;
    });
  /** Serves a page; the first one also starts loading (or building) the client its scripts will ask for. */
  const page = (res: HttpResponse, name: Page, streamId?: string): void => {
    void client().catch(() => undefined);
    if (streamId === undefined || STREAM_ID_PATTERN.test(streamId)) send(res, "200 OK", "text/html; charset=utf-8", pages[name]);
    else send(res, "404 Not Found", "text/html; charset=utf-8", NOT_FOUND_PAGE);
  };
  app.get("/", (res) => page(res, "streams"));
  app.get("/listen/:streamId", (res, req) => page(res, "player", req.getParameter(0) ?? ""));
  app.get("/broadcast/:streamId", (res, req) => page(res, "broadcaster", req.getParameter(0) ?? ""));
  app.get("/assets/*", (res, req) => {
    const name = req.getUrl().slice("/assets/".length);
    let aborted = false;
    res.onAborted(() => (aborted = true));
    client().then(
      (assets) => {
        if (aborted) return;
        const asset = assets.get(name);
        if (asset) send(res, "200 OK", asset.contentType, asset.body);
        else send(res, "404 Not Found", "text/plain; charset=utf-8", `no asset ${name}`);
      },
      (err: unknown) => {
        gw.log.error({ err }, "building the web client failed");
        if (!aborted) send(res, "500 Internal Server Error", "text/plain; charset=utf-8", "the web client could not be built; see the node's log");
      },
    );
  });
}
