/**
 * One stream's Ogg/Opus as HTTP listeners get it, muxed once per stream, pure: the header pages
 * (OpusHead, OpusTags) every listener gets first, then pages of the stream's Opus packets, each
 * holding {@link LiveOgg.framesPerPage} packets. A listener joining mid-stream gets the header
 * pages, then the next page: its page sequence numbers jump and its first granule position is
 * not 0, as with Icecast's Ogg mounts; decoders (libogg, ffmpeg, browsers) start from there.
 */
import { OggOpusWriter } from "./ogg-opus-writer";

export class LiveOgg {
  private readonly writer: OggOpusWriter;
  /** The two header pages, sent to every listener first. */
  readonly header: Uint8Array;
  private queued = 0;

  /** @param framesPerPage packets per page: more is fewer, larger writes (5 × 20 ms = 100 ms of added delay). */
  constructor(readonly framesPerPage = 5) {
    this.writer = new OggOpusWriter({ channels: 2 });
    this.header = this.writer.header();
  }

  /** Takes one Opus packet (`duration` samples at 48 kHz); returns a page when one is full, else null. */
  push(packet: Uint8Array, duration: number): Uint8Array | null {
    this.writer.write(packet.slice(), duration);
    if (++this.queued < this.framesPerPage) return null;
    this.queued = 0;
    return this.writer.flush();
  }
}
