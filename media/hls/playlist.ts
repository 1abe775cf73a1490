/**
 * HLS playlists as text, pure: the multivariant playlist of a stream's renditions and the
 * Low-Latency media playlist of one rendition's window of CMAF segments and parts.
 *
 * Sources: RFC 8216 (HLS) and draft-pantos-hls-rfc8216bis (Low-Latency HLS: EXT-X-PART,
 * EXT-X-PART-INF, EXT-X-SERVER-CONTROL, EXT-X-PRELOAD-HINT, blocking playlist reload), and
 * Apple's HLS authoring rules:
 * - EXT-X-TARGETDURATION is the longest segment duration rounded to the nearest integer
 *   (RFC 8216 §4.3.3.1), at least 1;
 * - PART-HOLD-BACK is at least 3 × the part target (rfc8216bis §4.4.3.8 says "at least twice",
 *   and "at least three times" is recommended; MediaMTX's gohlslib uses 2.5);
 * - parts are listed only for the segments in the last 3 target durations (rfc8216bis §4.4.4.9);
 * - CODECS names every codec (RFC 6381): `opus` for Opus in MP4, `mp4a.40.2` for AAC-LC.
 */

/** One part (CMAF chunk) as a playlist lists it. */
export interface PlaylistPart {
  /** Seconds. */
  duration: number;
  uri: string;
  /** Starts with an independent frame: always true for audio. */
  independent: boolean;
}

/** One segment: its parts, and once complete its URI and duration. */
export interface PlaylistSegment {
  /** Media sequence number. */
  msn: number;
  /** Wall-clock time of its first sample, ms since the epoch (EXT-X-PROGRAM-DATE-TIME), from cluster time. */
  programDateMs: number;
  parts: PlaylistPart[];
  /** Null while the segment is still being written (the last one). */
  complete: { uri: string; duration: number } | null;
  /** A gap in media time (a new broadcaster, a lost stretch) before it: EXT-X-DISCONTINUITY. */
  discontinuity: boolean;
}

export interface MediaPlaylist {
  /** Oldest first; the last may be incomplete. At least one. */
  segments: PlaylistSegment[];
  /** EXT-X-PART-INF PART-TARGET, seconds. */
  partTarget: number;
  /** EXT-X-MAP URI: the init segment. */
  initUri: string;
  /** The next part to be written, for EXT-X-PRELOAD-HINT; null once the stream ended. */
  preloadHint: string | null;
  /** The stream ended: EXT-X-ENDLIST, no preload hint. */
  ended: boolean;
  /** Discontinuities in segments that left the window (EXT-X-DISCONTINUITY-SEQUENCE, RFC 8216 §4.3.3.3). */
  discontinuitySequence: number;
}

export interface Rendition {
  /** Peak bit rate, bit/s (BANDWIDTH); AVERAGE-BANDWIDTH is not written. */
  bandwidth: number;
  /** RFC 6381 codec string: `opus`, `mp4a.40.2`. */
  codecs: string;
  uri: string;
}

/** Seconds with 5 decimals (10 µs), as EXTINF and PART DURATION are written. */
const s5 = (seconds: number): string => seconds.toFixed(5);

/** The multivariant playlist: one EXT-X-STREAM-INF per rendition, best first. */
export function multivariantPlaylist(renditions: Rendition[]): string {
  const lines = ["#EXTM3U", "#EXT-X-VERSION:9", "#EXT-X-INDEPENDENT-SEGMENTS"];
  for (const r of [...renditions].sort((a, b) => b.bandwidth - a.bandwidth)) {
    lines.push(`#EXT-X-STREAM-INF:BANDWIDTH=${Math.round(r.bandwidth)},CODECS="${r.codecs}"`, r.uri);
  }
  return `${lines.join("\n")}\n`;
}

/** EXT-X-TARGETDURATION of `segments`: the longest complete one, rounded, at least 1 s. */
export function targetDuration(segments: PlaylistSegment[]): number {
  let longest = 1;
  for (const s of segments) if (s.complete) longest = Math.max(longest, Math.round(s.complete.duration));
  return longest;
}

/**
 * The media playlist of one rendition's window.
 * @throws Error when the window is empty (nothing to list yet: the caller waits for a part).
 */
export function mediaPlaylist(p: MediaPlaylist): string {
  const first = p.segments[0];
  if (!first) throw new Error("a media playlist needs at least one segment");
  const target = targetDuration(p.segments);
  const lines = [
    "#EXTM3U",
    "#EXT-X-VERSION:9",
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${(3 * p.partTarget).toFixed(3)}`,
    `#EXT-X-PART-INF:PART-TARGET=${p.partTarget.toFixed(3)}`,
    `#EXT-X-MEDIA-SEQUENCE:${first.msn}`,
    ...(p.discontinuitySequence > 0 ? [`#EXT-X-DISCONTINUITY-SEQUENCE:${p.discontinuitySequence}`] : []),
    `#EXT-X-MAP:URI="${p.initUri}"`,
  ];
  // parts of the segments that lie wholly within the last 3 target durations
  let fromEnd = 0;
  let partsFrom = p.segments.length;
  for (let i = p.segments.length - 1; i >= 0; i--) {
    const s = p.segments[i]!;
    fromEnd += s.complete?.duration ?? s.parts.reduce((n, part) => n + part.duration, 0);
    if (fromEnd > 3 * target + 1e-6) break;
    partsFrom = i;
  }
  p.segments.forEach((s, i) => {
    if (s.discontinuity && i > 0) lines.push("#EXT-X-DISCONTINUITY");
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(s.programDateMs).toISOString()}`);
    if (i >= partsFrom) {
      for (const part of s.parts) lines.push(`#EXT-X-PART:DURATION=${s5(part.duration)},URI="${part.uri}"${part.independent ? ",INDEPENDENT=YES" : ""}`);
    }
    if (s.complete) lines.push(`#EXTINF:${s5(s.complete.duration)},`, s.complete.uri);
  });
  if (p.ended) lines.push("#EXT-X-ENDLIST");
  else if (p.preloadHint) lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${p.preloadHint}"`);
  return `${lines.join("\n")}\n`;
}
