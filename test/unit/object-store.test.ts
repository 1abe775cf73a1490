/**
 * Reading recordings back through a store that misbehaves the way real ones do: an S3 server (a
 * real HTTP server on 127.0.0.1 speaking S3's GetObject) that cuts a body short after its headers
 * is asked again, which the SDK does not do (aws/aws-sdk-js-v3#4897); one that always does gives a
 * clear error after three attempts. A manifest caught half-written (as s3rver, which overwrites in
 * place, can hand out) is read again; one that stays broken is RECORDING_UNAVAILABLE naming its key.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { RecordingLibrary } from "../../actors/recording/library";
import { VezaError } from "../../actors/errors";
import { recordingPrefix, type PartManifest, type RecordingInfo } from "../../media/recording/manifest";
import { FsObjectStore } from "../../transports/objects/fs";
import { S3ObjectStore } from "../../transports/objects/s3";

const BODY = Buffer.alloc(1000, 7);

/** An S3 endpoint whose GetObject answers cut the body after 400 bytes for the first `cuts` requests. */
async function cuttingServer(cuts: number): Promise<{ endpoint: string; gets: () => number; close: () => void }> {
  let gets = 0;
  const server = http.createServer((req, res) => {
    if (req.method !== "GET") return res.writeHead(405).end();
    gets++;
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": BODY.length });
    if (gets > cuts) return res.end(BODY);
    res.write(BODY.subarray(0, 400), () => res.socket?.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, gets: () => gets, close: () => server.close() };
}

describe("object store: bodies cut short and manifests caught half-written", () => {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  before(() => {
    process.env.AWS_ACCESS_KEY_ID = "test";
    process.env.AWS_SECRET_ACCESS_KEY = "test";
  });
  after(() => {
    for (const [k, v] of [["AWS_ACCESS_KEY_ID", saved.id], ["AWS_SECRET_ACCESS_KEY", saved.secret]] as const) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  });

  it("S3: a GET whose body is cut after its headers is asked again and returns the whole object", async () => {
    const s = await cuttingServer(1);
    const store = new S3ObjectStore({ bucket: "b", region: "us-east-1", endpoint: s.endpoint, forcePathStyle: true });
    try {
      const bytes = await store.get("recordings/s/r/1.opus");
      assert.equal(bytes.length, BODY.length);
      assert.equal(s.gets(), 2, "one cut answer, one whole");
    } finally {
      store.close();
      s.close();
    }
  });

  it("S3: bodies cut on every attempt give an error after three GETs", async () => {
    const s = await cuttingServer(Infinity);
    const store = new S3ObjectStore({ bucket: "b", region: "us-east-1", endpoint: s.endpoint, forcePathStyle: true });
    try {
      await assert.rejects(store.get("k"), (err: Error) => !(err instanceof VezaError) && /aborted|bytes of its/.test(err.message));
      assert.equal(s.gets(), 3);
    } finally {
      store.close();
      s.close();
    }
  });

  describe("a recording's manifests", () => {
    let dir: string;
    const info: RecordingInfo = { version: 1, id: "20261203T100000Z", streamId: "s", title: "t", channels: 2, segmentSeconds: 4, startedAt: "2026-12-03T10:00:00.000Z", endedAt: null };
    const part: PartManifest = { version: 1, recordingId: info.id, streamId: "s", part: "p1", node: "n", began: "start", startedAt: info.startedAt, endedAt: null, segments: [], gaps: [] };
    const partFile = () => path.join(dir, recordingPrefix("s", info.id), "parts", "p1.json");
    beforeEach(async () => {
      dir = fs.mkdtempSync(`${os.tmpdir()}/veza-store-`);
      const store = new FsObjectStore(dir);
      await store.put(`${recordingPrefix("s", info.id)}recording.json`, Buffer.from(JSON.stringify(info)));
      await store.put(`${recordingPrefix("s", info.id)}parts/p1.json`, Buffer.from(JSON.stringify(part)));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("a part manifest caught half-written is read again once it is whole", async () => {
      const whole = fs.readFileSync(partFile());
      fs.writeFileSync(partFile(), whole.subarray(0, whole.length >> 1));
      const mend = setTimeout(() => fs.writeFileSync(partFile(), whole), 50);
      const view = await new RecordingLibrary(new FsObjectStore(dir)).view("s", info.id).finally(() => clearTimeout(mend));
      assert.equal(view.parts.length, 1);
      assert.equal(view.parts[0]!.part, "p1");
    });

    it("a manifest that stays broken is RECORDING_UNAVAILABLE naming its key; the stream's list leaves that recording out", async () => {
      const store = new FsObjectStore(dir);
      const other = { ...info, id: "20261203T110000Z", endedAt: "2026-12-03T11:00:10.000Z" };
      await store.put(`${recordingPrefix("s", other.id)}recording.json`, Buffer.from(JSON.stringify(other)));
      fs.writeFileSync(partFile(), '{"version": 1, "recordingId"');
      const library = new RecordingLibrary(store);
      await assert.rejects(library.view("s", info.id), (err: unknown) =>
        err instanceof VezaError && err.type === "RECORDING_UNAVAILABLE" && err.message.includes("parts/p1.json is not a manifest"));
      assert.deepEqual((await library.list("s")).map((r) => r.id), [other.id]);
    });
  });
});
