/**
 * The local spool of recordings: what a stream owner has recorded and not yet uploaded, in
 * RECORD_SPOOL_DIR, so that neither an object-store outage nor the node's death loses audio.
 *
 *   <spool>/<stream>/<recording>/<part>/part.json   PartState, replaced atomically (write, fsync, rename)
 *   <spool>/<stream>/<recording>/<part>/<n>.opus    a segment, appended page by page, fsynced every second
 *
 * A part directory goes once its part has ended and all of it is uploaded. At start, {@link recoverSpool}
 * finds the parts a dead node left: a segment that was being written is cut after its last whole
 * page (ogg/pages.ts checks each page's CRC) and closed, and the part is marked interrupted.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { readOggPages } from "../../media/ogg/pages";
import { MEDIA_HZ, type PartManifest, type RecordingInfo } from "../../media/recording/manifest";

/** A segment being written. */
export interface OpenSegment {
  n: number;
  file: string;
  key: string;
  mediaStart: number;
  startedAt: string;
  headerBytes: number;
  discontinuity: boolean;
}

/** What the spool keeps of one part: its manifest (closed segments), its open segment, what is uploaded. */
export interface PartState {
  dir: string;
  manifest: PartManifest;
  open: OpenSegment | null;
  /** Segment numbers (n) already in the object store. */
  uploaded: number[];
  /** The recording's info, and whether it must be (re)written to the store (at its start and end). */
  recording: RecordingInfo;
  infoPending: boolean;
}

const STATE_FILE = "part.json";

/** Writes `state` to its directory atomically and durably. */
export async function saveState(state: PartState): Promise<void> {
  await fs.mkdir(state.dir, { recursive: true });
  const file = path.join(state.dir, STATE_FILE);
  const tmp = `${file}.tmp`;
  const { dir: _dir, ...rest } = state;
  const handle = await fs.open(tmp, "w");
  try {
    await handle.writeFile(JSON.stringify(rest));
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
}

/** Bytes of the segment files in the spool (open ones included). */
export async function spoolBytes(root: string): Promise<number> {
  let total = 0;
  for (const file of await segmentFiles(root)) total += (await fs.stat(file).catch(() => ({ size: 0 }))).size;
  return total;
}

async function segmentFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const dir of await partDirs(root)) {
    for (const name of await fs.readdir(dir).catch(() => [])) if (name.endsWith(".opus")) out.push(path.join(dir, name));
  }
  return out;
}

async function partDirs(root: string): Promise<string[]> {
  const out: string[] = [];
  const sub = async (dir: string) => (await fs.readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
  for (const stream of await sub(root)) for (const rec of await sub(stream)) out.push(...(await sub(rec)));
  return out;
}

/**
 * The parts in the spool, for upload: each one's open segment (its node died while writing it) cut
 * after its last whole page and closed, and an unended part ended as interrupted. A part whose
 * state file does not parse is left where it is and reported through `onBad`.
 */
export async function recoverSpool(root: string, onBad: (dir: string, err: Error) => void): Promise<PartState[]> {
  const out: PartState[] = [];
  for (const dir of await partDirs(root)) {
    try {
      const raw = await fs.readFile(path.join(dir, STATE_FILE), "utf8").catch((err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? null : Promise.reject(err)));
      if (raw === null) continue;
      const state = { ...(JSON.parse(raw) as Omit<PartState, "dir">), dir };
      if (state.open) await closeCutSegment(state, state.open);
      if (state.manifest.endedAt === null) {
        state.manifest.endedAt = new Date().toISOString();
        state.manifest.interrupted = true;
      }
      await saveState(state);
      out.push(state);
    } catch (err) {
      onBad(dir, err as Error);
    }
  }
  return out.sort((a, b) => a.manifest.startedAt.localeCompare(b.manifest.startedAt));
}

/** Closes a segment a dead node was writing: its whole pages kept, its end read from the last granule. */
async function closeCutSegment(state: PartState, open: OpenSegment): Promise<void> {
  state.open = null;
  const bytes = await fs.readFile(open.file).catch(() => new Uint8Array(0));
  const { pages, validBytes } = readOggPages(bytes);
  const data = pages.filter((p) => p.offset >= open.headerBytes);
  const lastGranule = [...data].reverse().find((p) => p.granule >= 0)?.granule ?? 0;
  if (data.length === 0 || lastGranule <= 0) {
    await fs.rm(open.file, { force: true });
    return;
  }
  if (validBytes < bytes.length) await fs.truncate(open.file, validBytes);
  const stat = await fs.stat(open.file);
  state.manifest.segments.push({
    n: open.n, key: open.key, mediaStart: open.mediaStart, mediaEnd: open.mediaStart + lastGranule, startedAt: open.startedAt,
    endedAt: new Date(Date.parse(open.startedAt) + (lastGranule / MEDIA_HZ) * 1000).toISOString(),
    bytes: stat.size, headerBytes: open.headerBytes, pages: data.length, packets: data.reduce((n, p) => n + p.packetsEnded, 0), discontinuity: open.discontinuity,
  });
}
