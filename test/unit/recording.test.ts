/**
 * Recording's pure parts and its spool, on real files in a temporary directory: a part recorder
 * cuts segments at their length and at every gap (named in the manifest), refuses audio when the
 * spool is full (a spool_full gap), and a part whose node died is recovered after its last whole
 * page; a recording view joins parts (a segment listed twice counts once, holes take the reason of
 * the part after them); the joined whole file is one valid Ogg stream of the size its layout says.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PartRecorder } from "../../actors/recording/part-recorder";
import { recoverSpool, saveState, type PartState } from "../../actors/recording/spool";
import { readOggPackets, readOggPages } from "../../media/ogg/pages";
import { recordingView, type PartManifest, type RecordingInfo } from "../../media/recording/manifest";
import { placeSegment, wholeFileLayout } from "../../media/recording/whole-file";
import { vodEntries, vodPlaylist } from "../../media/recording/hls-vod";

const PACKET = Uint8Array.of(0xfc, 0xff, 0xfe); // 20 ms of Opus silence, stereo
const INFO: RecordingInfo = { version: 1, id: "20261202T100000Z", streamId: "s", title: "t", channels: 2, segmentSeconds: 4, startedAt: "2026-12-02T10:00:00.000Z", endedAt: null };

function newPart(dir: string, part = "p1", began: PartManifest["began"] = "start"): PartState {
  return {
    dir: path.join(dir, "s", INFO.id, part), recording: { ...INFO }, infoPending: true, open: null, uploaded: [],
    manifest: { version: 1, recordingId: INFO.id, streamId: "s", part, node: "n", began, startedAt: new Date().toISOString(), endedAt: null, segments: [], gaps: [] },
  };
}

function recorder(state: PartState, room = () => true) {
  const ready: PartState[] = [];
  let dropped = 0;
  const r = new PartRecorder(state, 4 * 48_000, { room, wrote: () => {}, ready: (s) => ready.push(s), dropped: (s) => (dropped += s), onError: (e) => assert.fail(e) });
  return { r, ready, dropped: () => dropped };
}

/** Feeds frames of 960 samples from media time `from` for `seconds`. */
function feed(r: PartRecorder, from: number, seconds: number, flags = false): number {
  let t = from;
  for (let i = 0; i < seconds * 50; i++, t += 960) r.frame(t, 960, PACKET, flags && i === 0, Date.now());
  return t;
}

describe("recording", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "veza-rec-unit-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("cuts segments every 4 s and at each gap, naming the gap; every segment file is whole Ogg/Opus", async () => {
    const state = newPart(dir);
    await saveState(state);
    const { r } = recorder(state);
    let t = feed(r, 0, 10);
    t = feed(r, t + 48_000, 3); // a 1 s hole in media time
    feed(r, t, 1, true); // an encoder restart: flagged, no hole
    await r.close();
    const segs = state.manifest.segments;
    assert.deepEqual(segs.map((s) => [s.mediaStart / 48_000, s.mediaEnd / 48_000]), [[0, 4], [4, 8], [8, 10], [11, 14], [14, 15]]);
    assert.deepEqual(state.manifest.gaps, [{ mediaFrom: 480_000, mediaTo: 528_000, reason: "unrecorded" }]);
    assert.deepEqual(segs.map((s) => s.discontinuity), [false, false, false, true, true]);
    for (const s of segs) {
      const bytes = fs.readFileSync(path.join(state.dir, `${s.n}.opus`));
      assert.equal(bytes.length, s.bytes);
      assert.equal(readOggPages(bytes).validBytes, bytes.length);
      assert.equal(readOggPackets(bytes, s.headerBytes).length, s.packets);
      assert.equal(readOggPages(bytes).pages.filter((p) => p.offset >= s.headerBytes).length, s.pages);
    }
    assert.ok(state.manifest.endedAt);
  });

  it("refuses audio while the spool is full and names the hole spool_full", async () => {
    const state = newPart(dir);
    let full = false;
    const { r, dropped } = recorder(state, () => !full);
    let t = feed(r, 0, 4); // one whole segment
    t = feed(r, t, 0.02); // the next opens before the spool fills
    full = true;
    t = feed(r, t, 5.98); // closes at 8 s, then refused from 8 s
    full = false;
    feed(r, t, 2);
    await r.close();
    assert.deepEqual(state.manifest.gaps, [{ mediaFrom: 8 * 48_000, mediaTo: 10 * 48_000, reason: "spool_full" }]);
    assert.ok(Math.abs(dropped() - 2) < 1e-9, `dropped ${dropped()} s`);
    assert.deepEqual(state.manifest.segments.map((s) => s.mediaStart / 48_000), [0, 4, 10]);
  });

  it("recovers a part whose node died mid-segment: cut after its last whole page, marked interrupted", async () => {
    const state = newPart(dir);
    await saveState(state);
    const { r } = recorder(state);
    feed(r, 0, 6); // a closed segment, and 2 s of an open one (4 pages of 25 packets)
    await new Promise((res) => setTimeout(res, 300)); // its writes reach the file
    const open = state.open!;
    fs.appendFileSync(open.file, Buffer.from("OggS\0\0garbage of a torn write"));
    const [recovered] = await recoverSpool(dir, (d, e) => assert.fail(`${d}: ${e.message}`));
    assert.ok(recovered);
    assert.equal(recovered.manifest.interrupted, true);
    assert.equal(recovered.open, null);
    assert.deepEqual(recovered.manifest.segments.map((s) => [s.mediaStart / 48_000, s.mediaEnd / 48_000]), [[0, 4], [4, 6]]);
    const bytes = fs.readFileSync(open.file);
    assert.equal(readOggPages(bytes).validBytes, bytes.length, "the torn tail is cut off");
  });

  it("a view joins parts: one segment per n, holes with the reason of the part after them; the whole file is one Ogg stream of its layout's size", async () => {
    const a = newPart(dir, "a");
    const b = newPart(dir, "b", "failover");
    const ra = recorder(a).r;
    feed(ra, 0, 5);
    await ra.close();
    const rb = recorder(b).r;
    feed(rb, 6 * 48_000, 3);
    await rb.close();
    const dup = { ...a.manifest, part: "a-again", segments: [a.manifest.segments[0]!] };
    const view = recordingView({ ...INFO, endedAt: "2026-12-02T10:01:00.000Z" }, [a.manifest, b.manifest, dup]);
    assert.equal(view.segments.length, 3);
    assert.deepEqual(view.gaps.map((g) => [g.fromS, g.seconds, g.reason]), [[5, 1, "failover"]]);
    assert.equal(view.durationS, 9);
    assert.equal(view.audioS, 8);
    const layout = wholeFileLayout(view);
    const objects = new Map<string, Uint8Array>();
    for (const [part, s] of [...a.manifest.segments.map((s) => [a, s] as const), ...b.manifest.segments.map((s) => [b, s] as const)]) objects.set(s.key, fs.readFileSync(path.join(part.dir, `${s.n}.opus`)));
    const whole = Buffer.concat(layout.pieces.map((p) => (p.kind === "bytes" ? p.bytes : placeSegment(p, objects.get(p.segment.key)!, layout.serial))));
    assert.equal(whole.length, layout.length);
    const { pages, validBytes } = readOggPages(whole);
    assert.equal(validBytes, whole.length, "every page's CRC is right");
    assert.deepEqual(pages.map((p) => p.sequence), pages.map((_, i) => i), "sequence numbers go on");
    assert.ok(pages.every((p) => p.serial === layout.serial));
    const granules = pages.filter((p) => p.granule > 0).map((p) => p.granule);
    assert.deepEqual(granules, [...granules].sort((x, y) => x - y));
    assert.equal(granules.at(-1), 9 * 48_000, "the last granule is the recording's span");
    assert.equal(pages.at(-1)!.flags & 0x04, 0x04, "an ended recording's file ends with EOS");
    assert.equal(readOggPackets(whole, pages[2]!.offset).length, 9 * 50, "8 s of packets and 1 s of silence");
    assert.throws(() => placeSegment(layout.pieces.find((p) => p.kind === "segment") as Extract<(typeof layout.pieces)[number], { kind: "segment" }>, new Uint8Array(10), layout.serial), /manifest says/);
    const entries = vodEntries(view);
    assert.deepEqual(entries.map((e) => e.uri), [`0.m4s`, `200.m4s`, `gap-240000-288000.m4s`, `300.m4s`]);
    assert.match(vodPlaylist(view, "?token=x"), /#EXTINF:1\.000,\ngap-240000-288000\.m4s\?token=x\n/);
  });
});

