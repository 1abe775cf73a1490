/**
 * media/hls/playlist.ts read back with m3u8-parser (the parser hls.js's sibling video.js uses),
 * and checked against the rules Apple's validator applies: target duration, media sequence and
 * part continuity, part durations against the part target, CODECS and BANDWIDTH.
 */
import assert from "node:assert/strict";
import { Parser, type ParsedManifest } from "m3u8-parser";
import { mediaPlaylist, multivariantPlaylist, type PlaylistSegment } from "../../media/hls/playlist";

function parse(text: string): { manifest: ParsedManifest; warnings: string[] } {
  const parser = new Parser();
  const warnings: string[] = [];
  parser.on("warn", (w) => warnings.push(w.message));
  parser.push(text);
  parser.end();
  return { manifest: parser.manifest, warnings };
}

const T0 = Date.UTC(2026, 11, 1, 8, 0, 0);

/** A window of `count` segments of 5 × 200 ms parts from `msn`, the last one `lastParts` parts in (0: complete). */
function window(msn: number, count: number, lastParts = 0): PlaylistSegment[] {
  return Array.from({ length: count }, (_, i) => {
    const n = msn + i;
    const open = i === count - 1 && lastParts > 0;
    const parts = Array.from({ length: open ? lastParts : 5 }, (_, k) => ({ duration: 0.2, uri: `part-${n}-${k}.m4s`, independent: true }));
    return { msn: n, programDateMs: T0 + n * 1000, parts, complete: open ? null : { uri: `seg-${n}.m4s`, duration: 1 }, discontinuity: false };
  });
}

describe("HLS playlists (LL-HLS)", function () {
  it("a live media playlist: target duration, server control, part info, map, date-times, parts of the last 3 s, preload hint", () => {
    const text = mediaPlaylist({ segments: window(40, 7, 3), partTarget: 0.2, initUri: "init.mp4", preloadHint: "part-46-3.m4s", ended: false, discontinuitySequence: 0 });
    const { manifest, warnings } = parse(text);
    assert.deepEqual(warnings, []);
    assert.equal(manifest.targetDuration, 1);
    assert.equal(manifest.mediaSequence, 40);
    assert.equal(manifest.partInf?.partTarget, 0.2);
    assert.equal(manifest.serverControl?.canBlockReload, true);
    assert.ok((manifest.serverControl?.partHoldBack ?? 0) >= 0.6, "PART-HOLD-BACK at least 3 part targets");
    assert.equal(manifest.segments.length, 6, "the complete segments");
    assert.equal(manifest.segments[0]!.map?.uri, "init.mp4");
    manifest.segments.forEach((s, i) => {
      assert.equal(s.uri, `seg-${40 + i}.m4s`);
      assert.ok(s.duration <= manifest.targetDuration!, "EXTINF within the target duration");
      assert.equal(s.programDateTime, T0 + (40 + i) * 1000);
    });
    // parts: only for the segments of the last 3 target durations (44, 45 and the open 46)
    const withParts = manifest.segments.filter((s) => (s.parts?.length ?? 0) > 0).map((s) => s.uri);
    assert.deepEqual(withParts, ["seg-44.m4s", "seg-45.m4s"]);
    for (const s of manifest.segments) for (const part of s.parts ?? []) assert.ok(part.duration <= 0.2 && part.duration >= 0.85 * 0.2, "part durations within 85-100 % of the target");
    assert.deepEqual(manifest.preloadSegment?.parts?.map((p) => p.uri), ["part-46-0.m4s", "part-46-1.m4s", "part-46-2.m4s"]);
    assert.deepEqual(manifest.preloadSegment?.preloadHints?.map((h) => [h.type, h.uri]), [["PART", "part-46-3.m4s"]]);
    assert.equal(manifest.endList, undefined);
  });

  it("an ended stream: EXT-X-ENDLIST and no preload hint; a discontinuity is marked and counted", () => {
    const segments = window(10, 4);
    segments[2]!.discontinuity = true;
    const text = mediaPlaylist({ segments, partTarget: 0.2, initUri: "init.mp4", preloadHint: "part-14-0.m4s", ended: true, discontinuitySequence: 2 });
    const { manifest, warnings } = parse(text);
    assert.deepEqual(warnings, []);
    assert.equal(manifest.endList, true);
    assert.equal(manifest.preloadSegment, undefined);
    assert.equal(manifest.discontinuitySequence, 2);
    assert.deepEqual(manifest.segments.map((s) => s.timeline), [2, 2, 3, 3]);
    assert.ok(!text.includes("PRELOAD-HINT"));
  });

  it("refuses an empty window", () => {
    assert.throws(() => mediaPlaylist({ segments: [], partTarget: 0.2, initUri: "init.mp4", preloadHint: null, ended: false, discontinuitySequence: 0 }), /at least one segment/);
  });

  it("the multivariant playlist lists each rendition with BANDWIDTH and CODECS, best first", () => {
    const text = multivariantPlaylist([
      { bandwidth: 64_000, codecs: "opus", uri: "1/media.m3u8" },
      { bandwidth: 128_000, codecs: "opus", uri: "0/media.m3u8" },
      { bandwidth: 128_000, codecs: "mp4a.40.2", uri: "3/media.m3u8" },
    ]);
    const { manifest, warnings } = parse(text);
    assert.deepEqual(warnings, []);
    assert.deepEqual(manifest.playlists?.map((p) => [p.uri, p.attributes.BANDWIDTH, p.attributes.CODECS]), [
      ["0/media.m3u8", 128_000, "opus"],
      ["3/media.m3u8", 128_000, "mp4a.40.2"],
      ["1/media.m3u8", 64_000, "opus"],
    ]);
  });
});
