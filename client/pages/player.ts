/**
 * The player page, GET /listen/:streamId. Query:
 *  - `decoder=wasm|webcodecs` forces a decoder;
 *  - `sync=0` plays through the jitter buffer instead of synchronised playout;
 *  - `target=<ms>` sets the jitter buffer target (default 60);
 *  - `trace=1` records when each frame starts sounding (`vezaPlayer.trace`), for measurements;
 *  - `clockOffsetMs=<ms>`, `clockDriftPpm=<ppm>` run the page's clock off the machine's by that
 *    much (a simulated badly set clock: on one machine every process shares the clock, so this is
 *    how tests make the clock sync do some work); `clockSync=0` skips the clock sync (cluster
 *    time taken as the page's clock: a negative control);
 *  - `hls=1` plays the stream's HLS through hls.js instead (as where AudioWorklet is missing:
 *    hls-fallback.ts);
 *  - `token=<jwt>` (or `#token=<jwt>` in the fragment, which stays out of server logs): the
 *    listener token, passed on as the socket's `?token=`; needed when the node runs with
 *    `LISTEN_AUTH=token`. Without one (or with a refused one) the page says so.
 * Exposes `window.vezaPlayer` (the {@link LivePlayer}) so tests and curious users can read its stats.
 */
import { LivePlayer, type PlayerStats } from "../browser/live-player";
import type { DecoderKind } from "../browser/frame-decoder";
import type { Rendition } from "../../media/ladder";
import { assetUrl, byId, codeElement, fragmentToken, plural, requireSecureContext, setMeter, setText, streamIdFromPath } from "./dom";
import { needsHls, playHls } from "./hls-fallback";
import { showRecordings } from "./recordings";
import { connectionText, delayText, offAirNotice, offAirOf, playButton, playoutText, streamStateText, syncErrorText } from "./player-view";

declare global {
  interface Window {
    vezaPlayer?: LivePlayer;
  }
}

const VOLUME_KEY = "veza.volume";
/** Text refreshes of the numbers, at most every this many ms (the meter follows every report). */
const TEXT_EVERY_MS = 250;

/**
 * The page's clock, µs, at a performance-timeline time: the machine's wall clock, or one that runs
 * `offsetMs` off and `driftPpm` fast from page load (to test the clock sync on one machine).
 */
function skewedClock(offsetMs: number, driftPpm: number): (performanceMs: number) => number {
  const origin = performance.timeOrigin;
  if (!offsetMs && !driftPpm) return (t) => (origin + t) * 1000;
  return (t) => (origin + t) * 1000 + offsetMs * 1000 + t * driftPpm * 1e-3;
}

/** `?rendition=` of the page: `auto` (default) or a rendition id. */
function parseRenditionParam(v: string | null): "auto" | number {
  return v !== null && /^\d{1,3}$/.test(v) ? Number(v) : "auto";
}

/** "Opus 64 kbit/s stereo". */
function renditionText(r: Rendition): string {
  return `${r.codec === "opus" ? "Opus" : "AAC"} ${Math.round(r.bitrate / 1000)} kbit/s ${r.channels === 1 ? "mono" : "stereo"}`;
}

function main(): void {
  const streamId = streamIdFromPath();
  const el = {
    id: byId("stream-id"), title: byId("title"), metadata: byId("metadata"), play: byId<HTMLButtonElement>("play"),
    volume: byId<HTMLInputElement>("volume"), meter: byId("meter"), state: byId("state"), listeners: byId("listeners"),
    delay: byId("delay"), connection: byId("connection"), decoder: byId("decoder"), error: byId("error"),
    playout: byId("playout"), syncError: byId("sync-error"), offset: byId("clock-offset"),
    rendition: byId<HTMLSelectElement>("rendition"), renditionNow: byId("rendition-now"),
    notice: byId("notice"), noticeText: byId("notice-text"), broadcastLink: byId<HTMLAnchorElement>("broadcast-link"),
  };
  el.broadcastLink.href = `/broadcast/${encodeURIComponent(streamId)}`;
  setText(el.broadcastLink, `Broadcast on ${streamId}`);
  setText(el.id, streamId);
  document.title = `${streamId} · veza-stream`;
  const params = new URLSearchParams(location.search);
  const token = params.get("token")?.trim() || fragmentToken() || undefined;
  void showRecordings(streamId, token);
  // no AudioWorklet (a page not served over HTTPS, an old browser), or ?hls=1: HLS in an <audio>
  // (?hlsLowLatency=0: hls.js without its Low-Latency mode)
  if (needsHls(params)) return void playHls(streamId, token, el, params.get("hlsLowLatency") !== "0").catch(() => undefined);
  if (!requireSecureContext(el.error)) return;

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
    token,
    rendition: parseRenditionParam(params.get("rendition")),
  });
  window.vezaPlayer = player;
  el.rendition.addEventListener("change", () => {
    const v = el.rendition.value;
    player.selectRendition(v === "auto" ? "auto" : Number(v));
  });
  let renditionsShown = "";

  let lastText = 0;
  let trailing: ReturnType<typeof setTimeout> | null = null;
  let metadataShown = "";
  const render = (s: PlayerStats): void => {
    setMeter(el.meter, s.audio === "running" ? s.rms : 0, s.peak);
    const wait = lastText + TEXT_EVERY_MS - performance.now();
    if (wait > 0) {
      // a change (the stream ending, say) must not wait for the next report, which may never come
      trailing ??= setTimeout(() => {
        trailing = null;
        render(player.stats());
      }, wait);
      return;
    }
    lastText = performance.now();
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
    const offAir = offAirOf(s);
    el.metadata.hidden = offAir !== null; // "now playing" only while something plays
    setText(el.state, streamStateText(s));
    el.state.dataset.state = offAir?.kind === "connecting" ? "unknown" : (info?.state ?? "unknown");
    setText(el.listeners, info && s.connection.state === "open" ? plural(info.listeners, "listener") : "–");
    setText(el.delay, delayText(s, offAir));
    setText(el.connection, connectionText(s.connection));
    setText(el.playout, playoutText(s, offAir));
    setText(el.syncError, syncErrorText(s, offAir));
    const offset = s.sync?.offsetMs;
    setText(el.offset, offset == null ? "–" : `${offset >= 0 ? "+" : "−"}${Math.abs(offset).toFixed(3)} ms`);
    el.offset.title = s.sync?.clientDriftPpm == null ? "" : `drift ${s.sync.clientDriftPpm.toFixed(1)} ppm, min RTT ${s.sync.minRttMs?.toFixed(2)} ms, ${s.sync.exchanges} exchanges`;
    const list = JSON.stringify(s.renditions);
    if (list !== renditionsShown) {
      renditionsShown = list;
      const auto = document.createElement("option");
      auto.value = "auto";
      auto.textContent = "Auto";
      el.rendition.replaceChildren(auto, ...s.renditions.map((r) => {
        const o = document.createElement("option");
        o.value = String(r.id);
        o.textContent = renditionText(r);
        return o;
      }));
    }
    el.rendition.value = String(s.renditionChoice);
    const now = s.renditions.find((r) => r.id === s.rendition);
    setText(el.renditionNow, now ? `${s.renditionChoice === "auto" ? "playing " : ""}${renditionText(now)}` : "–");
    setText(el.decoder, s.decoder === "webcodecs" ? "WebCodecs" : s.decoder === "wasm" ? "WebAssembly (libopus)" : "–");
    const notice = offAirNotice(offAir, s.audio === "running");
    el.notice.hidden = notice === null;
    el.notice.dataset.kind = offAir?.kind ?? "live";
    setText(el.noticeText, notice ?? "");
    const button = playButton(s, offAir);
    setText(el.play, button.text);
    if (button.pressed === null) el.play.removeAttribute("aria-pressed");
    else el.play.setAttribute("aria-pressed", String(button.pressed));
    el.play.disabled = button.disabled;
    el.play.dataset.playing = String(s.audio === "running");
  };
  player.on("stats", render);
  player.on("message", (m) => {
    if (m.type !== "error") return;
    el.error.hidden = false;
    el.error.replaceChildren(codeElement(m.code), `: ${m.message}`);
  });
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
