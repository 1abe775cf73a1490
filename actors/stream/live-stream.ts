/**
 * One live stream's state, owned by the stream actor on the stream's owner node: lifecycle, the
 * current broadcaster, metadata, listener counts per gateway, and the media clock that stamps every
 * frame with a sequence number and media time. No I/O here; the service wires it to the bus.
 */
import type { Rendition } from "../../media/ladder";
import { clusterTimeOf, MediaClock, type ClockMapping } from "../../media/clock/media-clock";
import type { SyncTick } from "../../media/clock/playout";
import { AudioFlag, writeAudioHeader } from "../../media/wire";
import { AUDIO_HEADER_BYTES } from "../../media/wire/constants";
import type { IngestFormat, StreamInfo } from "../../media/wire/control";
import type { StreamClockState } from "../cluster/store";
import { VezaError } from "../errors";
import { RealTimePolicer, type PolicerOptions } from "./real-time-policer";

/** Who is on air. */
export interface Broadcaster {
  sessionId: string;
  nodeID: string;
  /** The user of the broadcaster's token (its `sub`). */
  sub: string;
  format: IngestFormat;
  channels: number;
  /** ms since the Unix epoch. */
  startedAt: number;
}

/** Lifecycle as a discriminated union: only a live stream has a broadcaster. */
export type Lifecycle =
  | { state: "offline" }
  | { state: "live"; broadcaster: Broadcaster }
  | { state: "ended"; endedAt: number };

/** After a resumption, frames early on the carried clock line are kept out of its estimate for this long (samples: 5 s). */
const CARRY_GUARD_SAMPLES = 5 * 48_000;

export class LiveStream {
  lifecycle: Lifecycle = { state: "offline" };
  title = "";
  metadata: Record<string, string> = {};
  /** Format of the current or last broadcaster. */
  format: IngestFormat | null = null;
  /** Listener count reported by each gateway node. */
  private readonly listenersByNode = new Map<string, number>();
  /** Of those, listeners of the source's own bytes (MP3, AAC over HTTP): they need no Opus. */
  private readonly passthroughByNode = new Map<string, number>();
  /** Of those, by node, how many use each ladder rung (rendition id ≥ 1). */
  private readonly rungUsersByNode = new Map<string, Map<number, number>>();
  /** The stream's renditions: 0 its own Opus, then the ladder's rungs (set per broadcast). */
  renditions: Rendition[] = [];
  /** Next sequence number per rendition. */
  private readonly nextSeq = new Map<number, number>();
  /** Media time of the next frame, samples at 48 kHz since the stream was created. */
  mediaTime = 0;
  /** Frames stamped (all renditions' source frames: rendition 0). */
  frames = 0;
  /** Opus payload bytes and samples (48 kHz) of the current broadcast, for its bit rate. */
  private broadcastBytes = 0;
  private broadcastSamples = 0;
  /** Set when the next frame follows a gap (new broadcaster, encoder restart). */
  private discontinuity = true;
  /** Media time → cluster time, estimated from frame arrivals (reset at every discontinuity). */
  readonly clock = new MediaClock();
  /** Playout delay listeners add to the clock mapping, ms. */
  playoutDelayMs: number;
  /** Media time of the first frame after the last clock reset: a tick is due from there. */
  private resetAt: number | null = null;
  /** Holds the broadcaster on air to real time; a new one per broadcaster. */
  policer: RealTimePolicer;
  /** The carried line and the media time until which frames early on it are kept out of the estimate. */
  private carryGuard: { mapping: ClockMapping; until: number } | null = null;
  /** Where the former owner's saved state put sequence numbers, until the first frame here. */
  private seqBase: { mediaTime: number; seq: number } | null = null;
  /** The session of the current or last broadcaster. */
  private lastSessionId: string | null = null;
  /** A clock mapping to go on from at the next frame (a re-homed or resumed broadcast), else null. */
  private carried: ClockMapping | null = null;
  /** ms since epoch the stream last had a broadcaster or listeners; for garbage collection. */
  lastActiveAt = Date.now();

  constructor(
    readonly streamId: string,
    readonly owner: string,
    playoutDelayMs: number,
    private readonly pacing: PolicerOptions = {},
  ) {
    this.playoutDelayMs = playoutDelayMs;
    this.policer = new RealTimePolicer(pacing);
  }

  /** Listeners on all gateways. */
  get listeners(): number {
    let n = 0;
    for (const count of this.listenersByNode.values()) n += count;
    return n;
  }

  /**
   * Puts `b` on air. A broadcaster reconnecting names its previous session in `resume` and takes
   * it over (its old gateway may not be known dead yet), if it is the same user (`sub`).
   * @throws VezaError BROADCASTER_EXISTS when another broadcaster is live; FORBIDDEN when `resume`
   *   names the session on air of another user.
   */
  start(b: Broadcaster, title?: string, metadata?: Record<string, string>, resume?: string): void {
    const current = this.lifecycle.state === "live" ? this.lifecycle.broadcaster : null;
    const onAir = current?.sessionId ?? null;
    if (onAir !== null && onAir !== b.sessionId && onAir !== resume) {
      throw new VezaError("BROADCASTER_EXISTS", `stream ${this.streamId} already has a broadcaster`, { streamId: this.streamId });
    }
    if (current && onAir === resume && current.sub !== b.sub) {
      throw new VezaError("FORBIDDEN", `only ${current.sub}, who is on air, may resume this session of stream ${this.streamId}`, { streamId: this.streamId, reason: "other_sub" });
    }
    // a takeover (resume) keeps its predecessor's policer: reconnecting must not refill the burst
    if (onAir === null) this.policer = new RealTimePolicer(this.pacing);
    // the same broadcast coming back (its last session resumed, e.g. after its connection was cut):
    // the same sound card, so the clock mapping goes on through the gap
    if (resume !== undefined && resume === this.lastSessionId && this.clock.samples > 0) this.carried = this.clock.mapping(this.mediaTime);
    this.lastSessionId = b.sessionId;
    this.lifecycle = { state: "live", broadcaster: b };
    this.format = b.format;
    this.broadcastBytes = 0;
    this.broadcastSamples = 0;
    if (title !== undefined) this.title = title;
    if (metadata !== undefined) this.metadata = metadata;
    this.discontinuity = true;
    this.touch();
  }

  /**
   * Goes on from where the stream's former owner left it (`state`, from the cluster store): media
   * time never goes back, and sequence numbers go on. When `sameBroadcast` (the broadcaster on air
   * there re-homed here: the same sound card) the clock mapping goes on too, so the next frame is
   * stamped with the media time its arrival has on the former owner's line, and synchronised
   * listeners hear a gap but keep their timeline (no hard resync). Call right after {@link start}.
   */
  continueFrom(state: StreamClockState, sameBroadcast: boolean): void {
    if (state.mediaTime > this.mediaTime) this.mediaTime = state.mediaTime;
    this.nextSeq.set(0, Math.max(this.nextSeq.get(0) ?? 0, state.seq));
    this.carried = sameBroadcast ? state.mapping : null;
    this.seqBase = this.carried ? { mediaTime: state.mediaTime, seq: state.seq } : null;
  }

  /** What a next owner needs to go on from here ({@link continueFrom}); null before the first frame. */
  clockState(): StreamClockState | null {
    if (this.lifecycle.state !== "live" || this.clock.samples === 0) return null;
    return { mediaTime: this.mediaTime, seq: this.nextSeq.get(0) ?? 0, sessionId: this.lifecycle.broadcaster.sessionId, mapping: this.clock.mapping(this.mediaTime) };
  }

  /** Takes broadcaster `sessionId` off air. Returns false when it was not the one on air. */
  stop(sessionId: string, reason: "stop" | "disconnect" | "error"): boolean {
    if (this.lifecycle.state !== "live" || this.lifecycle.broadcaster.sessionId !== sessionId) return false;
    this.lifecycle = reason === "stop" ? { state: "ended", endedAt: Date.now() } : { state: "offline" };
    this.touch();
    return true;
  }

  /** Whether `sessionId` is the broadcaster on air. */
  isOnAir(sessionId: string): boolean {
    return this.lifecycle.state === "live" && this.lifecycle.broadcaster.sessionId === sessionId;
  }

  /** Listeners on all gateways that hear the stream's Opus (WebSocket, Ogg, transcoded MP3 or AAC): the encoder's reason to run. */
  get opusListeners(): number {
    let passthrough = 0;
    for (const count of this.passthroughByNode.values()) passthrough += count;
    return Math.max(0, this.listeners - passthrough);
  }

  /** Ladder rungs (rendition ids ≥ 1) that someone uses, on any gateway. */
  usedRungs(): Set<number> {
    const used = new Set<number>();
    for (const byRung of this.rungUsersByNode.values()) for (const [id, n] of byRung) if (n > 0) used.add(id);
    return used;
  }

  /**
   * Records a gateway's listener count, `passthrough` of them on the source's own bytes, and its
   * users of each ladder rung (`rungs`: by rendition id); returns true when the total changed.
   */
  setListeners(nodeID: string, count: number, passthrough = 0, rungs: Record<string, number> = {}): boolean {
    const byRung = new Map(Object.entries(rungs).map(([id, n]) => [Number(id), n] as const).filter(([, n]) => n > 0));
    if (byRung.size === 0) this.rungUsersByNode.delete(nodeID);
    else this.rungUsersByNode.set(nodeID, byRung);
    const before = this.listeners;
    if (count === 0) this.listenersByNode.delete(nodeID);
    else this.listenersByNode.set(nodeID, count);
    if (passthrough === 0) this.passthroughByNode.delete(nodeID);
    else this.passthroughByNode.set(nodeID, Math.min(passthrough, count));
    this.touch();
    return before !== this.listeners;
  }

  /** Forgets the listener counts of a gateway that left the cluster. */
  dropNode(nodeID: string): boolean {
    this.passthroughByNode.delete(nodeID);
    this.rungUsersByNode.delete(nodeID);
    return this.listenersByNode.delete(nodeID);
  }

  /** Marks the next frame as following a gap (encoder restarted). */
  markDiscontinuity(): void {
    this.discontinuity = true;
  }

  /**
   * Stamps an audio.data message in place with this stream's sequence number and media time, and
   * advances the clock by the frame's duration (samples at 48 kHz). `message` must be a complete
   * audio.data message that the caller owns; `arrivalUs` is when it reached this node (cluster µs).
   */
  stamp(message: Uint8Array, rendition: number, duration: number, arrivalUs: number): Uint8Array {
    if (rendition === 0 && this.discontinuity && this.carried) this.resumeClock(this.carried, arrivalUs);
    const seq = this.nextSeq.get(rendition) ?? 0;
    this.nextSeq.set(rendition, (seq + 1) >>> 0);
    const flags = this.discontinuity ? AudioFlag.DISCONTINUITY : 0;
    writeAudioHeader(message, {
      rendition,
      flags,
      seq,
      mediaTime: this.mediaTime,
      duration,
      packet: { length: message.length - AUDIO_HEADER_BYTES },
    });
    if (rendition === 0) {
      if (this.discontinuity) {
        if (this.carried) this.carried = null;
        else this.clock.reset();
        this.resetAt = this.mediaTime;
      }
      // after a resumption, frames that came early on the carried line are the broadcaster's backlog
      // (sent in a burst on reconnecting), not a sign that its clock moved: they do not pull the floor
      const early = this.carryGuard && this.mediaTime < this.carryGuard.until && arrivalUs < clusterTimeOf(this.carryGuard.mapping, this.mediaTime);
      if (!early) this.clock.add(this.mediaTime, arrivalUs);
      this.broadcastBytes += message.length - AUDIO_HEADER_BYTES;
      this.broadcastSamples += duration;
      this.mediaTime += duration;
      this.frames++;
      this.discontinuity = false;
    }
    return message;
  }

  /**
   * Places the first frame after a re-homing on the former owner's line: the media time its
   * arrival `arrivalUs` has there, down to the 20 ms grid (so the frame lies on or above the line and
   * leaves the floor where it was), and never before the media time already reached.
   */
  private resumeClock(mapping: ClockMapping, arrivalUs: number): void {
    const onLine = mapping.anchorMediaTime + ((arrivalUs - mapping.anchorClusterUs) * mapping.rateHz) / 1e6;
    const grid = 960;
    this.mediaTime = Math.max(this.mediaTime, Math.floor(onLine / grid) * grid);
    // sequence numbers go on past the frames the former owner sent after its last save (20 ms each)
    if (this.seqBase) this.nextSeq.set(0, (this.seqBase.seq + Math.round((this.mediaTime - this.seqBase.mediaTime) / grid)) >>> 0);
    this.seqBase = null;
    this.clock.seed(mapping, this.mediaTime);
    // the frame must not lie below the line (its cluster time there is at most its arrival), else a new line
    const below = clusterTimeOf(mapping, this.mediaTime) > arrivalUs;
    if (below) this.clock.reset();
    this.carryGuard = below ? null : { mapping, until: this.mediaTime + CARRY_GUARD_SAMPLES };
  }

  /**
   * The sync tick to send now, or null: right after a clock reset (valid from the reset frame),
   * else when `periodic` (valid from `leadSamples` ahead, so every listener switches on the same
   * sample before it is played).
   */
  syncTick(periodic: boolean, leadSamples = 24_000): SyncTick | null {
    if (this.lifecycle.state !== "live" || this.clock.samples === 0) return null;
    let validFrom: number;
    if (this.resetAt !== null) {
      validFrom = this.resetAt;
      this.resetAt = null;
    } else if (periodic) validFrom = this.mediaTime + leadSamples;
    else return null;
    const mapping = this.clock.mapping(validFrom);
    return mapping ? { ...mapping, validFrom, playoutDelayMs: this.playoutDelayMs } : null;
  }

  touch(): void {
    this.lastActiveAt = Date.now();
  }

  /** Public view (JSON-safe). */
  info(): StreamInfo {
    const live = this.lifecycle.state === "live" ? this.lifecycle.broadcaster : null;
    return {
      streamId: this.streamId,
      state: this.lifecycle.state,
      title: this.title,
      metadata: this.metadata,
      format: this.format,
      listeners: this.listeners,
      startedAt: live ? new Date(live.startedAt).toISOString() : null,
      frames: this.frames,
      mediaTime: this.mediaTime,
      bitrate: live && this.broadcastSamples > 0 ? Math.round((this.broadcastBytes * 8 * 48_000) / this.broadcastSamples) : 0,
      owner: this.owner,
      renditions: this.renditions,
    };
  }
}
