/**
 * A stream's rendition ladder: rendition 0 is the stream's own Opus (the encoder's, at
 * OPUS_BITRATE, or a broadcaster's own packets), and the rungs below it are made from rendition 0
 * by the encoder actor while someone uses them (actors/encoder/rung-encoder.ts). Every rendition is
 * on the stream's media clock; Opus rungs are on the same 20 ms frame grid as rendition 0, so a
 * WebSocket listener can switch between them at any frame. AAC-LC rungs (1024-sample frames) are
 * for HLS and DASH players only (Apple devices, whose native players want AAC).
 *
 * The ladder's text form (LADDER, `stream.start {ladder}`): comma-separated rungs
 * `<codec>:<bit rate>[:<channels>]`, codec `opus` or `aac`, bit rate in bit/s with an optional `k`
 * (`64k` = 64 000), channels 1 or 2 (default 2); e.g. `opus:64k:2,opus:32k:2,aac:128k:2`; `none`
 * for no rungs. The default, as the issue and common audio ladders (Apple's HLS authoring spec
 * pairs a high and a low AAC; streaming radio serves 128/64/32 kbit/s): Opus 64 kbit/s and
 * 32 kbit/s stereo (stereo on every Opus rung, so a switch never changes the stereo image; Opus
 * at 32 kbit/s codes stereo with intensity stereo), and AAC-LC 128 kbit/s stereo.
 */

export type RenditionCodec = "opus" | "aac";

export interface Rendition {
  /** 0 … 255: the rendition byte of audio.data, and `r<id>` in HLS URLs. */
  id: number;
  codec: RenditionCodec;
  /** Nominal bit rate, bit/s (rendition 0 of a broadcaster's own Opus: the encoder's setting, not measured). */
  bitrate: number;
  channels: 1 | 2;
}

export const DEFAULT_LADDER = "opus:64k:2,opus:32k:2,aac:128k:2";

/** Bit rates a rung may have, bit/s: libopus's range (RFC 6716: 6-510 kbit/s), and AAC-LC's usual one. */
const LIMITS: Record<RenditionCodec, [number, number]> = { opus: [6_000, 510_000], aac: [16_000, 320_000] };

/**
 * The rungs of `text` (without rendition 0), numbered from 1.
 * @throws RangeError naming the bad rung.
 */
export function parseLadder(text: string): Rendition[] {
  const trimmed = text.trim();
  if (trimmed === "none" || trimmed === "") return [];
  const rungs = trimmed.split(",").map((s, i): Rendition => {
    const m = /^(opus|aac):(\d{1,6})(k?)(?::([12]))?$/i.exec(s.trim());
    if (!m) throw new RangeError(`ladder rung "${s.trim()}": expected <opus|aac>:<bit rate>[k][:<1|2 channels>], e.g. opus:64k:2`);
    const codec = m[1]!.toLowerCase() as RenditionCodec;
    const bitrate = Number(m[2]) * (m[3] ? 1000 : 1);
    const [min, max] = LIMITS[codec];
    if (bitrate < min || bitrate > max) throw new RangeError(`ladder rung "${s.trim()}": ${codec} bit rate must be ${min / 1000}-${max / 1000} kbit/s`);
    return { id: i + 1, codec, bitrate, channels: m[4] === "1" ? 1 : 2 };
  });
  if (rungs.length > 8) throw new RangeError("a ladder has at most 8 rungs");
  return rungs;
}

/** The whole ladder: rendition 0 (Opus at `opusBitrate`, bit/s) and the rungs of `text`. @throws RangeError as {@link parseLadder}. */
export function ladderOf(opusBitrate: number, text: string): Rendition[] {
  return [{ id: 0, codec: "opus", bitrate: opusBitrate, channels: 2 }, ...parseLadder(text)];
}

/** RFC 6381 codec string of a rendition in MP4 (HLS CODECS, DASH @codecs): `opus`, `mp4a.40.2` (AAC-LC). */
export function codecString(r: Pick<Rendition, "codec">): string {
  return r.codec === "opus" ? "opus" : "mp4a.40.2";
}

/** Whether a WebSocket listener can take `r`: Opus, whose 20 ms frames line up with rendition 0's. */
export function isWebSocketRendition(r: Pick<Rendition, "codec">): boolean {
  return r.codec === "opus";
}
