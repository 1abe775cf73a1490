// @ts-check
/**
 * Builds the libsrt binding (transports/srt/native, node-gyp) when Debian's libsrt headers are
 * there (`pkg-config --exists srt`: packages libsrt-openssl-dev and pkg-config). Run by `npm
 * install` and `npm ci` (the `install` script) and by `npm run build:native`. Without libsrt it
 * says so and succeeds: the node then runs without its SRT port (and says why at start-up).
 * node-gyp is npm's own (npm_config_node_gyp), building against the Node.js headers npm is set to
 * use (nodedir); `--strict` makes a missing libsrt or a failed build an error.
 */
const { spawnSync } = require("node:child_process");
const path = require("node:path");

const strict = process.argv.includes("--strict");
const dir = path.join(__dirname, "..", "transports", "srt", "native");

function giveUp(/** @type {string} */ why) {
  console.warn(`veza-stream: the SRT binding is not built: ${why}`);
  console.warn("veza-stream: SRT is off until then (apt-get install libsrt-openssl-dev pkg-config; npm run build:native)");
  process.exit(strict ? 1 : 0);
}

if (spawnSync("pkg-config", ["--exists", "srt"]).status !== 0) giveUp("libsrt's headers were not found (pkg-config srt)");
const gyp = process.env.npm_config_node_gyp || path.join(path.dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
const r = spawnSync(process.execPath, [gyp, "rebuild", "--loglevel=warn"], { cwd: dir, stdio: ["ignore", "ignore", "inherit"] });
if (r.status !== 0) giveUp(`node-gyp rebuild failed (exit ${r.status})`);
console.log("veza-stream: built the SRT binding (transports/srt/native/build/Release/veza_srt.node)");
