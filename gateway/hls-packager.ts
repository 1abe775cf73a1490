/**
 * HLS and DASH packaging on a gateway: per stream with players here, one CMAF muxer and live
 * window per rendition (media/cmaf/live-cmaf.ts, media/hls/segment-window.ts), fed by the
 * fan-out's one bus subscription per stream (a tap), in memory: no shared disk, so any gateway
 * serves any stream. Made on the first request for the stream, kept while requests come, closed
 * {@link IDLE_MS} after the last one (MediaMTX's muxer close-after, gohlslib).
 *
 * Numbering is on the media clock, so that two gateways name the same audio alike: the window
 * starts at the first frame on the part grid (media time a multiple of 200 ms), its first segment
 * is numbered media time / segment length, and each next one +1 (media sequence numbers are
 * consecutive, RFC 8216 §6.2.1). Across a gap that skips a whole segment, or a discontinuity,
 * gateways that started on different sides of it number differently: a player keeps to one
 * gateway (load balancers' session affinity), as with MediaMTX.
 *
 * An HLS player counts as one listener of the stream per gateway while its packager runs (it holds
 * the stream's relay and keeps the encoder running); players themselves are not connections and
 * are not counted one by one.
 */
import { clusterTimeOf } from "../media/clock/media-clock";
import { LiveCmaf, type CmafPart } from "../media/cmaf/live-cmaf";
import { DEFAULT_WINDOW, SegmentWindow } from "../media/hls/segment-window";
import { decodeAudioData } from "../media/wire";
import { AudioFlag, MEDIA_CLOCK_HZ } from "../media/wire/constants";
import type { Gateway } from "./gateway";

/** A packager with no request for this long is closed, ms. */
export const IDLE_MS = 30_000;
/** A new packager waits at most this long for the part grid before starting off it, ms. */
const ALIGN_MAX_MS = 1000;

/** One rendition's muxer and window. */
export class RenditionPackager {
  readonly window = new SegmentWindow(DEFAULT_WINDOW);
  private cmaf: LiveCmaf | null = null;
  /** Media time after the last frame pushed, samples at 48 kHz; null before the first. */
  private lastEnd: number | null = null;
  /** Parts of a muxer started after a discontinuity, held until the one before it has flushed. */
  private held: Array<{ part: CmafPart; init: Uint8Array }> | null = null;
  private firstFrameAt = 0;
  /** Parts muxed so far. */
  parts = 0;

  constructor(
    /** Cluster time (ms since the epoch) of media time `m`: EXT-X-PROGRAM-DATE-TIME, the MPD's availability start. */
    readonly programDateOf: (m: number) => number,
  ) {}

  private newMuxer(): LiveCmaf {
    const cmaf: LiveCmaf = new LiveCmaf({
      codec: "opus",
      // Opus decoders decode mono packets to stereo: the broadcaster's own packets may be either
      channels: 2,
      sampleRate: MEDIA_CLOCK_HZ,
      partMs: DEFAULT_WINDOW.partMs,
      onPart: (part) => {
        const entry = { part, init: cmaf.init! };
        if (this.held && cmaf === this.cmaf) this.held.push(entry);
        else this.add(entry);
      },
    });
    return cmaf;
  }

  private add({ part, init }: { part: CmafPart; init: Uint8Array }): void {
    this.parts++;
    this.window.addPart(part, init, this.programDateOf(part.mediaTime));
  }

  /** One frame of the rendition (an audio.data message). Bad frames are skipped. */
  push(message: Uint8Array): void {
    if (this.window.ended) return;
    let f;
    try {
      f = decodeAudioData(message);
    } catch {
      return;
    }
    if (this.lastEnd === null) {
      // start on the part grid, so that gateways number parts and segments alike
      const partSamples = (DEFAULT_WINDOW.partMs * MEDIA_CLOCK_HZ) / 1000;
      this.firstFrameAt ||= Date.now();
      if (f.mediaTime % partSamples !== 0 && Date.now() - this.firstFrameAt < ALIGN_MAX_MS) return;
      this.window.startAt(Math.floor(f.mediaTime / (partSamples * DEFAULT_WINDOW.partsPerSegment)));
      this.cmaf = this.newMuxer();
    } else if (f.mediaTime < this.lastEnd || (f.flags & AudioFlag.DISCONTINUITY && f.mediaTime > this.lastEnd + 10 * MEDIA_CLOCK_HZ)) {
      // media time went back (a new owner) or jumped far: a new muxer, and a discontinuity
      this.restart();
    }
    this.lastEnd = f.mediaTime + f.duration;
    this.cmaf!.push(f.packet, f.mediaTime, f.duration);
  }

  private restart(): void {
    const old = this.cmaf!;
    const held: Array<{ part: CmafPart; init: Uint8Array }> = [];
    this.held = held;
    this.cmaf = this.newMuxer();
    void old.flush().then(() => {
      this.window.discontinuity();
      if (this.held === held) this.held = null;
      for (const entry of held) this.add(entry);
    });
  }

  /** The stream ended: the last part goes out and the playlist gets EXT-X-ENDLIST. */
  end(): void {
    const cmaf = this.cmaf;
    if (!cmaf) return this.window.end();
    void cmaf.flush().then(() => this.window.end());
  }

  close(): void {
    this.window.close();
  }
}

/** One stream's packaging on this gateway. */
interface StreamPackaging {
  renditions: Map<number, RenditionPackager>;
  /** The broadcast ended (its windows have EXT-X-ENDLIST); a new broadcast gets a new packaging. */
  ended: boolean;
  lastRequestAt: number;
  untap: () => void;
}

export class HlsPackagers {
  private readonly streams = new Map<string, StreamPackaging>();
  private sweep: NodeJS.Timeout | null = null;

  constructor(private readonly gw: Gateway) {}

  /** Whether `streamId` is packaged here. */
  has(streamId: string): boolean {
    return this.streams.has(streamId);
  }

  /** Streams packaged here. */
  get count(): number {
    return this.streams.size;
  }

  /**
   * The packager of `streamId`'s rendition `rendition` (0: the stream's Opus), made on first use,
   * and marks the stream as requested now. Only rendition 0 exists until the ladder does.
   * @returns undefined for a rendition the stream does not have.
   */
  rendition(streamId: string, rendition: number): RenditionPackager | undefined {
    if (rendition !== 0) return undefined;
    let s = this.streams.get(streamId);
    if (s?.ended && this.gw.isLive(streamId)) {
      this.closeStream(streamId, s);
      s = undefined;
    }
    s ??= this.open(streamId);
    s.lastRequestAt = Date.now();
    return s.renditions.get(rendition);
  }

  private open(streamId: string): StreamPackaging {
    const { gw } = this;
    const programDateOf = (m: number): number => {
      // the tick in force at m, else the earliest known (its mapping extrapolated back)
      const ticks = gw.syncTicks.get(streamId) ?? [];
      let tick = ticks[0];
      for (const t of ticks) if (t.validFrom <= m) tick = t;
      return tick ? clusterTimeOf(tick, m) / 1000 : Date.now();
    };
    const packager = new RenditionPackager(programDateOf);
    gw.fanout.join(streamId);
    const untapFrames = gw.fanout.tap(streamId, (frame) => packager.push(frame));
    const s: StreamPackaging = {
      renditions: new Map([[0, packager]]),
      ended: false,
      lastRequestAt: Date.now(),
      untap: () => {
        untapFrames();
        gw.fanout.leave(streamId);
        gw.reportListeners(streamId);
      },
    };
    this.streams.set(streamId, s);
    gw.reportListeners(streamId);
    gw.log.info({ streamId }, "packaging HLS and DASH");
    this.sweep ??= setInterval(() => this.closeIdle(), 5000).unref();
    return s;
  }

  /** The broadcast of `streamId` ended: its windows end (players see EXT-X-ENDLIST), the packager goes when idle. */
  ended(streamId: string): void {
    const s = this.streams.get(streamId);
    if (!s) return;
    s.ended = true;
    for (const r of s.renditions.values()) r.end();
  }

  private closeIdle(): void {
    const before = Date.now() - IDLE_MS;
    for (const [streamId, s] of this.streams) if (s.lastRequestAt < before) this.closeStream(streamId, s);
    if (this.streams.size === 0 && this.sweep) {
      clearInterval(this.sweep);
      this.sweep = null;
    }
  }

  private closeStream(streamId: string, s: StreamPackaging): void {
    this.streams.delete(streamId);
    s.untap();
    for (const r of s.renditions.values()) r.close();
    this.gw.log.info({ streamId }, "HLS and DASH packaging closed (no request)");
  }

  close(): void {
    for (const [streamId, s] of [...this.streams]) this.closeStream(streamId, s);
    if (this.sweep) clearInterval(this.sweep);
    this.sweep = null;
  }
}
