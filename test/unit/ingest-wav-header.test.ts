/**
 * parseWavHeader against WAV files ffmpeg writes (several codecs, with and without a LIST chunk)
 * and the real recording front-center.wav: the raw format it names must make ffmpeg decode the
 * data chunk's bytes to exactly what ffmpeg decodes from the WAV file itself.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { MAX_WAV_HEADER_BYTES, parseWavHeader } from "../../media/ingest/wav-header";
import { MEDIA } from "../support/node-process";
import { ffmpegOutput, removeTemp, writeTemp } from "../e2e/ingest-harness";

const SOURCE = path.join(MEDIA, "apex-aleph.ogg");
const F32 = ["-f", "f32le", "-ac", "2", "-ar", "48000"];

describe("parseWavHeader", function () {
  this.timeout(30_000);
  after(removeTemp);

  it("reads front-center.wav: s16le 48 kHz mono, samples from byte 44 to the end", () => {
    const wav = fs.readFileSync(path.join(MEDIA, "front-center.wav"));
    const info = parseWavHeader(wav);
    assert.deepEqual(info, { rawFormat: "s16le", sampleRate: 48_000, channels: 1, blockAlign: 2, dataOffset: 44, dataBytes: wav.length - 44 });
  });

  it("needs the whole header: every shorter prefix gives null, not a guess", () => {
    const wav = fs.readFileSync(path.join(MEDIA, "front-center.wav"));
    for (let n = 0; n < 44; n++) assert.equal(parseWavHeader(wav.subarray(0, n)), null, `${n} bytes`);
    assert.equal(parseWavHeader(wav.subarray(0, 44))?.dataOffset, 44);
  });

  const codecs = [
    { codec: "pcm_s16le", channels: 1, rate: 8000, raw: "s16le", block: 2 },
    { codec: "pcm_s16le", channels: 2, rate: 44_100, raw: "s16le", block: 4 },
    { codec: "pcm_s24le", channels: 2, rate: 48_000, raw: "s24le", block: 6 },
    { codec: "pcm_s32le", channels: 1, rate: 22_050, raw: "s32le", block: 4 },
    { codec: "pcm_f32le", channels: 2, rate: 32_000, raw: "f32le", block: 8 },
    { codec: "pcm_u8", channels: 1, rate: 11_025, raw: "u8", block: 1 },
    { codec: "pcm_mulaw", channels: 1, rate: 8000, raw: "mulaw", block: 1 },
    { codec: "pcm_alaw", channels: 2, rate: 8000, raw: "alaw", block: 2 },
  ] as const;

  for (const c of codecs) {
    it(`${c.codec} ${c.channels} ch ${c.rate} Hz as ffmpeg writes it: the data chunk decodes as -f ${c.raw} to what the WAV decodes to`, async () => {
      const wav = await ffmpegOutput(SOURCE, ["-ss", "30", "-t", "0.5"], ["-ac", String(c.channels), "-ar", String(c.rate), "-c:a", c.codec, "-f", "wav"]);
      const info = parseWavHeader(wav);
      assert.ok(info, "header parsed");
      assert.deepEqual({ raw: info.rawFormat, rate: info.sampleRate, channels: info.channels, block: info.blockAlign }, { raw: c.raw, rate: c.rate, channels: c.channels, block: c.block });
      assert.ok(info.dataOffset > 44, `ffmpeg's LIST chunk is skipped: data at ${info.dataOffset}`);
      const wavFile = writeTemp(`${c.codec}-${c.channels}.wav`, wav);
      const rawFile = writeTemp(`${c.codec}-${c.channels}.raw`, wav.subarray(info.dataOffset));
      const fromWav = await ffmpegOutput(wavFile, [], F32);
      const fromRaw = await ffmpegOutput(rawFile, ["-f", info.rawFormat!, "-ar", String(info.sampleRate), "-ac", String(info.channels)], F32);
      assert.ok(fromWav.length > 48_000 * 8 * 0.45, `${fromWav.length} bytes decoded`);
      assert.ok(fromWav.equals(fromRaw), `same samples (${fromWav.length} vs ${fromRaw.length} bytes)`);
    });
  }

  it("names no raw format for a codec ffmpeg must read from the container (IMA ADPCM)", async () => {
    const wav = await ffmpegOutput(SOURCE, ["-ss", "30", "-t", "0.2"], ["-ac", "1", "-ar", "8000", "-c:a", "adpcm_ima_wav", "-f", "wav"]);
    const info = parseWavHeader(wav);
    assert.equal(info?.rawFormat, null);
    assert.equal(info?.sampleRate, 8000);
  });

  it("reads WAVE_FORMAT_EXTENSIBLE's sub-format, and an open data size (a live stream) as null", () => {
    // RIFF/WAVE, "fmt " of 40 bytes: tag 0xFFFE, 2 ch, 96 kHz, block 8, 32 bits, cbSize 22, sub-format IEEE float (3)
    const h = Buffer.alloc(12 + 8 + 40 + 8);
    h.write("RIFF", 0, "latin1");
    h.writeUInt32LE(0xffff_ffff, 4);
    h.write("WAVEfmt ", 8, "latin1");
    h.writeUInt32LE(40, 16);
    h.writeUInt16LE(0xfffe, 20);
    h.writeUInt16LE(2, 22);
    h.writeUInt32LE(96_000, 24);
    h.writeUInt32LE(96_000 * 8, 28);
    h.writeUInt16LE(8, 32);
    h.writeUInt16LE(32, 34);
    h.writeUInt16LE(22, 36);
    h.writeUInt16LE(32, 38);
    h.writeUInt32LE(3, 40);
    h.writeUInt16LE(3, 44); // sub-format GUID 00000003-0000-0010-8000-00aa00389b71
    h.write("data", 60, "latin1");
    h.writeUInt32LE(0xffff_ffff, 64);
    assert.deepEqual(parseWavHeader(h), { rawFormat: "f32le", sampleRate: 96_000, channels: 2, blockAlign: 8, dataOffset: 68, dataBytes: null });
  });

  it("refuses what is not a WAV header, with the reason", () => {
    assert.throws(() => parseWavHeader(Buffer.from("OggS\0\x02\0\0\0\0\0\0")), /not a WAV stream: starts with "OggS"/);
    assert.throws(() => parseWavHeader(Buffer.from("RIFF\0\0\0\0AVI LIST")), /RIFF form "AVI "/);
    const dataFirst = Buffer.concat([Buffer.from("RIFF\0\0\0\0WAVEdata"), Buffer.alloc(4)]);
    assert.throws(() => parseWavHeader(dataFirst), /"data" chunk before its "fmt "/);
    const noData = Buffer.concat([Buffer.from("RIFF\0\0\0\0WAVE"), Buffer.from("JUNK"), Buffer.from([0xf0, 0xff, 0x0f, 0]), Buffer.alloc(MAX_WAV_HEADER_BYTES)]);
    assert.throws(() => parseWavHeader(noData), /no WAV "data" chunk in the first/);
  });
});
