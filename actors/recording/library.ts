/**
 * Reading recordings back from the object store, for playback on any node: the list of a stream's
 * recordings, one recording's view (manifest.ts recordingView), and its bytes as one Ogg/Opus file
 * (whole-file.ts). An ended recording never changes, so its view is cached.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { z } from "zod";
import { PartManifestSchema, partsPrefix, RecordingInfoSchema, recordingInfoKey, recordingsPrefix, recordingView, type PartManifest, type RecordingView } from "../../media/recording/manifest";
import { placeSegment, wholeFileLayout, type WholeFileLayout } from "../../media/recording/whole-file";
import { ObjectNotFoundError, type ByteRange, type ObjectStore } from "../../transports/objects/object-store";
import { VezaError } from "../errors";

/** One entry of GET /api/recordings. */
export interface RecordingSummary {
  id: string;
  streamId: string;
  title: string;
  startedAt: string;
  endedAt: string | null;
  /** Seconds from its first sample to its last, gaps included; and of audio. */
  durationS: number;
  audioS: number;
  segments: number;
  gaps: number;
  /** The whole recording as one Ogg/Opus file (Range requests work), its HLS VOD playlist, its manifest. */
  url: string;
  hls: string;
  manifest: string;
}

const CACHE_MAX = 256;
const MANIFEST_REREAD_MS = 200;

export class RecordingLibrary {
  private readonly ended = new Map<string, RecordingView>();

  constructor(readonly store: ObjectStore) {}

  /**
   * The recordings of `streamId`, newest first. One whose manifest is missing or does not parse is
   * left out (its own view says why); the store not answering fails the list.
   * @throws VezaError RECORDING_UNAVAILABLE.
   */
  async list(streamId: string): Promise<RecordingSummary[]> {
    const ids = await this.unavailable(() => this.store.children(recordingsPrefix(streamId)));
    const skipped = (err: unknown) => err instanceof VezaError && (err.type === "RECORDING_NOT_FOUND" || (err.data as { manifest?: string } | undefined)?.manifest !== undefined);
    const views = await Promise.all(ids.map((id) => this.view(streamId, id).catch((err: unknown) => (skipped(err) ? null : Promise.reject(err)))));
    return views.flatMap((v) => (v ? [summary(v)] : [])).reverse();
  }

  /** One recording. @throws VezaError RECORDING_NOT_FOUND, RECORDING_UNAVAILABLE. */
  async view(streamId: string, id: string): Promise<RecordingView> {
    const cached = this.ended.get(`${streamId}/${id}`);
    if (cached) return cached;
    const info = await this.json(recordingInfoKey(streamId, id), RecordingInfoSchema);
    const keys = (await this.unavailable(() => this.store.list(partsPrefix(streamId, id)))).filter((k) => k.endsWith(".json"));
    const parts: PartManifest[] = await Promise.all(keys.map((k) => this.json(k, PartManifestSchema)));
    const view = recordingView(info, parts);
    // ended, and every part ended: nothing more will come
    if (info.endedAt !== null && parts.every((p) => p.endedAt !== null)) {
      if (this.ended.size >= CACHE_MAX) this.ended.delete(this.ended.keys().next().value!);
      this.ended.set(`${streamId}/${id}`, view);
    }
    return view;
  }

  /** Where each byte of the recording's whole file comes from. */
  layout(view: RecordingView): WholeFileLayout {
    return wholeFileLayout(view);
  }

  /**
   * The bytes `range` of the whole file of `layout`, produced piece by piece: `each` is called with
   * consecutive chunks and awaited (the caller's backpressure).
   * @throws VezaError RECORDING_NOT_FOUND (a segment is gone), RECORDING_UNAVAILABLE.
   */
  async read(layout: WholeFileLayout, range: ByteRange, each: (chunk: Uint8Array) => Promise<void>): Promise<void> {
    for (const piece of layout.pieces) {
      const length = piece.kind === "bytes" ? piece.bytes.length : piece.length;
      const from = Math.max(range.start, piece.offset);
      const to = Math.min(range.end + 1, piece.offset + length);
      if (from >= to) continue;
      const bytes = piece.kind === "bytes" ? piece.bytes : placeSegment(piece, await this.get(piece.segment.key), layout.serial);
      await each(bytes.subarray(from - piece.offset, to - piece.offset));
    }
  }

  /** One object of a recording (a segment). @throws VezaError RECORDING_NOT_FOUND, RECORDING_UNAVAILABLE. */
  object(key: string): Promise<Uint8Array> {
    return this.get(key);
  }

  private async get(key: string): Promise<Uint8Array> {
    try {
      return await this.store.get(key);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) throw new VezaError("RECORDING_NOT_FOUND", `no ${key}`);
      throw new VezaError("RECORDING_UNAVAILABLE", `${this.store.location}: ${(err as Error).message}`);
    }
  }

  /**
   * A manifest (JSON of `schema`). One that does not parse is read once more after
   * MANIFEST_REREAD_MS: a store that overwrites objects in place (s3rver) can hand out one being
   * written; S3 and the DATA_DIR store replace them whole.
   * @throws VezaError RECORDING_NOT_FOUND, RECORDING_UNAVAILABLE (naming the key, and `data.manifest`, when it does not parse).
   */
  private async json<T>(key: string, schema: z.ZodType<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const text = Buffer.from(await this.get(key)).toString("utf8");
      try {
        return schema.parse(JSON.parse(text));
      } catch (err) {
        if (attempt >= 2) throw new VezaError("RECORDING_UNAVAILABLE", `${this.store.location}: ${key} is not a manifest: ${(err as Error).message.slice(0, 200)}`, { manifest: key });
        await sleep(MANIFEST_REREAD_MS);
      }
    }
  }

  private async unavailable<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw new VezaError("RECORDING_UNAVAILABLE", `${this.store.location}: ${(err as Error).message}`);
    }
  }
}

function summary(v: RecordingView): RecordingSummary {
  const base = `/recordings/${v.info.streamId}/${v.info.id}`;
  return {
    id: v.info.id, streamId: v.info.streamId, title: v.info.title, startedAt: v.info.startedAt, endedAt: v.info.endedAt,
    durationS: v.durationS, audioS: v.audioS, segments: v.segments.length, gaps: v.gaps.length,
    url: `${base}.opus`, hls: `${base}/index.m3u8`, manifest: `/api/recordings/${v.info.streamId}/${v.info.id}`,
  };
}
