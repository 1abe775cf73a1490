/**
 * media/hls/segment-window.ts and media/dash/mpd.ts, fed by a real CMAF muxer (media/cmaf) with
 * 20 ms Opus frames, and 1024-sample AAC frames: numbering from the media clock, trimming, blocking waits, discontinuities,
 * the end; the playlists read back with m3u8-parser; the MPD's timeline against the window.
 */
import assert from "node:assert/strict";
import { Parser, type ParsedManifest } from "m3u8-parser";
import { LiveCmaf } from "../../media/cmaf/live-cmaf";
import { mpd } from "../../media/dash/mpd";
import { SegmentWindow } from "../../media/hls/segment-window";
import { opusFrame } from "../support/raw-socket";

function parse(text: string): ParsedManifest {
  const parser = new Parser();
  parser.push(text);
  parser.end();
  return parser.manifest;
}

const T0 = Date.UTC(2026, 11, 1, 8, 0, 0);

/** A window fed `frames` 20 ms frames from media time `from` (samples), through a real muxer; resolves once all parts are in. */
async function fed(frames: number, from = 0, w = new SegmentWindow()): Promise<{ w: SegmentWindow; cmaf: LiveCmaf }> {
  const cmaf: LiveCmaf = new LiveCmaf({ codec: "opus", channels: 2, sampleRate: 48_000, partMs: 200, onPart: (p) => w.addPart(p, cmaf.init!, T0 + p.mediaTime / 48) });
  w.startAt(Math.floor(from / 48_000));
  for (let i = 0; i < frames; i++) cmaf.push(opusFrame(i).subarray(16), from + i * 960, 960);
  await cmaf.flush();
  return { w, cmaf };
}

describe("HLS live window and DASH manifest", function () {
  it("numbers segments from the media clock, lists the last 7 with their parts, and keeps 14", async () => {
    const { w } = await fed(50 * 20, 48_000 * 100); // 20 s from media time 100 s
    const m = parse(w.playlist("?token=t"));
    assert.equal(m.mediaSequence, 113, "the last 7 of segments 100-119");
    assert.equal(m.segments.length, 7);
    assert.equal(m.segments[0]!.uri, "s113.m4s?token=t");
    assert.equal(m.segments[0]!.map?.uri, "init.mp4?token=t");
    assert.equal(m.segments[0]!.programDateTime, T0 + 113_000);
    for (const s of m.segments) assert.equal(s.duration, 1);
    assert.deepEqual(w.segments.map((s) => s.msn), Array.from({ length: 14 }, (_, i) => 106 + i), "twice the playlist kept");
    assert.equal(w.segment(105), undefined, "older ones are gone");
    assert.equal(w.segment(106)!.length, w.segments[0]!.parts.reduce((n, p) => n + p.bytes.length, 0), "a segment is its parts");
    assert.ok(w.part(119, 4), "parts of kept segments");
  });

  it("waits for a part not written yet (blocking reload), and answers false after the time-out", async () => {
    const w = new SegmentWindow();
    const { cmaf } = await fed(0, 0, w);
    void cmaf;
    const ahead = w.waitFor(0, 2, 2000);
    const late = w.waitFor(5, null, 50);
    const live: LiveCmaf = new LiveCmaf({ codec: "opus", channels: 2, sampleRate: 48_000, partMs: 200, onPart: (p) => w.addPart(p, live.init!, T0) });
    for (let i = 0; i < 31; i++) live.push(opusFrame(i).subarray(16), i * 960, 960);
    assert.equal(await ahead, true);
    assert.equal(await late, false);
    assert.equal(w.has(0, 2), true);
    assert.equal(w.has(0, null), false, "segment 0 is still open");
    assert.deepEqual(w.next(), { msn: 0, part: 3 });
    const m = parse(w.playlist());
    assert.equal(m.preloadSegment?.preloadHints?.[0]?.uri, "p0.3.m4s");
    await live.flush();
  });

  it("a discontinuity ends the open segment and is counted once it leaves the playlist; the end adds ENDLIST", async () => {
    const w = new SegmentWindow({ partsPerSegment: 5, partMs: 200, playlistSegments: 3 });
    await fed(70, 0, w); // segments 0 (1 s), 1 (0.4 s, ended by the flush's last part)
    w.discontinuity();
    const again: LiveCmaf = new LiveCmaf({ codec: "opus", channels: 2, sampleRate: 48_000, partMs: 200, onPart: (p) => w.addPart(p, again.init!, T0) });
    for (let i = 0; i < 200; i++) again.push(opusFrame(i).subarray(16), i * 960, 960);
    await again.flush();
    w.end();
    const m = parse(w.playlist());
    assert.equal(m.endList, true);
    assert.equal(m.preloadSegment, undefined);
    assert.equal(m.discontinuitySequence, 1, "the discontinuity left the playlist: counted");
    assert.equal(m.segments.length, 3);
  });

  it("AAC's 1024-sample frames (192 ms parts): segment N still starts at media time [N, N + 1) s, 60 s after an off-grid start", async () => {
    const w = new SegmentWindow();
    // w keeps 14 segments: each is looked at as it completes
    const starts: Array<[number, number]> = [];
    let checked = -1;
    const cmaf: LiveCmaf = new LiveCmaf({
      codec: "aac", channels: 2, sampleRate: 48_000, partMs: 200, description: Uint8Array.of(0x11, 0x90),
      onPart: (p) => {
        w.addPart(p, cmaf.init!, T0 + p.mediaTime / 48);
        for (const s of w.segments) if (s.complete && s.msn > checked) starts.push([s.msn, s.mediaTime / 48_000]), (checked = s.msn);
      },
    });
    const from = 48_000 * 5 + 1000;
    w.startAt(Math.floor(from / 48_000));
    for (let i = 0; i * 1024 < 60 * 48_000; i++) cmaf.push(new Uint8Array(300).fill(i & 0xff), from + i * 1024, 1024);
    await cmaf.flush();
    assert.ok(starts.length >= 55, `${starts.length} segments`);
    for (const [k, [msn, startS]] of starts.entries()) {
      assert.ok(startS >= msn && startS < msn + 1, `s${msn} starts at ${startS.toFixed(3)} s`);
      if (k > 0) assert.equal(msn, starts[k - 1]![0] + 1, "consecutive numbers");
    }
    assert.equal(parse(w.playlist("")).targetDuration, 1, "segments of 5 or 6 parts still round to 1 s");
  });

  it("the MPD numbers segments on the media clock: $Number$ = msn = media time / segment length", async () => {
    const { w } = await fed(250, 48_000 * 7);
    const newest = w.segments.filter((s) => s.complete).pop()!;
    const text = mpd({
      availabilityStartMs: T0, publishMs: T0 + 12_000, segmentSamples: 48_000, presentationDelayS: 3, windowS: 5, endS: null, utcTimingUrl: "/time",
      representations: [{ id: "r0", codecs: "opus", bandwidth: 130_000, channels: 2, initialization: "r0/init.mp4", media: "r0/s$Number$.m4s" }],
    });
    assert.match(text, /type="dynamic"/);
    assert.match(text, /availabilityStartTime="2026-12-01T08:00:00.000Z"/);
    assert.match(text, /<SegmentTemplate timescale="48000" duration="48000" startNumber="0" presentationTimeOffset="0"/);
    assert.equal(newest.msn, newest.mediaTime / 48_000, "segment N starts at media time N s");
    assert.match(text, /codecs="opus"/);
    assert.match(text, /minimumUpdatePeriod="PT1.000S"/);
    assert.match(text, /<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="\/time"\/>/);
    const ended = mpd({ availabilityStartMs: T0, publishMs: T0, segmentSamples: 48_000, presentationDelayS: 3, windowS: 5, endS: 12.2, utcTimingUrl: null, representations: [] });
    assert.match(ended, /mediaPresentationDuration="PT12.200S"/);
    assert.doesNotMatch(ended, /minimumUpdatePeriod/);
  });
});
