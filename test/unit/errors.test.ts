import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Errors, ServiceBroker } from "moleculer";
import { closeCodeOf, ERROR_CATALOGUE, errorCodeOf, isErrorCode, VezaError, type ErrorCode } from "../../actors/errors";
import { WireError } from "../../media/wire";

const PROTOCOL_MD = join(__dirname, "..", "..", "docs", "protocol.md");
const CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

describe("VezaError", () => {
  it("carries the catalogue code as type, the HTTP status as code, retryable and data", () => {
    const err = new VezaError("BROADCASTER_EXISTS", "stream t1 already has a broadcaster", { streamId: "t1" });
    assert.ok(err instanceof Errors.MoleculerError);
    assert.ok(err instanceof Error);
    assert.equal(err.type, "BROADCASTER_EXISTS");
    assert.equal(err.errorCode, "BROADCASTER_EXISTS");
    assert.equal(err.code, 409, "MoleculerError.code holds the HTTP status");
    assert.equal(err.retryable, true);
    assert.equal(err.message, "stream t1 already has a broadcaster");
    assert.deepEqual(err.data, { streamId: "t1" });
  });

  it("takes the catalogue text as its default message", () => {
    assert.equal(new VezaError("START_TIMEOUT").message, ERROR_CATALOGUE.START_TIMEOUT.text);
  });

  it("matches the catalogue for every code", () => {
    for (const code of CODES) {
      const err = new VezaError(code);
      const spec = ERROR_CATALOGUE[code];
      assert.equal(err.type, code);
      assert.equal(err.code, spec.status, `${code} status`);
      assert.equal(err.retryable, spec.retryable, `${code} retryable`);
      assert.equal(errorCodeOf(err), code);
      assert.equal(closeCodeOf(code), spec.close);
    }
  });

  it("keeps its type, HTTP status, retryable and data across a Moleculer call between two nodes (Fake transporter, JSON)", async () => {
    const namespace = `errors-test-${process.pid}`;
    const server = new ServiceBroker({ nodeID: "server", namespace, transporter: "Fake", serializer: "JSON", logger: false });
    const client = new ServiceBroker({ nodeID: "client", namespace, transporter: "Fake", serializer: "JSON", logger: false });
    server.createService({
      name: "thrower",
      actions: {
        fail() {
          throw new VezaError("ENCODER_FAILED", "ffmpeg exited with code 1", { streamId: "s" });
        },
      },
    });
    await Promise.all([server.start(), client.start()]);
    try {
      await client.waitForServices("thrower", 5000);
      const err: unknown = await client.call("thrower.fail").then(
        () => assert.fail("the call should fail"),
        (e: unknown) => e,
      );
      // Moleculer's default regenerator does not know the VezaError class: an Error arrives, with
      // the fields that matter (what errorCodeOf reads) copied over
      assert.ok(err instanceof Error, "an Error on the calling node");
      const remote = err as Error & { type?: unknown; code?: unknown; retryable?: unknown; data?: unknown };
      assert.equal(remote.name, "VezaError");
      assert.equal(remote.type, "ENCODER_FAILED");
      assert.equal(remote.message, "ffmpeg exited with code 1");
      assert.equal(remote.code, 502);
      assert.equal(remote.retryable, true);
      assert.deepEqual(remote.data, { streamId: "s" });
      assert.equal((err as { nodeID?: string }).nodeID, "server", "it really crossed the transporter");
      assert.equal(errorCodeOf(err), "ENCODER_FAILED");
    } finally {
      await Promise.all([client.stop(), server.stop()]);
    }
  });
});

describe("errorCodeOf", () => {
  it("maps a plain object whose type is a catalogue code, as errors arrive after JSON", () => {
    const wire = JSON.parse(JSON.stringify({ name: "MoleculerError", message: "late", code: 408, type: "START_TIMEOUT", retryable: true }));
    assert.equal(errorCodeOf(wire), "START_TIMEOUT");
  });

  it("maps a WireError to BAD_FRAME", () => {
    assert.equal(errorCodeOf(WireError.tooShort(3, 17)), "BAD_FRAME");
    assert.equal(errorCodeOf(WireError.unknownVersion(2)), "BAD_FRAME");
  });

  it("maps Moleculer's ValidationError to BAD_REQUEST", () => {
    assert.equal(errorCodeOf(new Errors.ValidationError("bad params", "VALIDATION_ERROR", {})), "BAD_REQUEST");
  });

  it("maps anything else to INTERNAL", () => {
    for (const value of [new Error("boom"), new TypeError("x"), { type: "NOT_A_CODE" }, { type: "toString" }, { type: 404 }, "BAD_REQUEST", 42, null, undefined]) {
      assert.equal(errorCodeOf(value), "INTERNAL", String(value));
    }
    assert.equal(errorCodeOf(new Errors.RequestTimeoutError({ action: "stream.start", nodeID: "n" })), "INTERNAL");
  });

  it("isErrorCode accepts catalogue keys only, not inherited properties", () => {
    for (const code of CODES) assert.ok(isErrorCode(code));
    for (const value of ["constructor", "__proto__", "hasOwnProperty", "bad_request", "", 400, undefined]) assert.ok(!isErrorCode(value), String(value));
  });
});

describe("docs/protocol.md error catalogue table", () => {
  /** Rows of the table headed `| code | HTTP status | close code | retryable | meaning |`, as cells. */
  function tableRows(): string[][] {
    const lines = readFileSync(PROTOCOL_MD, "utf8").split("\n");
    const start = lines.findIndex((l) => /^\|\s*code\s*\|\s*HTTP status\s*\|\s*close code\s*\|\s*retryable\s*\|\s*meaning\s*\|\s*$/.test(l));
    assert.ok(start >= 0, "docs/protocol.md has the error catalogue table");
    assert.match(lines[start + 1] ?? "", /^\|(\s*:?-+:?\s*\|){5}\s*$/, "followed by its separator row");
    const rows: string[][] = [];
    for (const line of lines.slice(start + 2)) {
      if (!line.startsWith("|")) break;
      rows.push(line.trim().slice(1, -1).split("|").map((c) => c.trim()));
    }
    return rows;
  }

  it("has one row per catalogue code with its HTTP status, close code and retryable flag", () => {
    const rows = tableRows();
    for (const code of CODES) {
      const spec = ERROR_CATALOGUE[code];
      const matching = rows.filter((r) => r[0] === `\`${code}\``);
      assert.equal(matching.length, 1, `one row for ${code}`);
      const [, status, close, retryable, meaning] = matching[0]!;
      assert.equal(status, String(spec.status), `${code} HTTP status`);
      assert.equal(close, String(spec.close), `${code} close code`);
      assert.equal(retryable, spec.retryable ? "yes" : "no", `${code} retryable`);
      assert.ok((meaning ?? "").length > 0, `${code} meaning`);
    }
  });

  it("documents no code that is not in the catalogue", () => {
    for (const row of tableRows()) {
      const code = /^`([A-Z_]+)`$/.exec(row[0] ?? "")?.[1];
      assert.ok(code && isErrorCode(code), `row ${row[0]} is a catalogue code`);
    }
    assert.equal(tableRows().length, CODES.length);
  });
});
