# veza-stream: one image for every role (gateway, relay, stream, encoder: `--services` picks them),
# and the base of the SRT relay image (FROM this one). Build, run, push, size and checks:
# deploy/image/README.md.
#
# Debian bookworm in both stages, not Alpine: the uWebSockets.js native addon needs glibc (bookworm
# has 2.36); on musl it falls back to a JavaScript shim, which the gateway refuses to run on.
# ffmpeg (with libopus) is the static build inside the npm package @ffmpeg-installer/ffmpeg (66 MB),
# not Debian's ffmpeg package (200 packages, about 460 MB installed).

# ---- build: dependencies, the project's build step, then only what runs --------------------------
FROM node:20-bookworm-slim AS build
# a compiler and Debian's libsrt and librist headers for the bindings (transports/*/native, node-gyp)
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ pkg-config libsrt-openssl-dev librist-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# node-gyp against node:20's own headers (/usr/local), not the repository .npmrc's Debian /usr
ENV npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false npm_config_nodedir=/usr/local

# Dependencies first, so that a change of the sources reuses this layer. The npm in node:20 (10.x)
# does not know package.json's `allowScripts` (npm 11's allow-list of install scripts): install with
# no scripts at all, then run those of the allowed packages only, as npm 11 does on a developer's
# machine (esbuild, the ffmpeg and ffprobe binaries; not bufferutil's node-gyp, which needs a compiler).
# `npm ls` fails on an incomplete tree: npm 10 can end a failed download with "Exit handler never
# called!" and exit code 0.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts \
 && npm ls --all > /dev/null \
 && npm rebuild $(node -p "Object.entries(require('./package.json').allowScripts || {}).filter(([, v]) => v === true).map(([k]) => k).join(' ')")

# The sources; the project's build step into dist/ (`prepare`, when package.json has one: skipped
# above with the other scripts); the dev dependencies out (tsx and esbuild are production
# dependencies: bin/veza-stream falls back to them when dist/ is missing or stale, and without a
# build the pages are bundled at run time); V8's code cache of the bundle, written by a first run
# (dist/bin/*.v8cache, bin/build.js runNode: the runtime user cannot write dist/); then what a
# node never reads (deploy/image/slim.sh).
COPY . .
RUN npm run --if-present prepare \
 && node bin/build-native.js --strict \
 && node bin/veza-stream --help > /dev/null \
 && npm prune --omit=dev \
 && npm ls --all --omit=dev > /dev/null \
 && sh deploy/image/slim.sh

# ---- runtime -------------------------------------------------------------------------------------
FROM node:20-bookworm-slim AS runtime

# tini as PID 1: it forwards SIGTERM/SIGINT to node (whose handler drains the gateway) and reaps
# orphaned processes. Node as PID 1 would ignore a SIGTERM that arrives before its handler is set
# (the kernel gives PID 1 no default signal action) and would leave orphans as zombies.
# uid/gid 10001, as the Kubernetes pods' runAsUser/runAsGroup (k8s/base); /data for DATA_DIR.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini libsrt1.5-openssl librist4 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 veza \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin veza \
 && install -d -o 10001 -g 10001 -m 0700 /data

WORKDIR /app
# owned by root, readable by all (slim.sh): the node can read its code, not change it
COPY --from=build /app /app

# DATA_DIR holds only the token key a node generates when no JWT_SECRET/JWKS_FILE/JWKS_URL is set
# (a single container tried out by hand); with a read-only root file system mount a volume there,
# or set JWT_SECRET (Kubernetes does both).
# glibc's malloc (docs/benchmarks.md, Fuzzing): MALLOC_ARENA_MAX=2 caps the per-thread arenas (run G
# settles ~6 MiB lower than run F); MALLOC_MMAP_THRESHOLD_=65536 keeps blocks of 64 KiB and more
# (large messages, HTTP bodies) in mmap, given back when freed, instead of letting glibc raise the
# threshold and leave them fragmenting the heap (run J: RSS back to +1.7 % of its warm baseline
# after 1 000 000 fuzz inputs and flat from 250 000 on; run K without it: +6.2 %, its main arena
# still growing, and 18 MiB more from the start)
ENV NODE_ENV=production PORT=8080 DATA_DIR=/data MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=65536
USER 10001:10001
EXPOSE 8080 8000 8890/udp
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node", "deploy/image/healthcheck.js"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/veza-stream"]
CMD ["start"]

LABEL org.opencontainers.image.title="veza-stream" \
      org.opencontainers.image.description="Live-audio streaming cluster node (Moleculer, uWebSockets.js, ffmpeg)" \
      org.opencontainers.image.licenses="MIT"
