/**
 * One rendition of a live stream as CMAF (fragmented MP4, ISO/IEC 23000-19), muxed once per stream
 * from its frames, for HLS (RFC 8216 and its Low-Latency extension: a part is one CMAF chunk) and
 * DASH over the same bytes. Pure: packets in, bytes out, no I/O.
 *
 * The muxer is mediabunny's (`Mp4OutputFormat` with `fastStart: "fragmented"`): it writes the boxes
 * (ftyp, moov with `Opus`/`dOps` or `mp4a`/`esds`, moof/mdat with tfdt); we only set how long a
 * fragment is. Each part is one fragment (moof + mdat) of at least {@link LiveCmafOptions.partMs}
 * less half a 20 ms frame: mediabunny ends a fragment when a packet arrives after it is that long,
 * so with 20 ms frames a 200 ms part holds exactly 10, and it is out as soon as the first frame of
 * the next one arrives ({@link LiveCmaf.flush} ends the last one at once).
 *
 * Times: frames carry media time in samples at 48 kHz (the stream's clock); a part's `mediaTime`
 * is its first frame's, and its tfdt (baseMediaDecodeTime) is the same instant in the track's
 * timescale, so a player can line parts of two gateways, or of two renditions, up exactly.
 */
import { concatBytes } from "../bytes";
import { EncodedAudioPacketSource, EncodedPacket, Mp4OutputFormat, NullTarget, Output } from "mediabunny";

/** Samples per second of the media clock (media time unit). */
const MEDIA_CLOCK_HZ = 48_000;

export interface LiveCmafOptions {
  /** The rendition's codec: Opus packets (RFC 6716) or raw AAC-LC access units (no ADTS header). */
  codec: "opus" | "aac";
  channels: 1 | 2;
  /** Hz. Opus is always 48 000; AAC that of its access units. */
  sampleRate: number;
  /** ms of audio per part (CMAF chunk): 200 as MediaMTX and Apple's examples. */
  partMs: number;
  /** AAC: the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1), 2 bytes for AAC-LC. */
  description?: Uint8Array;
  /** Called with each finished part, in order. */
  onPart(part: CmafPart): void;
}

/** One CMAF chunk: a moof and its mdat, playable after the init segment and the parts before it. */
export interface CmafPart {
  /** 0, 1, 2 … in this muxer's life. */
  index: number;
  /** Media time of its first frame, samples at 48 kHz. */
  mediaTime: number;
  /** Samples at 48 kHz it covers: up to the next part's start (a gap in media time counts in the part before it), or its last frame's end. */
  duration: number;
  /** Frames (packets) in it. */
  frames: number;
  bytes: Uint8Array;
}

export class LiveCmaf {
  /** ftyp + moov: what a player reads before any part (HLS EXT-X-MAP, DASH initialization); null until the first part. */
  init: Uint8Array | null = null;
  private readonly output: Output;
  private readonly source: EncodedAudioPacketSource;
  private ftyp: Uint8Array | null = null;
  private moof: { bytes: Uint8Array; seconds: number } | null = null;
  /** Media time of each frame handed to mediabunny and not yet in a part, oldest first. */
  private readonly queued: number[] = [];
  /** Media time of the frame being added (whose arrival ends the fragment before it), or, at the end, of the last frame's end. */
  private adding = 0;
  private lastEnd = 0;
  private nextIndex = 0;
  /** Every add, in order: mediabunny's calls are asynchronous and must not interleave. */
  private chain: Promise<void>;
  private first = true;
  private closed = false;
  /** The first error of mediabunny, after which nothing more is muxed. */
  error: Error | null = null;

  constructor(private readonly o: LiveCmafOptions) {
    this.output = new Output({
      format: new Mp4OutputFormat({
        fastStart: "fragmented",
        // just under the part's length, so that the frame that would make it longer ends it
        minimumFragmentDuration: (o.partMs - 10) / 1000,
        onFtyp: (data) => void (this.ftyp = data.slice()),
        onMoov: (data) => void (this.init = concatBytes([this.ftyp ?? new Uint8Array(0), data])),
        onMoof: (data, _position, seconds) => void (this.moof = { bytes: data.slice(), seconds }),
        onMdat: (data) => this.onMdat(data),
      }),
      target: new NullTarget(),
    });
    this.source = new EncodedAudioPacketSource(o.codec);
    this.output.addAudioTrack(this.source);
    this.chain = this.output.start().catch((err: unknown) => this.fail(err));
  }

  /**
   * Adds one frame. `mediaTime` and `duration` are samples at 48 kHz; media time must not go back.
   * Never throws: a muxer error is kept in {@link error} and ends the muxing.
   */
  push(packet: Uint8Array, mediaTime: number, duration: number): void {
    if (this.closed || this.error) return;
    const data = packet.slice();
    const decoderConfig = this.first
      ? { decoderConfig: { codec: this.o.codec === "opus" ? "opus" : "mp4a.40.2", numberOfChannels: this.o.channels, sampleRate: this.o.sampleRate, ...(this.o.description ? { description: this.o.description } : {}) } }
      : undefined;
    this.first = false;
    this.lastEnd = mediaTime + duration;
    const encoded = new EncodedPacket(data, "key", mediaTime / MEDIA_CLOCK_HZ, duration / MEDIA_CLOCK_HZ);
    this.chain = this.chain
      .then(() => {
        if (this.error) return;
        this.adding = mediaTime;
        const added = this.source.add(encoded, decoderConfig);
        this.queued.push(mediaTime); // after the add began: a part it ends does not hold it
        return added;
      })
      .catch((err: unknown) => this.fail(err));
  }

  /** Ends the muxing: the frames still held go out as a last part. Resolves once it has. */
  async flush(): Promise<void> {
    if (this.closed) return this.chain;
    this.closed = true;
    this.chain = this.chain
      .then(() => {
        if (this.error) return;
        this.adding = this.lastEnd;
        return this.output.finalize();
      })
      .catch((err: unknown) => this.fail(err));
    return this.chain;
  }

  private onMdat(mdat: Uint8Array): void {
    const moof = this.moof;
    if (!moof) return;
    this.moof = null;
    const mediaTime = Math.round(moof.seconds * MEDIA_CLOCK_HZ);
    const end = this.adding;
    let frames = 0;
    while (this.queued.length > 0 && this.queued[0]! < end) {
      this.queued.shift();
      frames++;
    }
    this.o.onPart({ index: this.nextIndex++, mediaTime, duration: end - mediaTime, frames, bytes: concatBytes([moof.bytes, mdat]) });
  }

  private fail(err: unknown): void {
    this.error ??= err instanceof Error ? err : new Error(String(err));
  }
}
