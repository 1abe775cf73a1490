/**
 * Restart points of ADTS AAC and FLAC (media/ingest/resume.ts), the formats Icecast sources send
 * as audio/aac(p) and audio/flac: after a restart, AAC resumes at the next ADTS sync word; FLAC
 * replays "fLaC" and its metadata blocks, then resumes at the next frame sync code, and what the
 * new ffmpeg gets decodes.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import ffmpegInstaller from "@ffmpeg-installer/ffmpeg";
import { createResumer } from "../../media/ingest/resume";

/** 2 s of a sine encoded by ffmpeg as `format` with `codec`. */
function fixture(codec: string, format: string): Uint8Array {
  const r = spawnSync(ffmpegInstaller.path, ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=f=440:d=2", "-c:a", codec, "-f", format, "-"], { maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return new Uint8Array(r.stdout);
}

/** Whether ffmpeg decodes `bytes` as `format` without an error, and how many seconds. */
function decodes(bytes: Uint8Array, format: string): number {
  const r = spawnSync(ffmpegInstaller.path, ["-hide_banner", "-v", "error", "-f", format, "-i", "-", "-f", "s16le", "-ac", "1", "-ar", "8000", "-"], { input: bytes, maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout.length / 16000;
}

const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

describe("resume: ADTS AAC and FLAC", () => {
  it("aac: passes bytes through; after a restart resumes at an ADTS sync word", () => {
    const adts = fixture("aac", "adts");
    const r = createResumer("aac");
    assert.deepEqual(concat(r.push(adts.subarray(0, 5000))), adts.subarray(0, 5000));
    assert.deepEqual(r.restart(), []);
    const after = concat(r.push(adts.subarray(5000)));
    assert.ok(after.length > 0 && after.length < adts.length - 5000);
    assert.equal(after[0], 0xff);
    assert.equal(after[1]! & 0xf6, 0xf0);
    assert.ok(decodes(after, "aac") > 1, "what follows the restart decodes");
  });

  it("flac: replays fLaC and the metadata blocks; resumes at a frame sync code; the result decodes", () => {
    const flac = fixture("flac", "flac");
    const r = createResumer("flac");
    for (let at = 0; at < 9000; at += 1000) r.push(flac.subarray(at, at + 1000));
    const header = concat(r.restart());
    assert.equal(Buffer.from(header.subarray(0, 4)).toString("latin1"), "fLaC");
    assert.ok(header.length >= 42 && header.length < 9000, `the header: ${header.length} bytes`);
    const after = concat(r.push(flac.subarray(9000)));
    assert.equal(after[0], 0xff);
    assert.ok(after[1] === 0xf8 || after[1] === 0xf9);
    assert.ok(decodes(concat([header, after]), "flac") > 1, "header + the rest decodes");
  });

  it("flac: a restart before the header is complete replays what arrived", () => {
    const flac = fixture("flac", "flac");
    const r = createResumer("flac");
    r.push(flac.subarray(0, 20));
    assert.deepEqual(concat(r.restart()), flac.subarray(0, 20));
  });
});
