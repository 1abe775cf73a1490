/**
 * What the player page says about its stream, as text: pure functions of {@link PlayerStats}, no
 * DOM. The page shows live figures (delay, playout, sync error) only while the stream is on air;
 * otherwise it says why not (no broadcaster yet, ended, broadcaster gone, connection closed).
 */
import type { PlayerStats } from "../core/stats";

/** Why the page hears nothing live; null while the stream is live on an open connection. */
export type OffAir =
  /** Not connected (first connection, or reconnecting): nothing is known about the stream now. */
  | { kind: "connecting" }
  /**
   * The server closed the connection for good (e.g. bad stream id, kicked, token refused), with the
   * code it named (`UNAUTHORIZED`, …) if any.
   */
  | { kind: "closed"; closeCode: number; code: string | null }
  /** The stream has never had a broadcaster (an unknown id, or one no broadcaster has used yet). */
  | { kind: "no-broadcaster" }
  /** Its broadcaster stopped the broadcast (or an operator did). */
  | { kind: "ended" }
  /** Its broadcaster went away without stopping (its connection dropped). */
  | { kind: "away" };

/** Whether the page hears the stream live now, or why not. */
export function offAirOf(s: PlayerStats): OffAir | null {
  const c = s.connection;
  if (c.state === "closed") return { kind: "closed", closeCode: c.closeCode, code: c.code };
  if (c.state !== "open" || !s.stream) return { kind: "connecting" };
  switch (s.stream.state) {
    case "live":
      return null;
    case "ended":
      return { kind: "ended" };
    case "offline":
      // format is null until a first broadcaster started the stream; the owner is "" for a stream
      // the cluster does not know at all
      return s.stream.format === null || s.stream.owner === "" ? { kind: "no-broadcaster" } : { kind: "away" };
  }
}

/**
 * The notice shown while off air (with links to the stream list and the broadcaster page); null
 * when there is nothing to say beyond the Connection fact (while connecting).
 */
export function offAirNotice(o: OffAir | null, audioOn: boolean): string | null {
  const then = audioOn ? "It starts playing here by itself when it goes live." : "Press “Play when live” to hear it as soon as it goes live.";
  switch (o?.kind) {
    case undefined:
    case "connecting":
      return null;
    case "closed":
      return tokenNotice(o) ?? `The server closed this connection (code ${o.closeCode}); reload the page to listen again.`;
    case "no-broadcaster":
      return `No broadcaster on this stream yet — waiting for one to go live. ${then}`;
    case "ended":
      return `The broadcast has ended — waiting in case it goes live again. ${then}`;
    case "away":
      return `Off air: the broadcaster has gone (its connection dropped) — waiting for it to come back. ${then}`;
  }
}

/**
 * What a listener must do when the server refused its token (close 4401: UNAUTHORIZED or
 * TOKEN_EXPIRED, 4403: FORBIDDEN), or null for other closes. The page's token comes from its own
 * URL (`?token=` or `#token=`), so the way out is another link.
 */
export function tokenNotice(o: { closeCode: number; code: string | null }): string | null {
  if (o.closeCode !== 4401 && o.closeCode !== 4403) return null;
  const ask = "This stream needs a listener token: open the link with ?token=…";
  if (o.code === "TOKEN_EXPIRED") return `${ask} — the token of this link has expired; ask for a fresh link.`;
  if (o.code === "FORBIDDEN" || o.closeCode === 4403) return `${ask} — the token of this link does not allow listening to this stream.`;
  return `${ask} (the server said ${o.code ?? `close ${o.closeCode}`}).`;
}

/** The stream fact: its state while connected, else "–". */
export function streamStateText(s: PlayerStats): string {
  return s.connection.state === "open" && s.stream ? s.stream.state : "–";
}

/** The connection fact. */
export function connectionText(s: PlayerStats["connection"]): string {
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

/** The playout fact: "jitter buffer", "synchronised (120 ms)", "syncing clock…"; "–" off air. */
export function playoutText(s: PlayerStats, offAir: OffAir | null): string {
  if (offAir) return "–";
  if (s.playout === "buffer") return "jitter buffer";
  const sync = s.sync;
  if (!sync || sync.state === "waiting") return "syncing clock…";
  return sync.playoutDelayMs === null ? "synchronised" : `synchronised (${sync.playoutDelayMs} ms)`;
}

/** The live delay fact: whole ms while audio plays live, else "–". */
export function delayText(s: PlayerStats, offAir: OffAir | null): string {
  return offAir || s.liveDelayMs === null || s.audio !== "running" ? "–" : `${Math.round(s.liveDelayMs)} ms`;
}

/** The sync error fact (µs below 1 ms, else ms, signed) while playing in sync live, else "–". */
export function syncErrorText(s: PlayerStats, offAir: OffAir | null): string {
  const us = s.sync?.errorUs;
  if (offAir || us == null || s.sync?.state !== "playing") return "–";
  const a = Math.abs(us);
  if (a < 0.5) return "0 µs";
  const sign = us < 0 ? "−" : "+";
  return a < 1000 ? `${sign}${a.toFixed(0)} µs` : `${sign}${(a / 1000).toFixed(2)} ms`;
}

/**
 * The play button: "Pause"/"Play" while live; off air a toggle "Play when live" (pressed while
 * audio is on, so the stream plays by itself when it goes live), disabled once the server closed
 * the connection for good.
 */
export function playButton(s: PlayerStats, offAir: OffAir | null): { text: string; pressed: boolean | null; disabled: boolean } {
  const on = s.audio === "running";
  if (!offAir) return { text: on ? "Pause" : "Play", pressed: null, disabled: false };
  return { text: "Play when live", pressed: on, disabled: offAir.kind === "closed" };
}
