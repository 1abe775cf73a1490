/**
 * Which rendition each WebSocket listener hears, and moving it: by its own choice (`?rendition=`,
 * `rendition.select`), or, in `auto` mode (the default), by the gateway's adaptive bit rate
 * (gateway/abr.ts), checked with the backpressure sweep. A listener is told `rendition.changed`
 * before the first frame of its new rendition (docs/protocol.md). Batched listeners (`?batch=`)
 * stay on rendition 0.
 *
 * Slow listeners, in order: an `auto` listener whose queue passes the ABR threshold moves down a
 * rung, and at the backpressure limit (MAX_BACKPRESSURE_BYTES) it moves down at once if it can;
 * only a listener already on the lowest Opus rung, or one that fixed its rendition, is dropped
 * (veza_listeners_dropped_total; switches are counted in veza_rendition_switches_total).
 */
import { isWebSocketRendition, type Rendition } from "../media/ladder";
import { abrDecide, nextReport, queuedAudioMs, type AbrState } from "./abr";
import type { Gateway } from "./gateway";
import type { ListenerData } from "./listen-route";
import { SWITCH_TIMEOUT_MS } from "./rendition-feeds";
import type { WebSocket } from "./uws";

export type SwitchReason = "congestion" | "recovered" | "select";

/** The Opus renditions a WebSocket listener of `streamId` may hear, best first (rendition 0 first among equals). */
export function wsRenditions(gw: Gateway, streamId: string): Rendition[] {
  const all = gw.statusOf(streamId).renditions.filter(isWebSocketRendition);
  const list = all.length > 0 ? all : [{ id: 0, codec: "opus" as const, bitrate: gw.config.opusBitrate, channels: 2 as const }];
  return list.sort((a, b) => b.bitrate - a.bitrate || a.id - b.id);
}

/** The bit rate of rendition `r` of `streamId`, bit/s. */
function bitrateOf(gw: Gateway, streamId: string, r: number): number {
  return gw.statusOf(streamId).renditions.find((x) => x.id === r)?.bitrate ?? gw.config.opusBitrate;
}

/**
 * Moves `ws` to rendition `to` (an Opus rendition of its stream), telling it first. No-op when it
 * is on `to` already or moving.
 */
export function moveListener(gw: Gateway, ws: WebSocket<ListenerData>, to: number, reason: SwitchReason): void {
  const d = ws.getUserData();
  if (d.closed || d.moving !== null || d.rendition === to) return;
  const from = d.rendition;
  const direction = bitrateOf(gw, d.streamId, to) < bitrateOf(gw, d.streamId, from) ? "down" : "up";
  gw.metrics.renditionSwitches.inc({ direction, reason });
  gw.log.debug({ sessionId: d.session?.sessionId, streamId: d.streamId, from, to, reason }, "listener moves to another rendition");
  d.moving = { from, to };
  d.rendition = to;
  d.session?.renditions.add(to);
  ws.cork(() => ws.send(JSON.stringify({ type: "rendition.changed", rendition: to, reason }), false));
  gw.renditions.switch(ws as WebSocket<unknown>, d.streamId, from, to, () => (d.moving = null));
  gw.reportListeners(d.streamId);
}

/**
 * A listener's receiver report (`listener.report`): `received`, the end of the newest frame it has
 * received (media time, samples at 48 kHz), against the end of what its rendition has sent here.
 */
export function onListenerReport(gw: Gateway, ws: WebSocket<ListenerData>, received: number, now = Date.now()): void {
  const d = ws.getUserData();
  if (d.batchMs > 0) return;
  const sent = gw.renditions.lastEnd(d.streamId, d.moving?.from ?? d.rendition);
  if (sent === null) return;
  d.reported = nextReport(d.reported, Math.max(0, (sent - received) / 48), now);
}

/**
 * The sweep's part for one listener (every 500 ms): a stalled move is undone, `auto` listeners are
 * adapted, and one past the backpressure limit moves down if it can.
 * @returns true when the listener should be dropped (past the limit, nowhere lower to go).
 */
export function adaptListener(gw: Gateway, ws: WebSocket<ListenerData>, now = Date.now()): boolean {
  const d = ws.getUserData();
  const buffered = ws.getBufferedAmount();
  const overLimit = buffered >= gw.config.maxBackpressureBytes;
  if (d.moving) {
    const since = gw.renditions.pendingSince(d.streamId, d.moving.to, ws as WebSocket<unknown>);
    if (since !== null && now - since > SWITCH_TIMEOUT_MS) {
      // the rung never reached the listener (not started, failed): a listener past the limit is
      // dropped (it would go back to a rendition it cannot take), another goes back where it was
      if (overLimit) return true;
      const back = d.moving.from;
      gw.log.warn({ streamId: d.streamId, rendition: d.moving.to }, "rendition switch timed out; moving the listener back");
      d.moving = null;
      const to = d.rendition;
      d.rendition = back;
      gw.renditions.switch(ws as WebSocket<unknown>, d.streamId, to, back, () => undefined);
      ws.cork(() => ws.send(JSON.stringify({ type: "rendition.changed", rendition: back, reason: "select" }), false));
    }
    return false;
  }
  if (d.mode !== "auto" || d.batchMs > 0) return overLimit;
  const list = wsRenditions(gw, d.streamId);
  const at = list.findIndex((r) => r.id === d.rendition);
  const lower = at >= 0 ? list[at + 1] : undefined;
  const higher = at > 0 ? list[at - 1] : undefined;
  if (overLimit) {
    if (!lower) return true;
    moveListener(gw, ws, lower.id, "congestion");
    return false;
  }
  const queuedMs = queuedAudioMs(buffered, bitrateOf(gw, d.streamId, d.rendition), d.reported, now);
  const decision = abrDecide(d.abr as AbrState, queuedMs, lower !== undefined, higher !== undefined, gw.config.abrStableMs, now);
  if (decision !== null) d.reported = null; // the next report speaks for the new rendition
  if (decision === "down" && lower) moveListener(gw, ws, lower.id, "congestion");
  else if (decision === "up" && higher) moveListener(gw, ws, higher.id, "recovered");
  return false;
}
