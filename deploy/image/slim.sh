#!/bin/sh
# Turns a built, pruned (`npm prune --omit=dev`) checkout into what the runtime image holds: run by the
# Dockerfile's build stage in /app, and by test/e2e/image.test.ts on a copy. Only removes files and
# widens read permissions; writes nothing else.
#   sh deploy/image/slim.sh [DIR]   (default: the current directory)
set -eu
cd "${1:-.}"

# 1. Folders a node never reads: tests, benchmarks, docs, manifests, CI, the other deploy files.
#    (A new top-level folder is kept unless named here: an extra folder costs bytes, a missing one
#    breaks the image.)
rm -rf test bench docs k8s .ci
find deploy -mindepth 1 -maxdepth 1 ! -name image -exec rm -rf {} +

# 2. uWebSockets.js ships its native addon for every platform and Node ABI (~106 MB); keep the one
#    this Node loads (binaries/uws_<platform>_<arch>_<modules>.node, as src/uws.js picks it). The
#    copies under dist/ are never loaded.
uws=node_modules/@trufflesuite/uws-js-unofficial
abi="$(node -p 'process.platform + "_" + process.arch + "_" + process.versions.modules')"
test -f "$uws/binaries/uws_$abi.node" || { echo "slim.sh: no uWebSockets.js build uws_$abi.node" >&2; exit 1; }
find "$uws" -name '*.node' ! -path "$uws/binaries/uws_$abi.node" -delete

# 3. Of the SRT and RIST bindings' node-gyp builds, only the addons (the objects and makefiles are not loaded).
for b in srt rist; do
  dir=transports/$b/native/build
  if [ -f "$dir/Release/veza_$b.node" ]; then
    find "$dir" -mindepth 1 ! -path "$dir/Release" ! -path "$dir/Release/veza_$b.node" -prune -exec rm -rf {} +
  fi
done

# 3b. fluent-ffmpeg's test coverage report (12 MB), in its npm tarball by mistake.
rm -rf node_modules/fluent-ffmpeg/coverage

# 4. Everything readable, directories and executables executable, by any user: the node runs as
#    uid 10001 over files owned by root (it can read them, not change them).
#    @ffprobe-installer's postinstall leaves ffprobe mode 0744, which uid 10001 could not run.
chmod -R a+rX,go-w .
