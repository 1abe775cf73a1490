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
 * Renditions: rendition 0 is fed by the fan-out (its packager counts as one listener of the
 * stream on this gateway: it holds the stream's relay and keeps the encoder running); a ladder rung
 * by a relay of its own (`audio.<id>.<rung>`), reported to the stream's owner as a user of the
 * rung, which makes the owner run it. Each rendition's packager closes {@link IDLE_MS} after its
 * own last request, so a player that moved to another rendition stops costing the one it left.
 * Players themselves are not connections and are not counted one by one.
 *
 * AAC rungs (1024-sample frames) rarely start on the 200 ms part grid: their packager starts at
 * once after {@link ALIGN_MAX_MS}, and gateways may then cut their parts differently.
 */
import { StreamRelay } from "../actors/relay/stream-relay";
import { clusterTimeOf } from "../media/clock/media-clock";
import type { Rendition } from "../media/ladder";
import { LiveCmaf, type CmafPart } from "../media/cmaf/live-cmaf";
import { DEFAULT_WINDOW, SegmentWindow } from "../media/hls/segment-window";
import { decodeAudioData } from "../media/wire";
import { AudioFlag, MEDIA_CLOCK_HZ } from "../media/wire/constants";
import type { Gateway } from "./gateway";

/** A packager with no request for this long is closed, ms. */
export const IDLE_MS = 30_000;
/** A new packager waits at most this long for the part grid before starting off it, ms. */
const ALIGN_MAX_MS = 1000;

/** AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) of AAC-LC at 48 kHz: object type 2, frequency index 3. */
function aacLcConfig(channels: number): Uint8Array {
  const v = (2 << 11) | (3 << 7) | (channels << 3);
  return new Uint8Array([v >> 8, v & 0xff]);
}

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
  /** ms since epoch of the last request for one of its files. */
  lastRequestAt = Date.now();
  /** Ends its feed (set by whoever feeds it). */
  untap: () => void = () => undefined;

  constructor(
    readonly rendition: Rendition,
    /** Cluster time (ms since the epoch) of media time `m`: EXT-X-PROGRAM-DATE-TIME, the MPD's availability start. */
    readonly programDateOf: (m: number) => number,
  ) {}

  private newMuxer(): LiveCmaf {
    const r = this.rendition;
    const cmaf: LiveCmaf = new LiveCmaf({
      codec: r.codec,
      // Opus decoders decode mono packets to stereo: a broadcaster's own packets may be either
      channels: r.codec === "opus" ? 2 : r.channels,
      sampleRate: MEDIA_CLOCK_HZ,
      partMs: DEFAULT_WINDOW.partMs,
      ...(r.codec === "aac" ? { description: aacLcConfig(r.channels) } : {}),
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

/** The renditions packaged here of one stream. */
interface StreamPackaging {
  renditions: Map<number, RenditionPackager>;
  /** The broadcast ended (its windows have EXT-X-ENDLIST); a new broadcast gets a new packaging. */
  ended: boolean;
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
  streamIds(): string[] {
    return [...this.streams.keys()];
  }

  /** The renditions of `streamId` a player may ask for: the stream's ladder as last announced, else rendition 0. */
  renditionsOf(streamId: string): Rendition[] {
    const known = this.gw.statusOf(streamId).renditions;
    return known.length > 0 ? known : [{ id: 0, codec: "opus", bitrate: this.gw.config.opusBitrate, channels: 2 }];
  }

  /** By rendition id, the ladder rungs (id ≥ 1) of `streamId` packaged here: users of the rung for the owner. */
  rungUsers(streamId: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const id of this.streams.get(streamId)?.renditions.keys() ?? []) if (id > 0) out[String(id)] = 1;
    return out;
  }

  /** The packager of `streamId`'s rendition `id` if it runs here (not made, not marked as requested). */
  packaged(streamId: string, id: number): RenditionPackager | undefined {
    return this.streams.get(streamId)?.renditions.get(id);
  }

  /**
   * The packager of `streamId`'s rendition `id`, made on first use, marked as requested now.
   * @returns undefined for a rendition the stream does not have.
   */
  rendition(streamId: string, id: number): RenditionPackager | undefined {
    const spec = this.renditionsOf(streamId).find((r) => r.id === id);
    if (!spec) return undefined;
    let s = this.streams.get(streamId);
    if (s?.ended && this.gw.isLive(streamId)) {
      this.closeStream(streamId, s);
      s = undefined;
    }
    if (!s) this.streams.set(streamId, (s = { renditions: new Map(), ended: false }));
    const packager = s.renditions.get(id) ?? this.open(streamId, s, spec);
    packager.lastRequestAt = Date.now();
    return packager;
  }

  private open(streamId: string, s: StreamPackaging, spec: Rendition): RenditionPackager {
    const { gw } = this;
    const programDateOf = (m: number): number => {
      // the tick in force at m, else the earliest known (its mapping extrapolated back)
      const ticks = gw.ticksFor(streamId);
      let tick = ticks[0];
      for (const t of ticks) if (t.validFrom <= m) tick = t;
      return tick ? clusterTimeOf(tick, m) / 1000 : Date.now();
    };
    const packager = new RenditionPackager(spec, programDateOf);
    if (spec.id === 0) {
      gw.fanout.join(streamId);
      const untap = gw.fanout.tap(streamId, (frame) => packager.push(frame));
      packager.untap = () => {
        untap();
        gw.fanout.leave(streamId);
      };
    } else {
      const relay = new StreamRelay(gw.bus, streamId, spec.id, gw.metrics, (frame) => packager.push(frame));
      packager.untap = () => relay.close();
    }
    s.renditions.set(spec.id, packager);
    gw.reportListeners(streamId);
    gw.log.info({ streamId, rendition: spec.id, codec: spec.codec, bitrate: spec.bitrate }, "packaging HLS and DASH");
    this.sweep ??= setInterval(() => this.closeIdle(), 5000).unref();
    return packager;
  }

  /** The broadcast of `streamId` ended: its windows end (players see EXT-X-ENDLIST), the packagers go when idle. */
  ended(streamId: string): void {
    const s = this.streams.get(streamId);
    if (!s) return;
    s.ended = true;
    for (const r of s.renditions.values()) r.end();
  }

  private closeIdle(): void {
    const before = Date.now() - IDLE_MS;
    for (const [streamId, s] of [...this.streams]) {
      for (const [id, r] of [...s.renditions]) if (r.lastRequestAt < before) this.closeRendition(streamId, s, id, r);
      if (s.renditions.size === 0) this.streams.delete(streamId);
    }
    if (this.streams.size === 0 && this.sweep) {
      clearInterval(this.sweep);
      this.sweep = null;
    }
  }

  private closeRendition(streamId: string, s: StreamPackaging, id: number, r: RenditionPackager): void {
    s.renditions.delete(id);
    r.untap();
    r.close();
    this.gw.reportListeners(streamId);
    this.gw.log.info({ streamId, rendition: id }, "HLS and DASH packaging closed (no request)");
  }

  private closeStream(streamId: string, s: StreamPackaging): void {
    for (const [id, r] of [...s.renditions]) this.closeRendition(streamId, s, id, r);
    this.streams.delete(streamId);
  }

  close(): void {
    for (const [streamId, s] of [...this.streams]) this.closeStream(streamId, s);
    if (this.sweep) clearInterval(this.sweep);
    this.sweep = null;
  }
}
