/**
 * Adaptive bit rate for WebSocket listeners in `auto` mode, decided on the gateway from how much
 * of a listener's audio is on its way and not received, ms, the larger of two signals:
 * - the bytes uWS holds for the socket (what the kernel's socket buffers would not take), as ms of
 *   audio at the listener's rendition;
 * - the listener's own receiver report (`listener.report`, the SDK sends one a second in `auto`
 *   mode): the media time it has received, behind what the gateway has sent, less
 *   {@link ABR.reportAllowanceMs} of ordinary network delay; like RTCP's receiver reports (RFC 3550
 *   §6.4.2, extended highest sequence number received). It sees what the kernel's send buffer
 *   holds, which uWS does not: the kernel may grow that buffer to megabytes (net.ipv4.tcp_wmem),
 *   tens of seconds of audio, before uWS queues a byte. Only what two consecutive reports agree on
 *   counts (the smaller of the two): a listener whose main thread stalled (a busy page, a GC)
 *   sends one report from before the stall, with the frames that came meanwhile still unread,
 *   and is not behind. Reports older than {@link ABR.reportMaxAgeMs} count as none.
 *
 * The rule is buffer-based, as BBA (Huang et al., "A Buffer-Based Approach to Rate Adaptation",
 * SIGCOMM 2014), with the server's send queue as the mirror of a player's buffer: a queue past
 * {@link ABR.downQueueMs} means the link carries less than the rendition's bit rate, so the
 * listener moves one rung down (at most once per {@link ABR.downEveryMs}, to let the smaller
 * frames drain the queue); a queue under {@link ABR.upQueueMs} for a whole stable period moves it
 * one rung up. Hysteresis: the stable period starts at `stableMs` (ABR_STABLE_MS) and doubles, up to
 * {@link ABR.maxStableMs}, each time an up-switch is followed by a down-switch within
 * {@link ABR.failWindowMs} (the rung above did not fit), and is back to `stableMs` after a stable
 * period without one, as players back off from a bit rate that failed (dash.js's and Shaka's
 * abandonment back-off). Moves are between the stream's Opus renditions only.
 */

export const ABR = {
  /** Queued audio past which the listener moves down, ms. */
  downQueueMs: 400,
  /** At most one down-switch per this long, ms. */
  downEveryMs: 1000,
  /** Queued audio under which the link counts as keeping up, ms. */
  upQueueMs: 60,
  /** Longest stable period before an up-switch, ms. */
  maxStableMs: 120_000,
  /** A down-switch this soon after an up-switch doubles the stable period, ms. */
  failWindowMs: 30_000,
  /** Delay between the gateway sending a frame and the listener reporting it that is not a queue, ms. */
  reportAllowanceMs: 100,
  /** A receiver report older than this is not used, ms. */
  reportMaxAgeMs: 3000,
} as const;

/** One listener's ABR state. */
export interface AbrState {
  /** ms since epoch of the last switch down, up. */
  lastDownAt: number;
  lastUpAt: number;
  /** Since when the queue has stayed under {@link ABR.upQueueMs} (ms since epoch); null while it has not. */
  goodSince: number | null;
  /** The current stable period before an up-switch, ms. */
  stableMs: number;
}

export function abrState(stableMs: number, now = Date.now()): AbrState {
  return { lastDownAt: 0, lastUpAt: 0, goodSince: now, stableMs };
}

/** A listener's receiver reports as ABR uses them. */
export interface ReportState {
  /** The last report's figure: ms between the newest frame sent and the newest received when it came. */
  lastMs: number;
  /** What the last two reports agree on (the smaller), ms; 0 after a single report. */
  behindMs: number;
  /** When the last report came, ms since epoch. */
  at: number;
}

/** The state after a report of `lagMs` (ms behind) at `now`, following `prev`. */
export function nextReport(prev: ReportState | null, lagMs: number, now = Date.now()): ReportState {
  const fresh = prev !== null && now - prev.at <= ABR.reportMaxAgeMs;
  return { lastMs: lagMs, behindMs: fresh ? Math.min(prev.lastMs, lagMs) : 0, at: now };
}

/**
 * Audio of a listener on its way and not received, ms: uWS's queue (`queuedBytes` on a rendition of
 * `bitrate` bit/s) or the listener's reports ({@link nextReport}), whichever is larger.
 */
export function queuedAudioMs(queuedBytes: number, bitrate: number, reported: ReportState | null, now = Date.now()): number {
  const queueMs = (queuedBytes * 8 * 1000) / Math.max(1, bitrate);
  const reportMs = reported && now - reported.at <= ABR.reportMaxAgeMs ? reported.behindMs - ABR.reportAllowanceMs : 0;
  return Math.max(queueMs, reportMs);
}

/**
 * What to do now for a listener with `queuedMs` of audio on its way ({@link queuedAudioMs}).
 * `canDown`/`canUp`: whether a lower/higher Opus rendition exists. Updates `s` when it decides.
 */
export function abrDecide(s: AbrState, queuedMs: number, canDown: boolean, canUp: boolean, baseStableMs: number, now = Date.now()): "down" | "up" | null {
  if (queuedMs > ABR.downQueueMs) {
    s.goodSince = null;
    if (!canDown || now - s.lastDownAt < ABR.downEveryMs) return null;
    if (now - s.lastUpAt < ABR.failWindowMs) s.stableMs = Math.min(ABR.maxStableMs, s.stableMs * 2);
    s.lastDownAt = now;
    return "down";
  }
  if (queuedMs > ABR.upQueueMs) {
    s.goodSince = null;
    return null;
  }
  s.goodSince ??= now;
  if (now - s.goodSince < s.stableMs) return null;
  // a whole stable period without trouble since the last up-switch: the back-off is forgiven
  if (now - Math.max(s.lastUpAt, s.lastDownAt) >= 2 * s.stableMs) s.stableMs = baseStableMs;
  if (!canUp) return null;
  s.lastUpAt = now;
  s.goodSince = now;
  return "up";
}
