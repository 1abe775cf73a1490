// @ts-check
/**
 * Builds the libsrt and librist bindings (transports/srt/native, transports/rist/native, node-gyp)
 * when Debian's headers are there (`pkg-config --exists srt` / `librist`: packages
 * libsrt-openssl-dev, librist-dev and pkg-config). Run by `npm install` and `npm ci` (the `install`
 * script) and by `npm run build:native`. Without a library it says so and succeeds: the node and
 * the relay then run without that protocol (and say why).
 * node-gyp is npm's own (npm_config_node_gyp), building against the Node.js headers npm is set to
 * use (nodedir); `--strict` makes a missing library or a failed build an error.
 */
const { spawnSync } = require("node:child_process");
const path = require("node:path");

const strict = process.argv.includes("--strict");

/** Our bindings: each built when its library's headers are there (pkg-config), independently of the other. */
const BINDINGS = [
  { name: "SRT", pkg: "srt", dir: "transports/srt/native", addon: "veza_srt.node", debian: "libsrt-openssl-dev" },
  { name: "RIST", pkg: "librist", dir: "transports/rist/native", addon: "veza_rist.node", debian: "librist-dev" },
];
const gyp = process.env.npm_config_node_gyp || path.join(path.dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
let failed = false;
for (const b of BINDINGS) {
  const why = spawnSync("pkg-config", ["--exists", b.pkg]).status !== 0 ? `${b.pkg}'s headers were not found (pkg-config ${b.pkg})` : build(b.dir);
  if (why) {
    failed = true;
    console.warn(`veza-stream: the ${b.name} binding is not built: ${why}`);
    console.warn(`veza-stream: ${b.name} is off until then (apt-get install ${b.debian} pkg-config; npm run build:native)`);
  } else {
    console.log(`veza-stream: built the ${b.name} binding (${b.dir}/build/Release/${b.addon})`);
  }
}
process.exit(strict && failed ? 1 : 0);

/** Runs node-gyp in `dir`; the reason it failed, or null. */
function build(/** @type {string} */ dir) {
  const r = spawnSync(process.execPath, [gyp, "rebuild", "--loglevel=warn"], { cwd: path.join(__dirname, "..", dir), stdio: ["ignore", "ignore", "inherit"] });
  return r.status === 0 ? null : `node-gyp rebuild failed (exit ${r.status})`;
}
