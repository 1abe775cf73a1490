/**
 * The player page, GET /listen/:streamId. Query:
 *  - `decoder=wasm|webcodecs` forces a decoder;
 *  - `sync=0` plays through the jitter buffer instead of synchronised playout;
 *  - `target=<ms>` sets the jitter buffer target (default 60);
 *  - `trace=1` records when each frame starts sounding (`vezaPlayer.trace`), for measurements;
 *  - `clockOffsetMs=<ms>`, `clockDriftPpm=<ppm>` run the page's clock off the machine's by that
 *    much (a simulated badly set clock: on one machine every process shares the clock, so this is
 *    how tests make the clock sync do some work); `clockSync=0` skips the clock sync (cluster
 *    time taken as the page's clock: a negative control).
 * Exposes `window.vezaPlayer` (the {@link LivePlayer}) so tests and curious users can read its stats.
 */
import { LivePlayer, type PlayerStats } from "../browser/live-player";
import type { DecoderKind } from "../browser/frame-decoder";
import { assetUrl, byId, plural, requireSecureContext, setMeter, setText, streamIdFromPath } from "./dom";

declare global {
  interface Window {
    vezaPlayer?: LivePlayer;
  }
}

const VOLUME_KEY = "veza.volume";
/** Text refreshes of the numbers, at most every this many ms (the meter follows every report). */
const TEXT_EVERY_MS = 250;

function connectionText(s: PlayerStats["connection"]): string {
  switch (s.state) {
    case "connecting":
      return s.attempt ? `connecting (attempt ${s.attempt + 1})` : "connecting";
    case "open":
      return "connected";
    case "retrying":
      return `lost (code ${s.closeCode}); retrying in ${(s.delayMs / 1000).toFixed(1)} s`;
    case "closed":
      return s.final ? `closed by the server (code ${s.closeCode})` : "closed";
  }
}

function playoutText(s: PlayerStats): string {
  if (s.playout === "buffer") return "jitter buffer";
  const sync = s.sync;
  if (!sync || sync.state === "waiting") return "syncing clock…";
  return sync.playoutDelayMs === null ? "synchronised" : `synchronised (${sync.playoutDelayMs} ms)`;
}

/** A signed time error: µs below 1 ms, else ms. */
function durationText(us: number): string {
  const sign = us < 0 ? "−" : "+";
  const a = Math.abs(us);
  return a < 1000 ? `${sign}${a.toFixed(0)} µs` : `${sign}${(a / 1000).toFixed(2)} ms`;
}

/**
 * The page's clock, µs, at a performance-timeline time: the machine's wall clock, or one that runs
 * `offsetMs` off and `driftPpm` fast from page load (to test the clock sync on one machine).
 */
function skewedClock(offsetMs: number, driftPpm: number): (performanceMs: number) => number {
  const origin = performance.timeOrigin;
  if (!offsetMs && !driftPpm) return (t) => (origin + t) * 1000;
  return (t) => (origin + t) * 1000 + offsetMs * 1000 + t * driftPpm * 1e-3;
}

function main(): void {
  const streamId = streamIdFromPath();
  const el = {
    id: byId("stream-id"), title: byId("title"), metadata: byId("metadata"), play: byId<HTMLButtonElement>("play"),
    volume: byId<HTMLInputElement>("volume"), meter: byId("meter"), state: byId("state"), listeners: byId("listeners"),
    delay: byId("delay"), connection: byId("connection"), decoder: byId("decoder"), error: byId("error"),
    playout: byId("playout"), syncError: byId("sync-error"), offset: byId("clock-offset"),
  };
  setText(el.id, streamId);
  document.title = `${streamId} · veza-stream`;
  if (!requireSecureContext(el.error)) return;

  const params = new URLSearchParams(location.search);
  const target = Number(params.get("target"));
  const player = new LivePlayer({
    streamId,
    workletUrl: assetUrl("player-processor.js"),
    decoder: (params.get("decoder") as DecoderKind | null) ?? undefined,
    targetMs: target > 0 ? target : undefined,
    sync: params.get("sync") !== "0",
    trace: params.get("trace") === "1",
    clockSync: params.get("clockSync") !== "0",
    clientUs: skewedClock(Number(params.get("clockOffsetMs") ?? 0), Number(params.get("clockDriftPpm") ?? 0)),
  });
  window.vezaPlayer = player;

  let lastText = 0;
  let metadataShown = "";
  const render = (s: PlayerStats): void => {
    setMeter(el.meter, s.audio === "running" ? s.rms : 0, s.peak);
    const now = performance.now();
    if (now - lastText < TEXT_EVERY_MS) return;
    lastText = now;
    const info = s.stream;
    setText(el.title, info?.title || streamId);
    const meta = JSON.stringify(info?.metadata ?? {});
    if (meta !== metadataShown) {
      metadataShown = meta;
      el.metadata.replaceChildren(
        ...Object.entries(info?.metadata ?? {}).map(([k, v]) => {
          const row = document.createElement("div");
          const dt = document.createElement("dt");
          const dd = document.createElement("dd");
          dt.textContent = k;
          dd.textContent = v;
          row.append(dt, dd);
          return row;
        }),
      );
    }
    setText(el.state, info ? info.state : "unknown");
    el.state.dataset.state = info?.state ?? "unknown";
    setText(el.listeners, info ? plural(info.listeners, "listener") : "–");
    setText(el.delay, s.liveDelayMs === null || s.audio !== "running" ? "–" : `${Math.round(s.liveDelayMs)} ms`);
    setText(el.connection, connectionText(s.connection));
    setText(el.playout, playoutText(s));
    setText(el.syncError, s.sync?.errorUs == null || s.sync.state === "waiting" ? "–" : durationText(s.sync.errorUs));
    const offset = s.sync?.offsetMs;
    setText(el.offset, offset == null ? "–" : `${offset >= 0 ? "+" : "−"}${Math.abs(offset).toFixed(3)} ms`);
    el.offset.title = s.sync?.clientDriftPpm == null ? "" : `drift ${s.sync.clientDriftPpm.toFixed(1)} ppm, min RTT ${s.sync.minRttMs?.toFixed(2)} ms, ${s.sync.exchanges} exchanges`;
    setText(el.decoder, s.decoder === "webcodecs" ? "WebCodecs" : s.decoder === "wasm" ? "WebAssembly (libopus)" : "–");
    const playing = s.audio === "running";
    setText(el.play, playing ? "Pause" : "Play");
    el.play.dataset.playing = String(playing);
  };
  player.on("stats", render);
  player.on("error", (err) => {
    el.error.hidden = false;
    setText(el.error, err.message);
  });

  const stored = Number(localStorage.getItem(VOLUME_KEY) ?? "1");
  el.volume.value = String(Number.isFinite(stored) ? stored : 1);
  el.volume.addEventListener("input", () => {
    player.setVolume(Number(el.volume.value));
    localStorage.setItem(VOLUME_KEY, el.volume.value);
  });
  el.play.addEventListener("click", () => {
    void (el.play.dataset.playing === "true" ? player.pause() : player.play());
  });

  // Start at once where the autoplay policy allows it; otherwise the Play button is the gesture.
  void player
    .start()
    .then(() => player.setVolume(Number(el.volume.value)))
    .then(() => player.play())
    .catch((err: unknown) => {
      el.error.hidden = false;
      setText(el.error, `Cannot start audio: ${err instanceof Error ? err.message : String(err)}`);
    });
}

main();
