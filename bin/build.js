// @ts-check
/**
 * The build: our TypeScript compiled to JavaScript ahead of time, so that a node starts without
 * compiling anything (issue 16, docs/benchmarks.md "Start-up"). esbuild, no type check (`npm test`
 * type-checks with tsc):
 *
 * - **node**: bin/cli.ts and everything it imports from this repository, bundled into one file,
 *   dist/bin/cli.js (+ .map). Packages stay external (`packages: "external"`) and load from
 *   node_modules at run time as before: Moleculer requires its optional modules by name.
 * - **web**: the browser client (client/pages/*, client/worklets/*, style.css), minified, into
 *   dist/web/, which the gateway serves as files (gateway/web/bundle.ts).
 *
 * Each writes a stamp last (dist/bin/stamp.json, dist/web/manifest.json): every source file the build
 * read (esbuild's metafile inputs) with its mtime, size and SHA-1. {@link isCurrent} compares the
 * files with it: a stat each (about 80 files, well under a millisecond), and a hash only of a file whose mtime
 * changed (a `touch` or a checkout of the same content is not a change). Edits to files the build did
 * not read cannot change its output, and a new file only matters once an existing one imports it.
 *
 * Plain JavaScript (checked by tsc through its JSDoc: tsconfig.scripts.json; types for TypeScript in build.d.ts) because bin/veza-stream runs it before
 * anything can compile TypeScript. Run as a script (`npm run build`, and `prepare`, so `npm install`
 * and `npm ci` build) it builds both; `--node` or `--web` builds one.
 */
const fs = require("node:fs");
const path = require("node:path");

/**
 * The repository's root: the nearest folder up with package.json. This file runs from bin/ and is
 * also bundled into dist/bin/cli.js (through gateway/web/bundle.ts), so `__dirname` differs.
 */
const ROOT = (() => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(__dirname, "..");
  }
})();

const DIST = path.join(ROOT, "dist");
/** The compiled command line; bin/veza-stream runs it when {@link NODE_STAMP} is current. */
const NODE_ENTRY = path.join(DIST, "bin/cli.js");
/** The relay's own bundle (`veza-stream relay`: bin/relay.ts), built with the command line and under its stamp. */
const RELAY_ENTRY = path.join(DIST, "bin/relay.js");
const NODE_STAMP = path.join(DIST, "bin/stamp.json");
const WEB_DIR = path.join(DIST, "web");
const WEB_MANIFEST = path.join(WEB_DIR, "manifest.json");

/** Stamp format; a stamp of another version is stale. */
const STAMP_VERSION = 1;

/** Browser entry points: pages (ES modules, code splitting) and worklets (one self-contained module each). */
const PAGES = { player: "client/pages/player.ts", broadcaster: "client/pages/broadcaster.ts", streams: "client/pages/streams.ts" };
const WORKLETS = { "player-processor": "client/worklets/player-processor.ts", "capture-processor": "client/worklets/capture-processor.ts" };
/** Files served as they are, by name under /assets/. */
const WEB_STATIC = { "style.css": "gateway/web/style.css" };

/**
 * @typedef {Record<string, [mtimeMs: number, size: number, sha1: string]>} Inputs
 * @typedef {{ version: number, inputs: Inputs, files?: string[] }} Stamp
 * @typedef {{ path: string, contents: Uint8Array }} OutputFile
 */

// node:crypto only when a hash is needed: not on a start whose sources are unchanged
const sha1 = (/** @type {Uint8Array} */ bytes) => require("node:crypto").createHash("sha1").update(bytes).digest("base64url");

/** The stamp of the files a build read (paths relative to the root, as esbuild's metafile gives them). */
function stampInputs(/** @type {string[]} */ files) {
  /** @type {Inputs} */
  const inputs = {};
  for (const rel of files) {
    const file = path.join(ROOT, rel);
    const st = fs.statSync(file);
    inputs[rel] = [st.mtimeMs, st.size, sha1(fs.readFileSync(file))];
  }
  return inputs;
}

/** The stamp at `stampFile`, or null when missing or unreadable. */
function readStamp(/** @type {string} */ stampFile) {
  try {
    const stamp = /** @type {Stamp} */ (JSON.parse(fs.readFileSync(stampFile, "utf8")));
    return stamp.version === STAMP_VERSION && stamp.inputs ? stamp : null;
  } catch {
    return null;
  }
}

/**
 * Whether the build that wrote `stampFile` is current: every source file it read is unchanged (same
 * size, and same mtime or else same SHA-1). False when the stamp is missing.
 */
function isCurrent(/** @type {string} */ stampFile) {
  const stamp = readStamp(stampFile);
  if (!stamp) return false;
  for (const [rel, [mtimeMs, size, hash]] of Object.entries(stamp.inputs)) {
    const file = path.join(ROOT, rel);
    let st;
    try {
      st = fs.statSync(file);
    } catch {
      return false; // deleted
    }
    if (st.size !== size) return false;
    if (st.mtimeMs !== mtimeMs && sha1(fs.readFileSync(file)) !== hash) return false;
  }
  return true;
}

/** Writes `contents` to `file` through a temporary file and a rename: a reader never sees half a file. */
function writeAtomic(/** @type {string} */ file, /** @type {string | Uint8Array} */ contents) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, contents);
  fs.renameSync(tmp, file);
}

/**
 * Packages a node does not need before it serves (GET /health answers): Redis and NATS clients
 * (only with REDIS_URL / NATS_URL), jose (until the first token), and the command line's and
 * ffmpeg's (ws, fluent-ffmpeg, prism-media, limiter: at the first client, stream or encoder).
 * Statically imported, they cost a third of the start (docs/benchmarks.md, "Start-up"); in the
 * bundle each `require("<name>")` becomes {@link lazyPackage}, which loads the package at its first
 * use. Only named imports and default imports that are called or constructed are supported, which
 * is how our code uses these; a package listed here but no longer required fails the build.
 */
const LAZY_PACKAGES = ["ioredis", "nats", "jose", "ws", "fluent-ffmpeg", "prism-media", "limiter"];

/**
 * Stands for `require(id)` in the bundle: a function object that requires the package when first
 * touched. Reading an export (`import_nats.connect`, `import_jose.errors`) reads the package's; calling
 * or constructing it (a default import through esbuild's __toESM, which wraps this object as
 * `default`: `new Redis(url)`, `ffmpeg(opts)`) calls or constructs what a default import of the
 * package would be. `__esModule` answers undefined without loading, so __toESM loads nothing.
 * Serialised into the bundle's banner (`.toString()`): it refers to nothing but `require`.
 * @param {string} id
 */
function lazyPackage(id) {
  /** @type {any} */
  let real;
  const load = () => (real ??= require(id));
  const defaultExport = () => (load().__esModule && "default" in real ? real.default : real);
  return new Proxy(function lazy() {}, {
    get: (_, key) => (key === "__esModule" ? undefined : load()[key]),
    has: (_, key) => key in load(),
    apply: (_, self, args) => Reflect.apply(defaultExport(), self, args),
    construct: (_, args) => Reflect.construct(defaultExport(), args),
  });
}

/** Rewrites the bundle's top-level `require("<name>")` of {@link LAZY_PACKAGES} into `lazyPackage("<name>")`. */
function makeLazy(/** @type {string} */ code) {
  for (const name of LAZY_PACKAGES) {
    const call = `require(${JSON.stringify(name)})`;
    if (!code.includes(call)) throw new Error(`bin/build.js: LAZY_PACKAGES lists ${name}, which the bundle no longer requires`);
    code = code.replaceAll(call, `lazyPackage(${JSON.stringify(name)})`);
  }
  return code;
}

/**
 * Packages bundled into dist/bin/cli.js, with what they require in turn: the ones a node loads
 * before it serves, pure JavaScript. Loaded from node_modules they cost most of the start (Moleculer
 * alone ~80 ms of resolving and compiling about 150 files); bundled, and with the bundle's V8 code
 * cache ({@link runNode}), a fraction of that (docs/benchmarks.md, "Start-up").
 */
const BUNDLED_PACKAGES = new Set(["moleculer", "zod", "prom-client", "commander", "rate-limiter-flexible"]);

/**
 * Never bundled, even when a bundled package requires them: loaded at first use
 * ({@link LAZY_PACKAGES}), native (uWS), finding files beside their own code at run time (pino
 * starts its transports' worker threads from their files; the ffmpeg and ffprobe installers find
 * their binaries through `__dirname`), or large and needed only on demand (moleculer-repl, esbuild, tsx).
 */
const EXTERNAL_PACKAGES = new Set([...LAZY_PACKAGES, "pino", "pino-pretty", "thread-stream", "moleculer-repl", "esbuild", "tsx", "@trufflesuite/uws-js-unofficial", "@ffmpeg-installer/ffmpeg", "@ffprobe-installer/ffprobe"]);

/** "moleculer" of "moleculer/src/x", "@aws-sdk/client-s3" of "@aws-sdk/client-s3/dist". */
const packageName = (/** @type {string} */ id) => id.split("/").slice(0, id.startsWith("@") ? 2 : 1).join("/");

/**
 * esbuild plugin: which bare imports are bundled. From our sources, the {@link BUNDLED_PACKAGES};
 * from inside node_modules (a bundled package's own dependencies), whatever resolves, except the
 * {@link EXTERNAL_PACKAGES}. The rest stays `require("<name>")`, loaded from node_modules at run
 * time; so do a package's optional imports that are not installed (Moleculer's Kafka, AMQP, … transporters).
 * @type {import("esbuild").Plugin}
 */
const packagesPlugin = {
  name: "veza-packages",
  setup(build) {
    const { isBuiltin } = require("node:module");
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (isBuiltin(args.path)) return undefined;
      const name = packageName(args.path);
      const external = { path: args.path, external: true };
      if (EXTERNAL_PACKAGES.has(name)) return external;
      if (!args.importer.split(path.sep).includes("node_modules")) return BUNDLED_PACKAGES.has(name) ? undefined : external;
      try {
        require.resolve(args.path, { paths: [args.resolveDir] });
        return undefined;
      } catch {
        return external;
      }
    });
  },
};

/**
 * The package.json of every package the bundle took code from: a stamp input, so that `npm install`
 * of another version makes the bundle stale (a stat each; the version changes the file).
 */
const bundledPackageFiles = (/** @type {import("esbuild").Metafile} */ meta) => {
  const files = new Set();
  for (const input of Object.keys(meta.inputs)) {
    const parts = input.split("/");
    const i = parts.lastIndexOf("node_modules");
    if (i < 0) continue;
    const root = parts.slice(0, i + (parts[i + 1]?.startsWith("@") ? 3 : 2)).join("/");
    if (fs.existsSync(path.join(ROOT, root, "package.json"))) files.add(`${root}/package.json`);
  }
  return [...files];
};

/** The metafile's inputs that are files of this repository (not esbuild's virtual ones). */
const sourceInputs = (/** @type {import("esbuild").Metafile} */ meta) => Object.keys(meta.inputs).filter((f) => !f.includes(":") && !f.split("/").includes("node_modules"));

/**
 * Builds the command line into dist/bin/cli.js and the relay into dist/bin/relay.js, then their stamp. Several processes may run this at
 * once (tests start nodes in parallel after an edit): the output is the same, each file is replaced
 * whole, and the stamp comes last.
 */
async function buildNode() {
  const esbuild = require("esbuild");
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { cli: "bin/cli.ts", relay: "bin/relay.ts" },
    outdir: path.dirname(NODE_ENTRY),
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    plugins: [packagesPlugin],
    // class and function names as in the sources (logs, errors' constructor names)
    keepNames: true,
    sourcemap: "linked",
    sourcesContent: false,
    // "use strict" first: the banner comes before esbuild's own directive, which would then not count
    banner: { js: `"use strict";\nconst lazyPackage = ${lazyPackage.toString()};` },
    metafile: true,
    write: false,
    logLevel: "warning",
  });
  let bundle = "";
  for (const file of result.outputFiles) {
    if (file.path === NODE_ENTRY) bundle = makeLazy(file.text);
    writeAtomic(file.path, file.path === NODE_ENTRY ? bundle : file.contents);
  }
  const inputs = stampInputs([...sourceInputs(result.metafile), ...bundledPackageFiles(result.metafile)]);
  writeAtomic(NODE_STAMP, JSON.stringify({ version: STAMP_VERSION, inputs }));
}

/** How long a node runs before it writes the bundle's code cache (when it had none), ms: long enough to have compiled its start. */
const CODE_CACHE_AFTER_MS = 3000;

/**
 * Runs dist/bin/cli.js as the main module, with V8's code cache of it: the functions compiled by an
 * earlier run, deserialised instead of parsed and compiled again (V8's "code caching after
 * execution", https://v8.dev/blog/improved-code-caching; Node's own `module.enableCompileCache`
 * needs Node 22). The cache file, dist/bin/cli.<mtime µs>-<size>.v8cache, belongs to one bundle
 * file: the key comes from an fstat of the descriptor the source is read from, and a build writes a
 * new file through a rename (a new mtime). V8 itself refuses a cache made by another V8 version or
 * with other flags (`cachedDataRejected`), and then the source is compiled as usual.
 *
 * Without a usable cache, the cache is written after {@link CODE_CACHE_AFTER_MS} of running or at
 * exit, whichever comes first (a `--help` writes one too: the image build does that), replacing
 * those of other bundles; when dist/bin is not writable it is not written, and nothing else changes.
 * VEZA_CODE_CACHE=off neither reads nor writes it (bench/startup compares); VEZA_STARTUP_DEBUG=1
 * says on stderr whether it was used ("veza-stream code cache: used", "none", "rejected by V8", "off"). Performance marks
 * `veza-stream:entry-start` and `veza-stream:entry-loaded` bracket the load (bench/startup/trace.js).
 */
function runNode(entry = NODE_ENTRY) {
  performance.mark("veza-stream:entry-start");
  const Module = require("node:module");
  const vm = require("node:vm");
  const fd = fs.openSync(entry, "r");
  const st = fs.fstatSync(fd);
  const source = fs.readFileSync(fd, "utf8");
  fs.closeSync(fd);
  // the file's mtime (µs) and size name its cache: a build writes a new file, and an image's COPY
  // keeps both (an inode would not survive it)
  const prefix = `${path.basename(entry, ".js")}.`;
  const cacheName = `${prefix}${Math.round(st.mtimeMs * 1000)}-${st.size}.v8cache`;
  const cacheFile = path.join(path.dirname(entry), cacheName);
  const useCache = process.env.VEZA_CODE_CACHE !== "off";
  /** @type {Buffer | undefined} */
  let cachedData;
  try {
    cachedData = useCache ? fs.readFileSync(cacheFile) : undefined;
  } catch {
    cachedData = undefined;
  }
  // (the constant exists from Node 20.12; the bundle makes no dynamic import anyway)
  const script = new vm.Script(Module.wrap(source), { filename: entry, cachedData, importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER });
  if (process.env.VEZA_STARTUP_DEBUG === "1") {
    const state = !useCache ? "off (VEZA_CODE_CACHE=off)" : !cachedData ? "none" : script.cachedDataRejected ? "rejected by V8" : "used";
    process.stderr.write(`veza-stream code cache: ${state}\n`);
  }
  if (useCache && (!cachedData || script.cachedDataRejected)) {
    let written = false;
    const write = () => {
      if (written) return;
      written = true;
      try {
        writeAtomic(cacheFile, script.createCachedData());
        for (const f of fs.readdirSync(path.dirname(cacheFile))) if (f.startsWith(prefix) && f.endsWith(".v8cache") && f !== cacheName) fs.rmSync(path.join(path.dirname(cacheFile), f), { force: true });
      } catch {
        // dist/bin not writable (an installed image): run without a cache
      }
    };
    setTimeout(write, CODE_CACHE_AFTER_MS).unref();
    process.once("exit", write);
  }
  const mod = new Module(entry);
  mod.filename = entry;
  mod.paths = /** @type {any} */ (Module)._nodeModulePaths(path.dirname(entry));
  const cache = /** @type {any} */ (Module)._cache;
  cache[entry] = mod;
  const requireFromBundle = Module.createRequire(entry);
  script.runInThisContext().call(mod.exports, mod.exports, requireFromBundle, mod, entry, path.dirname(entry));
  mod.loaded = true;
  performance.mark("veza-stream:entry-loaded");
}

/** esbuild's options for the browser client (gateway/web/bundle.ts builds with them in memory when dist/web is stale). */
function webBuildOptions(/** @type {string} */ outdir) {
  const entry = (/** @type {Record<string, string>} */ m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, path.join(ROOT, v)]));
  /** @type {import("esbuild").BuildOptions} */
  const common = { absWorkingDir: ROOT, bundle: true, format: "esm", platform: "browser", target: "es2022", minify: true, sourcemap: "linked", write: false, outdir, metafile: true, logLevel: "silent" };
  return {
    pages: { ...common, entryPoints: entry(PAGES), splitting: true, chunkNames: "chunks/[name]-[hash]" },
    worklets: { ...common, entryPoints: entry(WORKLETS) },
  };
}

/**
 * Builds the browser client in memory: each file by its name under /assets/ (e.g. "player.js",
 * "chunks/opus-decoder-XXXX.js", "style.css"), and the source files read.
 * @param {string} outdir the folder esbuild names files against
 * @returns {Promise<{ files: Map<string, Uint8Array>, inputs: string[] }>}
 */
async function buildWebFiles(outdir) {
  const esbuild = require("esbuild");
  const options = webBuildOptions(outdir);
  const results = await Promise.all([esbuild.build(options.pages), esbuild.build(options.worklets)]);
  const files = new Map();
  const inputs = new Set();
  for (const r of results) {
    for (const f of r.outputFiles ?? []) files.set(path.relative(outdir, f.path).split(path.sep).join("/"), f.contents);
    if (r.metafile) for (const i of sourceInputs(r.metafile)) inputs.add(i);
  }
  for (const [name, file] of Object.entries(WEB_STATIC)) {
    files.set(name, fs.readFileSync(path.join(ROOT, file)));
    inputs.add(file);
  }
  return { files, inputs: [...inputs].sort() };
}

/**
 * Builds the browser client into dist/web/ with its manifest (the stamp and the file list): written
 * in a fresh folder that then replaces dist/web whole, so no chunk of an older build lingers.
 */
async function buildWeb() {
  const tmp = `${WEB_DIR}.${process.pid}.tmp`;
  const { files, inputs } = await buildWebFiles(WEB_DIR);
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const [name, contents] of files) {
    fs.mkdirSync(path.dirname(path.join(tmp, name)), { recursive: true });
    fs.writeFileSync(path.join(tmp, name), contents);
  }
  /** @type {Stamp} */
  const manifest = { version: STAMP_VERSION, inputs: stampInputs(inputs), files: [...files.keys()].sort() };
  fs.writeFileSync(path.join(tmp, "manifest.json"), JSON.stringify(manifest));
  fs.rmSync(WEB_DIR, { recursive: true, force: true });
  fs.renameSync(tmp, WEB_DIR);
}

/**
 * The prebuilt browser client when dist/web is current: file names under /assets/ and their paths;
 * null when it is missing or stale (then the gateway builds in memory).
 * @returns {Map<string, string> | null}
 */
function prebuiltWebFiles() {
  if (!isCurrent(WEB_MANIFEST)) return null;
  const manifest = readStamp(WEB_MANIFEST);
  return new Map((manifest?.files ?? []).map((name) => [name, path.join(WEB_DIR, name)]));
}

module.exports = { ROOT, NODE_ENTRY, RELAY_ENTRY, NODE_STAMP, WEB_DIR, WEB_MANIFEST, isCurrent, buildNode, runNode, buildWeb, buildWebFiles, prebuiltWebFiles };

if (require.main === module) {
  const only = process.argv[2];
  const t0 = Date.now();
  Promise.all([only === "--web" ? null : buildNode(), only === "--node" ? null : buildWeb()]).then(
    () => process.stderr.write(`veza-stream build: ${only === "--web" ? "" : "dist/bin/cli.js "}${only === "--node" ? "" : "dist/web/ "}in ${Date.now() - t0} ms\n`),
    (/** @type {unknown} */ err) => {
      process.stderr.write(`veza-stream build failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
