/**
 * The manifest of a recording, as it is kept in the object store beside the audio, and the one view
 * of it that playback uses. Pure: types, schemas and arithmetic. Layout of one recording:
 *
 *   recordings/<stream>/<recording>/recording.json      RecordingInfo (written at start and at end)
 *   recordings/<stream>/<recording>/parts/<part>.json   PartManifest, one per owner's live period
 *   recordings/<stream>/<recording>/<n>.opus            a segment: a whole Ogg/Opus file (RFC 7845)
 *
 * `<recording>` is its start time, e.g. 20261202T175000Z. A part is what one stream owner recorded
 * while the stream was live there: a new part begins after a failover (another owner) or when the
 * broadcaster comes back. `<n>` is the segment's first frame in 20 ms units of media time
 * (mediaStart / 960): media time only goes forward, across owners too, so two segments never share it.
 * Times: media time in samples at 48 kHz (the stream's clock, as on the wire), wall-clock times ISO 8601.
 */
import { z } from "zod";
import { MEDIA_CLOCK_HZ } from "../wire/constants";

/** Samples per second of media time: the wire's media clock. */
export const MEDIA_HZ = MEDIA_CLOCK_HZ;

/** Why audio is missing between two segments. */
export const GAP_REASONS = ["failover", "broadcaster_away", "spool_full", "encoder_restart", "node_restart", "unrecorded"] as const;
export type GapReason = (typeof GAP_REASONS)[number];

const iso = z.string().min(1);
export const SegmentEntrySchema = z.object({
  n: z.number().int().min(0),
  key: z.string().min(1),
  /** First sample's media time, and the end (exclusive), samples at 48 kHz. */
  mediaStart: z.number().int().min(0),
  mediaEnd: z.number().int().min(0),
  /** Wall-clock times of the first frame's and the last frame's arrival at the owner. */
  startedAt: iso,
  endedAt: iso,
  /** Size of the object, and of its two header pages (OpusHead, OpusTags), bytes. */
  bytes: z.number().int().min(0),
  headerBytes: z.number().int().min(0),
  /** Data pages and Opus packets in it. */
  pages: z.number().int().min(0),
  packets: z.number().int().min(0),
  /** It follows a gap in media time within its part. */
  discontinuity: z.boolean(),
});
export type SegmentEntry = z.infer<typeof SegmentEntrySchema>;

export const GapEntrySchema = z.object({ mediaFrom: z.number().int().min(0), mediaTo: z.number().int().min(0), reason: z.enum(GAP_REASONS) });
export type GapEntry = z.infer<typeof GapEntrySchema>;

export const PartManifestSchema = z.object({
  version: z.literal(1),
  recordingId: z.string(),
  streamId: z.string(),
  part: z.string(),
  node: z.string(),
  /** Why this part began: the recording's start, the broadcaster back on air, or another owner (failover). */
  began: z.enum(["start", "resume", "failover"]),
  startedAt: iso,
  /** When it ended; null while it is being recorded (or when its node died: see `interrupted`). */
  endedAt: iso.nullable(),
  /** Its node died while recording it; the segments it had spooled were uploaded when it came back. */
  interrupted: z.boolean().optional(),
  segments: z.array(SegmentEntrySchema),
  /** Gaps within the part, with their reason. */
  gaps: z.array(GapEntrySchema),
});
export type PartManifest = z.infer<typeof PartManifestSchema>;

export const RecordingInfoSchema = z.object({
  version: z.literal(1),
  id: z.string(),
  streamId: z.string(),
  title: z.string(),
  channels: z.union([z.literal(1), z.literal(2)]),
  segmentSeconds: z.number(),
  startedAt: iso,
  endedAt: iso.nullable(),
});
export type RecordingInfo = z.infer<typeof RecordingInfoSchema>;

/** A hole in a recording's media time, with its reason. Seconds are from the recording's first sample. */
export interface RecordingGap extends GapEntry {
  fromS: number;
  seconds: number;
}

/** One recording as playback sees it: its segments in media order and the gaps between them. */
export interface RecordingView {
  info: RecordingInfo;
  parts: Omit<PartManifest, "segments" | "gaps">[];
  segments: SegmentEntry[];
  gaps: RecordingGap[];
  /** Media time of its first sample (samples at 48 kHz); 0 when it has no segment yet. */
  mediaStart: number;
  /** Seconds from the first sample to the end of the last, gaps included. */
  durationS: number;
  /** Seconds of audio in its segments. */
  audioS: number;
}

/** Object key prefix of a stream's recordings, and of one recording. */
export const recordingsPrefix = (streamId: string) => `recordings/${streamId}/`;
export const recordingPrefix = (streamId: string, id: string) => `recordings/${streamId}/${id}/`;
/** Object keys of one recording's files (the layout above): its info, its parts' manifests, a segment. */
export const recordingInfoKey = (streamId: string, id: string) => `${recordingPrefix(streamId, id)}recording.json`;
export const partsPrefix = (streamId: string, id: string) => `${recordingPrefix(streamId, id)}parts/`;
export const partKey = (m: Pick<PartManifest, "streamId" | "recordingId" | "part">) => `${partsPrefix(m.streamId, m.recordingId)}${m.part}.json`;
export const segmentKey = (streamId: string, id: string, n: number) => `${recordingPrefix(streamId, id)}${n}.opus`;

/** Id of a recording started at `ms` (ms since the epoch): 20261202T175000Z. */
export function recordingIdAt(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}
export const RECORDING_ID_PATTERN = /^\d{8}T\d{6}Z$/;

/**
 * Joins a recording's info and parts: segments by media time (a segment two parts both list, as
 * when a part was uploaded again after its node came back, counts once), and a gap wherever one
 * segment ends before the next begins. A gap's reason is the one a part named for it, else why the
 * part after it began (a new owner: failover; the same: the broadcaster was away), else unrecorded.
 */
export function recordingView(info: RecordingInfo, parts: PartManifest[]): RecordingView {
  const byN = new Map<number, { seg: SegmentEntry; part: PartManifest }>();
  for (const part of parts) for (const seg of part.segments) if (!byN.has(seg.n)) byN.set(seg.n, { seg, part });
  const ordered = [...byN.values()].sort((a, b) => a.seg.mediaStart - b.seg.mediaStart);
  const segments = ordered.map((o) => o.seg);
  const named = parts.flatMap((p) => p.gaps);
  const mediaStart = segments[0]?.mediaStart ?? 0;
  const gaps: RecordingGap[] = [];
  for (let i = 1; i < ordered.length; i++) {
    const prev = ordered[i - 1]!;
    const next = ordered[i]!;
    if (next.seg.mediaStart <= prev.seg.mediaEnd) continue;
    const mediaFrom = prev.seg.mediaEnd;
    const mediaTo = next.seg.mediaStart;
    const reason: GapReason =
      named.find((g) => g.mediaFrom < mediaTo && g.mediaTo > mediaFrom)?.reason ??
      (next.part !== prev.part && next.seg === next.part.segments[0] ? (next.part.began === "failover" ? "failover" : next.part.began === "resume" ? "broadcaster_away" : "unrecorded") : "unrecorded");
    gaps.push({ mediaFrom, mediaTo, reason, fromS: (mediaFrom - mediaStart) / MEDIA_HZ, seconds: (mediaTo - mediaFrom) / MEDIA_HZ });
  }
  const last = segments[segments.length - 1];
  return {
    info,
    parts: parts.map(({ segments: _s, gaps: _g, ...rest }) => rest).sort((a, b) => a.startedAt.localeCompare(b.startedAt)),
    segments,
    gaps,
    mediaStart,
    durationS: last ? (last.mediaEnd - mediaStart) / MEDIA_HZ : 0,
    audioS: segments.reduce((s, g) => s + (g.mediaEnd - g.mediaStart), 0) / MEDIA_HZ,
  };
}
