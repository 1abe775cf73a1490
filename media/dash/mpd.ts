/**
 * The DASH manifest (MPD, ISO/IEC 23009-1) of a live stream over the same CMAF segments as its HLS
 * playlists: one set of segments, two manifests. Pure text.
 *
 * Shape: a dynamic MPD of the ISO BMFF live profile, one Period from media time 0, one audio
 * AdaptationSet, one Representation per rendition with a SegmentTemplate (`$Number$` = the HLS
 * media sequence number) and a SegmentTimeline of the window's segments with their exact
 * durations (timescale 48 000: `t` is the media time, equal to each segment's tfdt). The
 * availability start time is the cluster time of media time 0, so a segment's wall-clock
 * availability is its media time's cluster time plus its duration, as DASH-IF IOP §4.3 requires
 * for a live edge computed from the clock. `UTCTiming` points at the gateway's `/time` (cluster
 * time, ISO 8601), so that a player whose own clock is off still finds the live edge (DASH-IF IOP
 * §4.7).
 */

/** Samples per second of media time: the SegmentTimeline's timescale. */
const TIMESCALE = 48_000;

export interface MpdSegment {
  /** Media sequence number: `$Number$`. */
  number: number;
  /** Media time of its first sample, samples at 48 kHz. */
  mediaTime: number;
  /** Samples at 48 kHz. */
  duration: number;
}

export interface MpdRepresentation {
  id: string;
  /** RFC 6381 codec string (`opus`, `mp4a.40.2`). */
  codecs: string;
  /** bit/s. */
  bandwidth: number;
  channels: number;
  /** Relative URIs; `media` holds `$Number$`. */
  initialization: string;
  media: string;
  /** Complete segments, oldest first. */
  segments: MpdSegment[];
}

export interface Mpd {
  /** Cluster time of media time 0, ms since the epoch. */
  availabilityStartMs: number;
  /** Now, ms since the epoch (publishTime). */
  publishMs: number;
  /** Longest segment, seconds (maxSegmentDuration, and the update period). */
  segmentS: number;
  /** How far behind the live edge a player starts, seconds. */
  presentationDelayS: number;
  /** Seconds of segments kept (timeShiftBufferDepth). */
  windowS: number;
  representations: MpdRepresentation[];
  /** The URL of an ISO 8601 clock for UTCTiming (urn:mpeg:dash:utc:http-iso:2014), or null. */
  utcTimingUrl: string | null;
  /** The broadcast ended: a static-like last manifest (no further updates). */
  ended: boolean;
}

/** ISO 8601 duration of `s` seconds, ms precision. */
const duration = (s: number): string => `PT${Math.max(0, s).toFixed(3)}S`;
/** XML attribute text. */
const attr = (v: string): string => v.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

/** A SegmentTimeline: runs of equal durations as `r` repeats. */
function timeline(segments: MpdSegment[]): string[] {
  const lines: string[] = [];
  let i = 0;
  while (i < segments.length) {
    const s = segments[i]!;
    let r = 0;
    while (i + r + 1 < segments.length && segments[i + r + 1]!.duration === s.duration && segments[i + r + 1]!.mediaTime === segments[i + r]!.mediaTime + s.duration) r++;
    lines.push(`          <S t="${s.mediaTime}" d="${s.duration}"${r > 0 ? ` r="${r}"` : ""}/>`);
    i += r + 1;
  }
  return lines;
}

/** The MPD as XML text. */
export function mpd(m: Mpd): string {
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="${m.ended ? "static" : "dynamic"}"` +
      (m.ended
        ? ` mediaPresentationDuration="${duration(Math.max(0, ...m.representations.flatMap((r) => r.segments.map((s) => (s.mediaTime + s.duration) / TIMESCALE))))}"`
        : ` availabilityStartTime="${new Date(m.availabilityStartMs).toISOString()}" publishTime="${new Date(m.publishMs).toISOString()}" minimumUpdatePeriod="${duration(m.segmentS)}" timeShiftBufferDepth="${duration(m.windowS)}" suggestedPresentationDelay="${duration(m.presentationDelayS)}"`) +
      ` maxSegmentDuration="${duration(m.segmentS)}" minBufferTime="${duration(2 * m.segmentS)}">`,
    `  <Period id="0" start="PT0S">`,
    `    <AdaptationSet contentType="audio" mimeType="audio/mp4" segmentAlignment="true" startWithSAP="1" lang="und">`,
  ];
  for (const r of m.representations) {
    const first = r.segments[0];
    lines.push(
      `      <Representation id="${attr(r.id)}" codecs="${attr(r.codecs)}" bandwidth="${Math.round(r.bandwidth)}" audioSamplingRate="${TIMESCALE}">`,
      `        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="${r.channels}"/>`,
      `        <SegmentTemplate timescale="${TIMESCALE}" initialization="${attr(r.initialization)}" media="${attr(r.media)}" startNumber="${first?.number ?? 0}">`,
      `          <SegmentTimeline>`,
      ...timeline(r.segments),
      `          </SegmentTimeline>`,
      `        </SegmentTemplate>`,
      `      </Representation>`,
    );
  }
  lines.push(`    </AdaptationSet>`, `  </Period>`);
  if (m.utcTimingUrl && !m.ended) lines.push(`  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="${attr(m.utcTimingUrl)}"/>`);
  lines.push(`</MPD>`);
  return `${lines.join("\n")}\n`;
}
