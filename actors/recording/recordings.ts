/**
 * The recordings of the streams this node owns: which are recorded, their parts being written, the
 * spool and its upload. The stream actor drives it (actors/stream/service.ts): {@link onLive} when a
 * stream goes live here, {@link frame} with each stamped frame, {@link offAir} when it goes off air.
 *
 * A stream is recorded when its broadcaster asked (stream.start `record`), when RECORD_STREAMS names
 * it, or when an admin turned it on; the recording it goes into is kept in the cluster store
 * (`recording:<stream>`), so that the next owner after a failover, or the broadcaster coming back,
 * goes on with the same recording in a new part. The recording ends when the stream ends (the
 * broadcaster's stop, or an operator's end) or an admin turns recording off.
 */
import path from "node:path";
import { decodeAudioData } from "../../media/wire";
import { AudioFlag } from "../../media/wire/constants";
import { MEDIA_HZ, recordingIdAt, type RecordingInfo } from "../../media/recording/manifest";
import type { ObjectStore } from "../../transports/objects/object-store";
import { resolveDataDir } from "../auth/default-key";
import type { NodeContext } from "../node-context";
import type { LiveStream } from "../stream/live-stream";
import { PartRecorder } from "./part-recorder";
import { recoverSpool, saveState, spoolBytes, type PartState } from "./spool";
import { Uploader } from "./uploader";

/** How long the cluster store keeps an open recording with nobody renewing it (ms): a broadcaster away longer starts a new one. */
const RECORDING_TTL_MS = 3_600_000;

export type PartBegan = "start" | "resume" | "failover";

export class Recordings {
  readonly spoolDir: string;
  private readonly maxBytes: number;
  private used = 0;
  private readonly active = new Map<string, { recorder: PartRecorder; info: RecordingInfo }>();
  private readonly uploader: Uploader;
  private readonly log;
  private renewTimer: NodeJS.Timeout | null = null;

  constructor(private readonly node: NodeContext, readonly objects: ObjectStore) {
    this.log = node.log.child({ mod: "recording" });
    this.spoolDir = path.resolve(node.config.recordSpoolDir ?? path.join(resolveDataDir(node.config), "spool"));
    this.maxBytes = node.config.recordSpoolMaxMb * 1024 * 1024;
    this.uploader = new Uploader(objects, node.metrics, this.log, (bytes) => this.account(-bytes));
  }

  /** Uploads what a former run of this node left in the spool. */
  async start(): Promise<void> {
    const left = await recoverSpool(this.spoolDir, (dir, err) => this.log.error({ dir, err: err.message }, "spooled recording part unreadable; left in place"));
    this.account(await spoolBytes(this.spoolDir));
    for (const state of left) this.uploader.add(state);
    if (left.length) this.log.info({ parts: left.length, bytes: this.used, spool: this.spoolDir }, "uploading recordings left in the spool");
    this.renewTimer = setInterval(() => {
      for (const [streamId, a] of this.active) void this.node.store.saveRecording(streamId, a.info, RECORDING_TTL_MS).catch(() => undefined);
    }, 60_000);
    this.renewTimer.unref();
  }

  /** Closes the parts being recorded (their recordings go on with the next owner) and stops uploading. */
  async stop(): Promise<void> {
    if (this.renewTimer) clearInterval(this.renewTimer);
    await Promise.all([...this.active.keys()].map((id) => this.offAir(id, false)));
    this.uploader.stop();
  }

  /** Waits until the spool is uploaded (tests, shutdown); true when it is. */
  drained(timeoutMs: number): Promise<boolean> {
    return this.uploader.drained(timeoutMs);
  }

  /** The recording `streamId` is being recorded into here, or null. */
  status(streamId: string): RecordingInfo | null {
    return this.active.get(streamId)?.info ?? null;
  }

  /**
   * `stream` went live on this node: records it if asked (`record`), if RECORD_STREAMS names it,
   * or if it is already being recorded (in the cluster store: the next part). `began` says why a
   * part after the first begins (failover: another node had the stream).
   */
  async onLive(stream: LiveStream, o: { record?: boolean; began: PartBegan }): Promise<void> {
    const listed = this.node.config.recordStreams;
    const configured = listed === "*" || (listed?.split(",").includes(stream.streamId) ?? false);
    const existing = await this.node.store.loadRecording(stream.streamId).catch((err: unknown) => {
      this.log.warn({ err, streamId: stream.streamId }, "cluster store unreachable: the stream's recording state is unknown");
      return null;
    });
    if (!existing && !o.record && !configured) return;
    await this.begin(stream, existing, existing ? (o.began === "start" ? "resume" : o.began) : "start");
  }

  /**
   * Turns recording of live `stream` on (a new recording, or the one it is in) or off (its
   * recording ends). Returns the recording, or null when off.
   */
  async set(stream: LiveStream, on: boolean): Promise<RecordingInfo | null> {
    if (!on) {
      await this.offAir(stream.streamId, true);
      await this.node.store.saveRecording(stream.streamId, null, 0);
      return null;
    }
    const current = this.active.get(stream.streamId);
    if (current) return current.info;
    const existing = await this.node.store.loadRecording(stream.streamId);
    return this.begin(stream, existing, existing ? "resume" : "start");
  }

  /** One stamped audio.data message of rendition 0 of `streamId` (not kept). */
  frame(streamId: string, message: Uint8Array): void {
    const a = this.active.get(streamId);
    if (!a) return;
    const f = decodeAudioData(message);
    a.recorder.frame(f.mediaTime, f.duration, f.packet, (f.flags & AudioFlag.DISCONTINUITY) !== 0, Date.now());
  }

  /**
   * `streamId` went off air here: its part is closed. `ended` (the broadcaster stopped, an
   * operator ended it, recording turned off): the recording ends too.
   */
  async offAir(streamId: string, ended: boolean): Promise<void> {
    const a = this.active.get(streamId);
    if (!a) return;
    this.active.delete(streamId);
    this.node.metrics.recordingsActive.set(this.active.size);
    if (ended) {
      a.info.endedAt = new Date().toISOString();
      a.recorder.state.recording = a.info;
      a.recorder.state.infoPending = true;
      await this.node.store.saveRecording(streamId, null, 0).catch((err: unknown) => this.log.warn({ err, streamId }, "recording end not saved in the cluster store"));
    }
    await a.recorder.close();
    this.log.info({ streamId, recording: a.info.id, part: a.recorder.state.manifest.part, ended }, ended ? "recording ended" : "recording part ended");
  }

  private async begin(stream: LiveStream, existing: RecordingInfo | null, began: PartBegan): Promise<RecordingInfo> {
    const now = Date.now();
    const info: RecordingInfo = existing ?? {
      version: 1, id: recordingIdAt(now), streamId: stream.streamId, title: stream.title, channels: stream.lifecycle.state === "live" && stream.lifecycle.broadcaster.channels === 1 ? 1 : 2,
      segmentSeconds: this.node.config.recordSegmentS, startedAt: new Date(now).toISOString(), endedAt: null,
    };
    await this.node.store.saveRecording(stream.streamId, info, RECORDING_TTL_MS);
    const part = `${now}-${this.node.config.nodeId}`;
    const state: PartState = {
      dir: path.join(this.spoolDir, stream.streamId, info.id, part),
      manifest: { version: 1, recordingId: info.id, streamId: stream.streamId, part, node: this.node.config.nodeId, began, startedAt: new Date(now).toISOString(), endedAt: null, segments: [], gaps: [] },
      open: null, uploaded: [], recording: info, infoPending: existing === null,
    };
    await saveState(state);
    const recorder = new PartRecorder(state, info.segmentSeconds * MEDIA_HZ, {
      room: (bytes) => this.used + bytes <= this.maxBytes,
      wrote: (bytes) => this.account(bytes),
      ready: (s) => this.uploader.add(s),
      dropped: (seconds) => this.node.metrics.recordingDropped.inc(seconds),
      onError: (err) => this.log.error({ err: err.message, streamId: stream.streamId }, "recording spool write failed"),
    });
    this.active.get(stream.streamId)?.recorder.close().catch(() => undefined);
    this.active.set(stream.streamId, { recorder, info });
    this.node.metrics.recordingsActive.set(this.active.size);
    if (state.infoPending) this.uploader.add(state);
    this.log.info({ streamId: stream.streamId, recording: info.id, part, began }, began === "start" ? "recording started" : "recording goes on in a new part");
    return info;
  }

  private account(delta: number): void {
    this.used = Math.max(0, this.used + delta);
    this.node.metrics.recordingSpoolBytes.set(this.used);
  }
}
