/**
 * The player page's HLS fallback: where the live player cannot run (no AudioWorklet, which browsers
 * give only to secure contexts, i.e. HTTPS or localhost), or with `?hls=1`, the page plays the
 * stream's Low-Latency HLS (`/hls/<stream>/index.m3u8`) in an `<audio>` element: through hls.js
 * over Media Source Extensions (loaded as a separate chunk only then), or natively where the
 * browser has no MSE but plays HLS itself (Safari on older iOS). Not synchronised with other listeners: HLS players sit
 * about 1 s (LL-HLS, hls.js) behind the live edge, each on its own clock.
 * Exposes `window.vezaHls` ({@link HlsPlayback}) for tests and the curious.
 */
import type HlsType from "hls.js";
import { setText } from "./dom";

export interface HlsPlayback {
  audio: HTMLAudioElement;
  /** hls.js, or null where the browser plays HLS natively. */
  hls: HlsType | null;
  /** Seconds from the broadcaster's capture (EXT-X-PROGRAM-DATE-TIME) to what plays now; null before playback. */
  latencyS(): number | null;
}

declare global {
  interface Window {
    vezaHls?: HlsPlayback;
  }
}

/** Whether the page must play HLS: asked for, or no AudioWorklet here. */
export function needsHls(params: URLSearchParams): boolean {
  return params.get("hls") === "1" || !window.isSecureContext || typeof AudioWorkletNode === "undefined";
}

export interface HlsElements {
  play: HTMLButtonElement;
  volume: HTMLInputElement;
  state: HTMLElement;
  delay: HTMLElement;
  playout: HTMLElement;
  decoder: HTMLElement;
  error: HTMLElement;
}

/**
 * Plays `streamId` over HLS into the page's controls. Resolves once playback was set up (not
 * started). `lowLatency` (default true): hls.js's Low-Latency mode (parts, blocking reloads); false
 * plays whole segments three target durations behind the live edge, as a regular HLS player does
 * (the page's `?hlsLowLatency=0`).
 */
export async function playHls(streamId: string, token: string | undefined, el: HlsElements, lowLatency = true): Promise<HlsPlayback> {
  const url = `/hls/${encodeURIComponent(streamId)}/index.m3u8${token ? `?token=${encodeURIComponent(token)}` : ""}`;
  const audio = document.createElement("audio");
  audio.preload = "auto";
  document.body.append(audio);
  const fail = (message: string): void => {
    el.error.hidden = false;
    setText(el.error, message);
  };
  let hls: HlsType | null = null;
  // hls.js wherever Media Source Extensions exist (as hls.js's own guide orders it), native HLS
  // (Safari on iOS before MSE) otherwise
  const { default: Hls } = await import("hls.js");
  if (Hls.isSupported()) {
    // no worker: fMP4 audio needs no transmuxing, and the page's CSP has no blob: workers. In
    // Low-Latency mode a stall moves hls.js's target latency back by one 200 ms part, not its
    // default 1 s, and playback runs up to 5 % fast (pitch kept) to get back to the target: a stall
    // at start on a busy machine no longer leaves the listener a second further behind for good
    hls = new Hls({
      lowLatencyMode: lowLatency, backBufferLength: 10, enableWorker: false,
      ...(lowLatency ? { liveSyncOnStallIncrease: 0.2, maxLiveSyncPlaybackRate: 1.05 } : {}),
    });
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (data.fatal) fail(`HLS: ${data.details}`);
    });
    hls.loadSource(url);
    hls.attachMedia(audio);
    setText(el.decoder, "HLS (hls.js)");
  } else if (audio.canPlayType("application/vnd.apple.mpegurl")) {
    audio.src = url;
    setText(el.decoder, "HLS (native)");
  } else {
    fail("This browser can play neither the live player (no AudioWorklet) nor HLS (no Media Source Extensions).");
    throw new Error("no way to play");
  }
  setText(el.playout, "HLS, not synchronised");
  const playback: HlsPlayback = {
    audio, hls,
    latencyS: () => {
      const date = hls ? hls.playingDate : (audio as HTMLAudioElement & { getStartDate?(): Date }).getStartDate?.();
      if (!date || Number.isNaN(date.getTime())) return null;
      return hls ? (Date.now() - date.getTime()) / 1000 : (Date.now() - date.getTime()) / 1000 - audio.currentTime;
    },
  };
  window.vezaHls = playback;
  const render = (): void => {
    const playing = !audio.paused;
    setText(el.play, playing ? "Pause" : "Play");
    el.play.dataset.playing = String(playing);
    setText(el.state, playing ? "live (HLS)" : audio.readyState > 0 ? "paused" : "loading…");
    const latency = playback.latencyS();
    setText(el.delay, latency === null ? "–" : `${latency.toFixed(1)} s (from the broadcaster)`);
  };
  for (const event of ["play", "pause", "playing", "waiting", "timeupdate"]) audio.addEventListener(event, render);
  el.play.addEventListener("click", () => void (audio.paused ? audio.play().catch((err: Error) => fail(err.message)) : audio.pause()));
  el.volume.addEventListener("input", () => (audio.volume = Number(el.volume.value)));
  audio.volume = Number(el.volume.value);
  render();
  // start at once where the autoplay policy allows it; otherwise the Play button is the gesture
  audio.play().catch(() => render());
  return playback;
}
