/**
 * The DASH manifest (MPD, ISO/IEC 23009-1) of a live stream over the same CMAF segments as its HLS
 * playlists: one set of segments, two manifests. Pure text.
 *
 * Shape: a dynamic MPD of the ISO BMFF live profile, one Period from media time 0, one audio
 * AdaptationSet, one Representation per rendition with a number-based SegmentTemplate
 * (`$Number$` = the HLS media sequence number; DASH-IF IOP §4.3.2.2, "SegmentTemplate@duration"):
 * segment N covers media time [N, N + 1) × the segment length, which is exactly how the gateways
 * cut and number segments (media/hls/segment-window.ts), and its tfdt is its media time (timescale
 * 48 000, presentationTimeOffset 0). A player finds the live edge from the clock: segment N is
 * available at availabilityStartTime + (N + 1) × the segment length. The availability start time
 * is given at each refresh as the newest segment's end in cluster time less its media time at the
 * nominal 48 kHz, so that the broadcaster's clock drift (a few hundred ppm) never shifts the live
 * edge. `UTCTiming` points at the gateway's `/time` (cluster time, ISO 8601), so that a player
 * whose own clock is off still finds it (DASH-IF IOP §4.7). Not SegmentTimeline: ffmpeg's DASH
 * reader (4.x) loses its place in a timeline that grows between refreshes and replays segments.
 */
/** Samples per second of media time: the SegmentTemplate's timescale. */
const TIMESCALE = 48_000;

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
}

export interface Mpd {
  /** Wall-clock (cluster) time of media time 0 at the nominal rate, ms since the epoch. */
  availabilityStartMs: number;
  /** Now, ms since the epoch (publishTime). */
  publishMs: number;
  /** Segment length, samples at 48 kHz. */
  segmentSamples: number;
  /** How far behind the live edge a player starts, seconds. */
  presentationDelayS: number;
  /** Seconds of segments kept (timeShiftBufferDepth). */
  windowS: number;
  representations: MpdRepresentation[];
  /** The URL of an ISO 8601 clock for UTCTiming (urn:mpeg:dash:utc:http-iso:2014), or null. */
  utcTimingUrl: string | null;
  /** The broadcast ended at this media time (seconds): mediaPresentationDuration; null while live. */
  endS: number | null;
}

/** ISO 8601 duration of `s` seconds, ms precision. */
const duration = (s: number): string => `PT${Math.max(0, s).toFixed(3)}S`;
/** XML attribute text. */
const attr = (v: string): string => v.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

/** The MPD as XML text. */
export function mpd(m: Mpd): string {
  const segmentS = m.segmentSamples / TIMESCALE;
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic"` +
      ` availabilityStartTime="${new Date(m.availabilityStartMs).toISOString()}" publishTime="${new Date(m.publishMs).toISOString()}"` +
      (m.endS === null ? ` minimumUpdatePeriod="${duration(segmentS)}"` : ` mediaPresentationDuration="${duration(m.endS)}"`) +
      ` timeShiftBufferDepth="${duration(m.windowS)}" suggestedPresentationDelay="${duration(m.presentationDelayS)}"` +
      ` maxSegmentDuration="${duration(segmentS)}" minBufferTime="${duration(2 * segmentS)}">`,
    `  <Period id="0" start="PT0S">`,
  ];
  // one AdaptationSet per codec: a player switches seamlessly only between representations of one codec (DASH-IF IOP §3.2.13)
  for (const codecs of new Set(m.representations.map((r) => r.codecs))) {
    lines.push(`    <AdaptationSet contentType="audio" mimeType="audio/mp4" codecs="${attr(codecs)}" segmentAlignment="true" startWithSAP="1" lang="und">`);
    for (const r of m.representations.filter((x) => x.codecs === codecs)) {
      lines.push(
        `      <Representation id="${attr(r.id)}" bandwidth="${Math.round(r.bandwidth)}" audioSamplingRate="${TIMESCALE}">`,
        `        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="${r.channels}"/>`,
        `        <SegmentTemplate timescale="${TIMESCALE}" duration="${m.segmentSamples}" startNumber="0" presentationTimeOffset="0" initialization="${attr(r.initialization)}" media="${attr(r.media)}"/>`,
        `      </Representation>`,
      );
    }
    lines.push(`    </AdaptationSet>`);
  }
  lines.push(`  </Period>`);
  if (m.utcTimingUrl) lines.push(`  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="${attr(m.utcTimingUrl)}"/>`);
  lines.push(`</MPD>`);
  return `${lines.join("\n")}\n`;
}
