// @ts-check
/**
 * Preload (`node -r bench/startup/trace.js bin/veza-stream start …`) for bench/startup's breakdown:
 * when node's bootstrap completed, when bin/veza-stream's entry (dist/bin/cli.js or bin/cli.ts)
 * began and finished loading (a require of bin/cli.ts, or the performance marks of bin/build.js's
 * runNode for dist/bin/cli.js), and how long each package took to load, counted from the first
 * require of it from our own code (inclusive of what it requires in turn). Written as JSON to
 * VEZA_TRACE_OUT when the process exits (the node exits on SIGTERM).
 */
const fs = require("node:fs");
const Module = require("node:module");

/** @type {Array<{ id: string, startMs: number, ms: number }>} */
const requires = [];
/** @type {{ startMs: number, ms: number } | null} */
let entry = null;
const seen = new Set();
const ownCode = (/** @type {string | undefined} */ f) => !!f && !f.includes("/node_modules/");
const bare = (/** @type {string} */ id) => !id.startsWith(".") && !id.startsWith("/") && !id.startsWith("node:");
const isEntry = (/** @type {string} */ id) => /(dist\/bin\/cli\.js|\.\/cli\.ts)$/.test(id);

const original = Module.prototype.require;
/** @this {NodeJS.Module} @param {string} id */
function tracedRequire(id) {
  const counted = ownCode(this.filename) && ((bare(id) && !seen.has(id)) || isEntry(id));
  if (!counted) return original.call(this, id);
  seen.add(id);
  const startMs = performance.now();
  try {
    return original.call(this, id);
  } finally {
    const ms = performance.now() - startMs;
    if (isEntry(id)) entry = { startMs, ms };
    else requires.push({ id, startMs, ms });
  }
}
Module.prototype.require = tracedRequire;

process.on("exit", () => {
  const out = process.env.VEZA_TRACE_OUT;
  if (!out) return;
  const bootMs = performance.nodeTiming.bootstrapComplete;
  // the compiled bundle is not required but run by bin/build.js's runNode, which marks its load
  const [start] = performance.getEntriesByName("veza-stream:entry-start");
  const [loaded] = performance.getEntriesByName("veza-stream:entry-loaded");
  if (!entry && start && loaded) entry = { startMs: start.startTime, ms: loaded.startTime - start.startTime };
  fs.writeFileSync(out, JSON.stringify({ timeOrigin: performance.timeOrigin, bootMs, entry, requires }));
});
