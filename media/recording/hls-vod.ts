/**
 * A recording as HLS VOD (RFC 8216): a media playlist of its segments, each served as a CMAF
 * fragment (fMP4 with Opus, media/cmaf/live-cmaf.ts) remuxed from the segment's Ogg packets, and
 * silence fragments in its gaps, so the playlist's timeline is the recording's media time without
 * discontinuities. Pure: manifest and bytes in, playlist text and fMP4 bytes out.
 *
 * Names in the playlist: `init.mp4` (EXT-X-MAP), `<n>.m4s` (segment n), `gap-<from>-<to>.m4s`
 * (silence over media time [from, to), samples at 48 kHz, in pieces of at most segmentSeconds).
 */
import { LiveCmaf } from "../cmaf/live-cmaf";
import { OPUS_SILENCE_SAMPLES, opusPacketInfo, opusSilence } from "../opus/packet";
import { readOggPackets } from "../ogg/pages";
import { MEDIA_HZ, type RecordingView, type SegmentEntry } from "./manifest";

const FRAME = OPUS_SILENCE_SAMPLES;

/** One entry of the playlist. */
export type VodEntry = { uri: string; seconds: number } & ({ kind: "segment"; segment: SegmentEntry } | { kind: "gap"; from: number; to: number });

/** The playlist's entries: segments in media order, gaps cut into pieces of at most the segment length. */
export function vodEntries(view: RecordingView): VodEntry[] {
  const out: VodEntry[] = [];
  const piece = view.info.segmentSeconds * MEDIA_HZ;
  let at = view.mediaStart;
  for (const segment of view.segments) {
    for (let from = at; segment.mediaStart - from >= FRAME; ) {
      const to = from + Math.min(piece, Math.floor((segment.mediaStart - from) / FRAME) * FRAME);
      out.push({ kind: "gap", from, to, uri: `gap-${from}-${to}.m4s`, seconds: (to - from) / MEDIA_HZ });
      from = to;
    }
    out.push({ kind: "segment", segment, uri: `${segment.n}.m4s`, seconds: (segment.mediaEnd - segment.mediaStart) / MEDIA_HZ });
    at = Math.max(at, segment.mediaEnd);
  }
  return out;
}

/** The media playlist; `query` (e.g. `?token=…`) is added to every URI. VOD once the recording ended, EVENT before. */
export function vodPlaylist(view: RecordingView, query = ""): string {
  const entries = vodEntries(view);
  const target = Math.max(1, ...entries.map((e) => Math.ceil(e.seconds)));
  const ended = view.info.endedAt !== null;
  const lines = ["#EXTM3U", "#EXT-X-VERSION:7", `#EXT-X-TARGETDURATION:${target}`, `#EXT-X-PLAYLIST-TYPE:${ended ? "VOD" : "EVENT"}`, "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-INDEPENDENT-SEGMENTS", `#EXT-X-MAP:URI="init.mp4${query}"`];
  for (const e of entries) lines.push(`#EXTINF:${e.seconds.toFixed(3)},`, `${e.uri}${query}`);
  if (ended) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

/** A packet with its media time relative to the recording's start (samples at 48 kHz). */
interface Timed {
  packet: Uint8Array;
  mediaTime: number;
  duration: number;
}

/** The segment's packets from its Ogg/Opus object, timed from the recording's start. */
export function segmentPackets(view: RecordingView, segment: SegmentEntry, object: Uint8Array): Timed[] {
  let t = segment.mediaStart - view.mediaStart;
  return readOggPackets(object, segment.headerBytes).map((packet) => {
    const duration = opusPacketInfo(packet).duration;
    const timed = { packet, mediaTime: t, duration };
    t += duration;
    return timed;
  });
}

/** Silence over [from, to) of the recording's media time, in 20 ms packets. */
export function gapPackets(view: RecordingView, from: number, to: number): Timed[] {
  const out: Timed[] = [];
  for (let t = from; t + FRAME <= to; t += FRAME) out.push({ packet: opusSilence(view.info.channels), mediaTime: t - view.mediaStart, duration: FRAME });
  return out;
}

/** ftyp + moov of every fragment of the recording. */
export async function vodInit(channels: 1 | 2): Promise<Uint8Array> {
  const cmaf = new LiveCmaf({ codec: "opus", channels, sampleRate: MEDIA_HZ, partMs: 20, onPart: () => {} });
  cmaf.push(opusSilence(channels), 0, FRAME);
  await cmaf.flush();
  if (!cmaf.init) throw cmaf.error ?? new Error("no init segment");
  return cmaf.init;
}

/** One fragment (moof + mdat) holding `packets`, its decode time their first media time. @throws the muxer's error. */
export async function vodFragment(channels: 1 | 2, packets: Timed[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const cmaf = new LiveCmaf({ codec: "opus", channels, sampleRate: MEDIA_HZ, partMs: 3_600_000, onPart: (p) => parts.push(p.bytes) });
  for (const p of packets) cmaf.push(p.packet, p.mediaTime, p.duration);
  await cmaf.flush();
  if (cmaf.error) throw cmaf.error;
  return Buffer.concat(parts);
}
