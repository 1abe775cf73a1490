/**
 * The Icecast port's pure parts: the request-head parser and its limits, mounts, content types,
 * Basic passwords, ice-* metadata, the status JSON's one-or-many shape, and ICY metadata blocks.
 */
import { strict as assert } from "node:assert";
import { HEAD_LIMITS, HeadError, parseHead } from "../../transports/icecast/head";
import { basicPassword, formatOfContentType, iceMetadata, iceResponse, mountToStreamId, statusJson, type IcecastSourceStatus } from "../../transports/icecast/protocol";
import { IcyInterleaver, icyBlock } from "../../media/icy/icy-interleaver";

const refused = (text: string | Buffer, status: number) =>
  assert.throws(() => parseHead(Buffer.isBuffer(text) ? text : Buffer.from(text, "latin1")), (e: unknown) => e instanceof HeadError && e.status === status, `${status}: ${String(text).slice(0, 40)}`);

describe("icecast: request heads", () => {
  it("parses ffmpeg's PUT and libshout's SOURCE, with the body's first bytes left after the head", () => {
    const put = Buffer.from("PUT /radio.mp3 HTTP/1.1\r\nContent-Type: audio/mpeg\r\nExpect: 100-continue\r\nIce-Name: x\r\nIce-Name: y\r\n\r\n\xff\xfb", "latin1");
    const head = parseHead(put)!;
    assert.equal(head.method, "PUT");
    assert.equal(head.target, "/radio.mp3");
    assert.equal(head.headers.expect, "100-continue");
    assert.equal(head.headers["ice-name"], "x, y");
    assert.deepEqual([...put.subarray(head.length)], [0xff, 0xfb]);
    assert.equal(parseHead(Buffer.from("SOURCE /live HTTP/1.0\nAuthorization: Basic eDp5\n\n"))!.headers.authorization, "Basic eDp5");
  });

  it("waits for an incomplete head, and refuses past the limits", () => {
    assert.equal(parseHead(Buffer.from("SOURCE /radio HTTP/1.0\r\nX: y\r\n")), null);
    refused("GET / HTTP/1.1\r\nX: " + "a".repeat(HEAD_LIMITS.MAX_HEAD_BYTES) + "\r\n\r\n", 431);
    refused("GET / HTTP/1.1\r\nX: " + "a".repeat(HEAD_LIMITS.MAX_HEAD_BYTES), 431);
    refused("GET / HTTP/1.1\r\n" + "X: y\r\n".repeat(HEAD_LIMITS.MAX_HEADERS + 1) + "\r\n", 431);
  });

  it("refuses garbage, other versions and methods with the right status", () => {
    refused(Buffer.from([0x16, 0x03, 0x01, 0, 0xff, 13, 10, 13, 10]), 400);
    refused("GET /\r\n\r\n", 400);
    refused("GET / HTTP/2.0\r\n\r\n", 505);
    refused("DELETE /radio HTTP/1.1\r\n\r\n", 405);
    refused("GET radio HTTP/1.1\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\n folded\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 400);
  });
});

describe("icecast: protocol", () => {
  it("a mount is its stream id with the extension stripped", () => {
    assert.equal(mountToStreamId("/radio"), "radio");
    assert.equal(mountToStreamId("/radio.mp3"), "radio");
    assert.equal(mountToStreamId("/radio.ogg?x=1"), "radio");
    assert.equal(mountToStreamId("/a/b"), null);
    assert.equal(mountToStreamId("/"), null);
    assert.equal(mountToStreamId("/%zz"), null);
    assert.equal(mountToStreamId("radio"), null);
  });

  it("content types, Basic passwords, ice-* headers", () => {
    assert.equal(formatOfContentType("audio/mpeg"), "mp3");
    assert.equal(formatOfContentType("Application/Ogg; charset=x"), "ogg");
    assert.equal(formatOfContentType("audio/aacp"), "aac");
    assert.equal(formatOfContentType("audio/flac"), "flac");
    assert.equal(formatOfContentType("audio/webm"), "webm");
    assert.equal(formatOfContentType("video/mp4"), null);
    assert.equal(formatOfContentType(undefined), null);
    assert.equal(basicPassword(`Basic ${Buffer.from("source:a:b.c").toString("base64")}`), "a:b.c");
    assert.equal(basicPassword("Bearer x"), undefined);
    assert.equal(basicPassword(undefined), undefined);
    const { title, metadata } = iceMetadata({ "ice-name": "Station", "ice-genre": "jazz", "icy-pub": "1" }, "radio");
    assert.equal(title, "Station");
    assert.deepEqual(metadata, { name: "Station", genre: "jazz", public: "1" });
    assert.equal(iceMetadata({}, "radio").title, "radio");
    assert.equal(iceResponse("a<b", false), '<?xml version="1.0"?>\n<iceresponse><message>a&lt;b</message><return>0</return></iceresponse>\n');
  });

  it("status JSON: one source is an object, several a list, none no key (Icecast's XSLT)", () => {
    const s = { listenurl: "http://h:8000/a", listeners: 1, listener_peak: 2, server_name: "A", server_description: "", genre: "", title: "t", bitrate: 128, server_type: "audio/ogg", stream_start_iso8601: "" } satisfies IcecastSourceStatus;
    const parse = (sources: IcecastSourceStatus[]) => (JSON.parse(statusJson({ admin: "a", host: "h", location: "l", serverStart: new Date(0), sources })) as { icestats: Record<string, unknown> }).icestats;
    assert.equal("source" in parse([]), false);
    assert.deepEqual(parse([s]).source, s);
    assert.deepEqual(parse([s, s]).source, [s, s]);
  });
});

describe("icecast: ICY metadata", () => {
  it("a block is a length byte and StreamTitle='…'; padded to 16 bytes", () => {
    const b = icyBlock("Hi");
    assert.equal(b[0], 2);
    assert.equal(b.length, 33);
    assert.equal(Buffer.from(b.subarray(1)).toString("latin1"), "StreamTitle='Hi';" + "\0".repeat(15));
  });

  it("interleaves a block every metaint bytes; an unchanged title is the empty block", () => {
    const icy = new IcyInterleaver(10);
    const out = Buffer.concat([...icy.write(new Uint8Array(7).fill(1), "A"), ...icy.write(new Uint8Array(17).fill(2), "A"), ...icy.write(new Uint8Array(1).fill(3), "B")]);
    // 10 audio bytes, block "A" (StreamTitle='A'; is 16 bytes: 1 × 16), 10 audio bytes, empty block, 4 + 1 audio bytes
    assert.equal(out[10], 1);
    const afterA = 10 + 17;
    assert.deepEqual([...out.subarray(afterA, afterA + 10)], Array(10).fill(2));
    assert.equal(out[afterA + 10], 0);
    assert.equal(out.length, 10 + 17 + 10 + 1 + 5);
  });
});
