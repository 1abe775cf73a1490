import { strict as assert } from "node:assert";
import {
  AUDIO_HEADER_BYTES,
  AudioFlag,
  decodeAudioData,
  encodeAudioData,
  MAX_AUDIO_MESSAGE_BYTES,
  MAX_MEDIA_TIME,
  MAX_OPUS_PACKET_BYTES,
  MessageType,
  PROTOCOL_VERSION,
  WireError,
  writeAudioHeader,
  type AudioFrame,
  type WireErrorReason,
} from "../../media/wire";

/** Asserts that `fn` throws a WireError with `reason`. */
function throwsWire(fn: () => unknown, reason: WireErrorReason, what: string): void {
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(err instanceof WireError, `${what}: expected a WireError, got ${String(err)}`);
      assert.equal(err.name, "WireError");
      assert.equal(err.reason, reason, `${what}: reason`);
      return true;
    },
    what,
  );
}

/** A packet of `n` bytes whose content depends on its position (so a shifted copy is visible). */
function packetOf(n: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + 7) & 0xff;
  return p;
}

const frame = (over: Partial<AudioFrame> = {}): AudioFrame => ({
  rendition: 0,
  flags: 0,
  seq: 0,
  mediaTime: 0,
  duration: 960,
  packet: packetOf(40),
  ...over,
});

/** A valid 16-byte header followed by `packetBytes` bytes, built by hand (not by the encoder). */
function handMade(packetBytes: number, header: Partial<{ version: number; type: number; duration: number }> = {}): Uint8Array {
  const out = new Uint8Array(AUDIO_HEADER_BYTES + packetBytes);
  out[0] = header.version ?? 1;
  out[1] = header.type ?? 0x01;
  const duration = header.duration ?? 960;
  out[14] = duration >> 8;
  out[15] = duration & 0xff;
  out.set(packetOf(packetBytes), AUDIO_HEADER_BYTES);
  return out;
}

describe("wire constants", () => {
  it("are those of docs/protocol.md: version 1, type 0x01, 16-byte header, 7650-byte packets", () => {
    assert.equal(PROTOCOL_VERSION, 1);
    assert.equal(MessageType.AUDIO_DATA, 0x01);
    assert.equal(AudioFlag.DISCONTINUITY, 0x01);
    assert.equal(AUDIO_HEADER_BYTES, 16);
    assert.equal(MAX_OPUS_PACKET_BYTES, 7650);
    assert.equal(MAX_AUDIO_MESSAGE_BYTES, 16 + 7650);
    assert.equal(MAX_MEDIA_TIME, 2 ** 48 - 1);
  });
});

describe("audio.data encode/decode", () => {
  it("matches a golden byte vector (big-endian, u48 media time)", () => {
    const bytes = encodeAudioData({
      rendition: 2,
      flags: AudioFlag.DISCONTINUITY,
      seq: 0x01020304,
      mediaTime: 0x0a0b0c0d0e0f,
      duration: 960,
      packet: new Uint8Array([0xfc, 0xff, 0xfe]),
    });
    // prettier-ignore
    const golden = [
      0x01, // version
      0x01, // type audio.data
      0x02, // rendition
      0x01, // flags: discontinuity
      0x01, 0x02, 0x03, 0x04, // seq
      0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, // media time, u48
      0x03, 0xc0, // duration 960
      0xfc, 0xff, 0xfe, // Opus packet
    ];
    assert.deepEqual([...bytes], golden);
    const back = decodeAudioData(new Uint8Array(golden));
    assert.deepEqual({ ...back, packet: [...back.packet] }, {
      rendition: 2, flags: 1, seq: 0x01020304, mediaTime: 0x0a0b0c0d0e0f, duration: 960, packet: [0xfc, 0xff, 0xfe],
    });
  });

  const cases: [string, Partial<AudioFrame>][] = [
    ["all zero but the duration", { duration: 1 }],
    ["a typical 20 ms frame", { rendition: 0, flags: 0, seq: 12345, mediaTime: 12345 * 960, duration: 960 }],
    ["rendition 255 and every flag bit", { rendition: 255, flags: 0xff }],
    ["seq 2^32-1", { seq: 2 ** 32 - 1 }],
    ["media time 2^48-1", { mediaTime: 2 ** 48 - 1 }],
    ["media time just over 2^32", { mediaTime: 2 ** 32 + 1 }],
    ["media time with both halves set", { mediaTime: 0xfedcba987654 }],
    ["duration 65535", { duration: 0xffff }],
    ["120 ms", { duration: 5760 }],
    ["a 1-byte packet", { packet: new Uint8Array([0xf8]) }],
    ["the largest packet, 7650 bytes", { packet: packetOf(7650) }],
  ];
  for (const [name, over] of cases) {
    it(`round-trips ${name}`, () => {
      const f = frame(over);
      const bytes = encodeAudioData(f);
      assert.equal(bytes.length, AUDIO_HEADER_BYTES + f.packet.length);
      const back = decodeAudioData(bytes);
      assert.equal(back.rendition, f.rendition);
      assert.equal(back.flags, f.flags);
      assert.equal(back.seq, f.seq);
      assert.equal(back.mediaTime, f.mediaTime);
      assert.equal(back.duration, f.duration);
      assert.deepEqual(Buffer.from(back.packet), Buffer.from(f.packet));
    });
  }

  it("decodes a message inside a larger buffer (non-zero byteOffset) and returns the packet as a view", () => {
    const message = encodeAudioData(frame({ seq: 77, mediaTime: 2 ** 40 + 3 }));
    const big = new Uint8Array(message.length + 20);
    big.set(message, 9);
    const inside = big.subarray(9, 9 + message.length);
    const back = decodeAudioData(inside);
    assert.equal(back.seq, 77);
    assert.equal(back.mediaTime, 2 ** 40 + 3);
    assert.deepEqual(Buffer.from(back.packet), Buffer.from(packetOf(40)));
    assert.equal(back.packet.buffer, big.buffer, "packet is a view, not a copy");
    assert.equal(back.packet.byteOffset, 9 + AUDIO_HEADER_BYTES);
  });

  it("writeAudioHeader re-stamps a message in place and leaves the packet alone", () => {
    const packet = packetOf(100);
    const message = encodeAudioData(frame({ packet, seq: 1, mediaTime: 960 }));
    const before = message.buffer;
    writeAudioHeader(message, { rendition: 3, flags: AudioFlag.DISCONTINUITY, seq: 2 ** 32 - 1, mediaTime: 2 ** 48 - 1, duration: 1920, packet: { length: packet.length } });
    assert.equal(message.buffer, before);
    const back = decodeAudioData(message);
    assert.deepEqual([back.rendition, back.flags, back.seq, back.mediaTime, back.duration], [3, 1, 2 ** 32 - 1, 2 ** 48 - 1, 1920]);
    assert.deepEqual(Buffer.from(back.packet), Buffer.from(packet));
  });

  it("writeAudioHeader writes at the view's offset, not at the start of its ArrayBuffer", () => {
    const message = encodeAudioData(frame({ packet: packetOf(10) }));
    const big = new Uint8Array(5 + message.length + 5).fill(0xaa);
    big.set(message, 5);
    const view = big.subarray(5, 5 + message.length);
    writeAudioHeader(view, { rendition: 1, flags: 0, seq: 0x11223344, mediaTime: 5, duration: 480, packet: { length: 10 } });
    assert.deepEqual([...big.subarray(0, 5)], [0xaa, 0xaa, 0xaa, 0xaa, 0xaa], "bytes before the view untouched");
    assert.deepEqual([...big.subarray(big.length - 5)], [0xaa, 0xaa, 0xaa, 0xaa, 0xaa], "bytes after the view untouched");
    const back = decodeAudioData(view);
    assert.deepEqual([back.rendition, back.seq, back.mediaTime, back.duration], [1, 0x11223344, 5, 480]);
  });
});

describe("audio.data decoder rejects", () => {
  it("messages of 0 to 16 bytes (no packet) with TOO_SHORT", () => {
    for (let n = 0; n <= AUDIO_HEADER_BYTES; n++) {
      const bytes = handMade(0).subarray(0, n);
      throwsWire(() => decodeAudioData(bytes), "TOO_SHORT", `${n} bytes`);
    }
    assert.equal(decodeAudioData(handMade(1)).packet.length, 1, "17 bytes is the smallest message");
  });

  it("messages over 16 + 7650 bytes with TOO_LONG", () => {
    assert.equal(decodeAudioData(handMade(7650)).packet.length, 7650);
    throwsWire(() => decodeAudioData(handMade(7651)), "TOO_LONG", "7651-byte packet");
    throwsWire(() => decodeAudioData(handMade(64 * 1024)), "TOO_LONG", "64 KiB packet");
  });

  it("versions other than 1 with UNKNOWN_VERSION", () => {
    for (const version of [0, 2, 0x7f, 0xff]) throwsWire(() => decodeAudioData(handMade(10, { version })), "UNKNOWN_VERSION", `version ${version}`);
  });

  it("types other than 0x01 with UNKNOWN_TYPE", () => {
    for (const type of [0x00, 0x02, 0x80, 0xff]) throwsWire(() => decodeAudioData(handMade(10, { type })), "UNKNOWN_TYPE", `type ${type}`);
  });

  it("a zero duration with BAD_FIELD", () => {
    throwsWire(() => decodeAudioData(handMade(10, { duration: 0 })), "BAD_FIELD", "duration 0");
    assert.equal(decodeAudioData(handMade(10, { duration: 1 })).duration, 1);
  });
});

describe("audio.data encoder rejects", () => {
  const bad: [keyof Omit<AudioFrame, "packet">, number][] = [
    ["rendition", -1], ["rendition", 256], ["rendition", 1.5], ["rendition", Number.NaN],
    ["flags", -1], ["flags", 256], ["flags", 0.5],
    ["seq", -1], ["seq", 2 ** 32], ["seq", 1.25], ["seq", Number.POSITIVE_INFINITY],
    ["mediaTime", -1], ["mediaTime", 2 ** 48], ["mediaTime", 960.5], ["mediaTime", Number.NaN],
    ["duration", -1], ["duration", 65536], ["duration", 959.9],
  ];
  for (const [field, value] of bad) {
    it(`${field} = ${value} with BAD_FIELD naming the field`, () => {
      const f = frame({ [field]: value });
      throwsWire(() => encodeAudioData(f), "BAD_FIELD", `${field}=${value}`);
      assert.throws(() => encodeAudioData(f), (err: Error) => err.message.startsWith(`${field}:`));
      const target = encodeAudioData(frame());
      const copy = new Uint8Array(target);
      throwsWire(() => writeAudioHeader(target, { ...f, packet: { length: 40 } }), "BAD_FIELD", `writeAudioHeader ${field}=${value}`);
      assert.deepEqual(target, copy, "a refused header is not half written");
    });
  }

  it("an empty packet with TOO_SHORT and a 7651-byte packet with TOO_LONG", () => {
    throwsWire(() => encodeAudioData(frame({ packet: new Uint8Array(0) })), "TOO_SHORT", "empty packet");
    throwsWire(() => encodeAudioData(frame({ packet: new Uint8Array(7651) })), "TOO_LONG", "7651 bytes");
    assert.equal(encodeAudioData(frame({ packet: new Uint8Array(7650) })).length, MAX_AUDIO_MESSAGE_BYTES);
  });
});
