// @ts-check
/**
 * Lays out what the relay image holds (deploy/relay/Dockerfile), from a built checkout: the relay's
 * bundle (dist/bin/relay.js, `node bin/build.js --node`), the libsrt and librist bindings
 * (transports/{srt,rist}/native/build/Release/*.node, `npm run build:native`), a package.json (the
 * root the bindings are found from) and the only packages the bundle loads at run time, pino and ws,
 * with their dependencies. Nothing else: no TypeScript, no node's code, no ffmpeg.
 *
 *   node deploy/relay/layout.js OUT_DIR
 *
 * test/e2e/relay-image.test.ts runs the relay from such a folder.
 */
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "../..");
const out = path.resolve(process.argv[2] || "");
if (!process.argv[2]) throw new Error("usage: node deploy/relay/layout.js OUT_DIR");

/** Packages the relay bundle requires at run time (bin/build.js keeps them external). */
const RUNTIME_PACKAGES = ["pino", "ws"];

/** What a package ships that never runs: its tests, docs, benchmarks, examples, TypeScript (type declarations, type tests), markdown. */
const UNUSED = /\/(test|tests|types|docs|benchmarks?|examples?)(\/|$)|\.m?ts$|\.md$/;

function copy(/** @type {string} */ rel) {
  const from = path.join(ROOT, rel);
  if (!fs.existsSync(from)) throw new Error(`${rel} is missing: build it first (node bin/build.js --node; npm run build:native)`);
  fs.mkdirSync(path.dirname(path.join(out, rel)), { recursive: true });
  fs.cpSync(from, path.join(out, rel), { recursive: true, filter: (src) => !UNUSED.test(path.relative(from, src).replace(/^/, "/")) });
}

/** A package and, recursively, its `dependencies`, resolved as Node would from `fromDir`. */
function copyPackage(/** @type {string} */ name, /** @type {string} */ fromDir, /** @type {Set<string>} */ seen) {
  // as Node looks a package up: node_modules/<name> in this folder and each one above it
  let dir = "";
  for (let d = fromDir; ; d = path.dirname(d)) {
    const candidate = path.join(d, "node_modules", name);
    if (fs.existsSync(path.join(candidate, "package.json"))) {
      dir = candidate;
      break;
    }
    if (path.dirname(d) === d) throw new Error(`package ${name} not found from ${fromDir}`);
  }
  const manifest = path.join(dir, "package.json");
  if (seen.has(dir)) return;
  seen.add(dir);
  copy(path.relative(ROOT, dir));
  const deps = Object.keys(JSON.parse(fs.readFileSync(manifest, "utf8")).dependencies || {});
  for (const dep of deps) copyPackage(dep, dir, seen);
}

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
copy("dist/bin/relay.js");
copy("transports/srt/native/build/Release/veza_srt.node");
copy("transports/rist/native/build/Release/veza_rist.node");
const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
fs.writeFileSync(path.join(out, "package.json"), JSON.stringify({ name: "veza-stream-relay", version, private: true }, null, 2) + "\n");
const seen = new Set();
for (const name of RUNTIME_PACKAGES) copyPackage(name, ROOT, seen);
process.stdout.write(`relay layout in ${out}: ${seen.size} packages\n`);
