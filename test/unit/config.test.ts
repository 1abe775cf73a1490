import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { ConfigError, configKeys, loadConfig, type ConfigInput } from "../../config";

const README = join(__dirname, "..", "..", "README.md");

/** Asserts that loading fails with a ConfigError whose message names `env` (and its flag). */
function refused(env: NodeJS.ProcessEnv, flags: ConfigInput, name: string, flag: string, what: string): void {
  assert.throws(
    () => loadConfig(env, flags),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `${what}: expected ConfigError, got ${String(err)}`);
      assert.equal(err.name, "ConfigError");
      assert.match(err.message, new RegExp(`\\b${name} \\(${flag}\\)`), `${what}: message names ${name}: ${err.message}`);
      return true;
    },
    what,
  );
}

describe("config", () => {
  it("has defaults for everything", () => {
    const c = loadConfig({}, {});
    assert.equal(c.port, 8080);
    assert.equal(c.reusePort, false);
    assert.equal(c.logFormat, "auto");
    assert.equal(c.host, "0.0.0.0");
    assert.equal(c.nodeId, `${os.hostname()}-${process.pid}`);
    assert.equal(c.natsUrl, undefined);
    assert.equal(c.namespace, "veza");
    assert.equal(c.redisUrl, undefined);
    assert.deepEqual(c.services, ["gateway", "stream", "encoder", "relay"]);
    assert.equal(c.logLevel, "info");
    assert.equal(c.opusBitrate, 128_000);
    assert.equal(c.maxBackpressureBytes, 256 * 1024);
    assert.equal(c.maxListeners, 100_000);
    assert.equal(c.startTimeoutMs, 10_000);
    assert.equal(c.ffmpegPath, undefined);
    assert.equal(c.demo, undefined);
    assert.equal(c.demoStream, "demo");
  });

  it("reads every key from its environment variable, coercing numbers", () => {
    const c = loadConfig({
      PORT: "9000", HOST: "127.0.0.1", NODE_ID: "gw-1", NATS_URL: "nats://nats.local:4222", CLUSTER_NAMESPACE: "staging_2", REDIS_URL: "rediss://redis.local:6380/0", SERVICES: "gateway, stream",
      LOG_LEVEL: "debug", OPUS_BITRATE: "96000", MAX_BACKPRESSURE_BYTES: "65536", MAX_LISTENERS: "50", START_TIMEOUT_MS: "2500", PLAYOUT_DELAY_MS: "90",
      FFMPEG_PATH: "/opt/ffmpeg", DEMO_FILE: "x.ogg", DEMO_STREAM: "radio_1", REUSE_PORT: "1", LOG_FORMAT: "json",
    });
    const expected: Record<string, unknown> = {
        port: 9000, host: "127.0.0.1", nodeId: "gw-1", natsUrl: "nats://nats.local:4222", namespace: "staging_2", redisUrl: "rediss://redis.local:6380/0", services: ["gateway", "stream"],
        logLevel: "debug", opusBitrate: 96_000, maxBackpressureBytes: 65_536, maxListeners: 50, startTimeoutMs: 2500, playoutDelayMs: 90,
        ffmpegPath: "/opt/ffmpeg", demo: "x.ogg", demoStream: "radio_1", reusePort: true, logFormat: "json",
    };
    for (const [key, value] of Object.entries(expected)) assert.deepEqual((c as Record<string, unknown>)[key], value, key);
  });

  it("reads REUSE_PORT as a boolean: 1/0, true/false, yes/no, on/off in any case, and the flag as true", () => {
    for (const v of ["1", "true", "TRUE", "yes", "On"]) assert.equal(loadConfig({ REUSE_PORT: v }).reusePort, true, v);
    for (const v of ["0", "false", "no", "OFF"]) assert.equal(loadConfig({ REUSE_PORT: v }).reusePort, false, v);
    assert.equal(loadConfig({ REUSE_PORT: "0" }, { reusePort: true }).reusePort, true, "the flag wins");
  });

  it("lets flags win over the environment, and ignores empty environment variables", () => {
    const c = loadConfig({ PORT: "9000", LOG_LEVEL: "debug", SERVICES: "gateway", OPUS_BITRATE: "" }, { port: "9100", services: "stream,encoder" });
    assert.equal(c.port, 9100);
    assert.equal(c.logLevel, "debug", "env kept where no flag");
    assert.deepEqual(c.services, ["stream", "encoder"]);
    assert.equal(c.opusBitrate, 128_000, "empty env var means unset");
    assert.equal(loadConfig({}, { port: 0 }).port, 0, "port 0 picks a free port");
  });

  it("does not read process.env when given another environment", () => {
    const saved = process.env.PORT;
    process.env.PORT = "1234";
    try {
      assert.equal(loadConfig({}, {}).port, 8080);
    } finally {
      if (saved === undefined) delete process.env.PORT;
      else process.env.PORT = saved;
    }
  });

  describe("refuses with a ConfigError naming the variable", () => {
    for (const port of ["65536", "-1", "80.5", "http", "8080abc"]) {
      it(`PORT=${port}`, () => refused({ PORT: port }, {}, "PORT", "--port", `PORT=${port}`));
    }
    it("--port 70000 (a flag)", () => refused({}, { port: 70000 }, "PORT", "--port", "flag port"));
    for (const url of ["http://nats:4222", "nats://", "nats:/x", "localhost:4222", "nats://a b"]) {
      it(`NATS_URL=${url}`, () => refused({ NATS_URL: url }, {}, "NATS_URL", "--nats", `NATS_URL=${url}`));
    }
    for (const url of ["http://redis:6379", "redis://", "localhost:6379"]) {
      it(`REDIS_URL=${url}`, () => refused({ REDIS_URL: url }, {}, "REDIS_URL", "--redis", `REDIS_URL=${url}`));
    }
    it("SERVICES with an unknown role, naming the role", () => {
      refused({ SERVICES: "gateway,mixer" }, {}, "SERVICES", "--services", "unknown role");
      assert.throws(() => loadConfig({ SERVICES: "gateway,mixer" }), /"mixer"/);
    });
    for (const level of ["verbose", "INFO", "warning"]) {
      it(`LOG_LEVEL=${level}`, () => refused({ LOG_LEVEL: level }, {}, "LOG_LEVEL", "--log-level", `LOG_LEVEL=${level}`));
    }
    for (const bitrate of ["5999", "510001", "0", "96k"]) {
      it(`OPUS_BITRATE=${bitrate}`, () => refused({ OPUS_BITRATE: bitrate }, {}, "OPUS_BITRATE", "--opus-bitrate", `OPUS_BITRATE=${bitrate}`));
    }
    it("OPUS_BITRATE at its limits is accepted", () => {
      assert.equal(loadConfig({ OPUS_BITRATE: "6000" }).opusBitrate, 6000);
      assert.equal(loadConfig({ OPUS_BITRATE: "510000" }).opusBitrate, 510_000);
    });
    it("MAX_BACKPRESSURE_BYTES, MAX_LISTENERS, START_TIMEOUT_MS out of range", () => {
      refused({ MAX_BACKPRESSURE_BYTES: "100" }, {}, "MAX_BACKPRESSURE_BYTES", "--max-backpressure", "backpressure");
      refused({ MAX_LISTENERS: "0" }, {}, "MAX_LISTENERS", "--max-listeners", "listeners");
      refused({ START_TIMEOUT_MS: "99" }, {}, "START_TIMEOUT_MS", "--start-timeout", "start timeout");
    });
    it("NODE_ID, CLUSTER_NAMESPACE and DEMO_STREAM with characters outside their pattern", () => {
      refused({ NODE_ID: "a b" }, {}, "NODE_ID", "--node-id", "node id");
      refused({ CLUSTER_NAMESPACE: "veza.prod" }, {}, "CLUSTER_NAMESPACE", "--namespace", "namespace with a dot (a NATS token separator)");
      refused({ CLUSTER_NAMESPACE: "x".repeat(33) }, {}, "CLUSTER_NAMESPACE", "--namespace", "namespace too long");
      refused({ DEMO_STREAM: "a.b" }, {}, "DEMO_STREAM", "--demo-stream", "demo stream");
    });
    for (const v of ["maybe", "2", "enable"]) {
      it(`REUSE_PORT=${v}`, () => refused({ REUSE_PORT: v }, {}, "REUSE_PORT", "--reuse-port", `REUSE_PORT=${v}`));
    }
    for (const v of ["text", "JSON", "color"]) {
      it(`LOG_FORMAT=${v}`, () => refused({ LOG_FORMAT: v }, {}, "LOG_FORMAT", "--log-format", `LOG_FORMAT=${v}`));
    }
    it("every bad variable at once, one line each", () => {
      assert.throws(
        () => loadConfig({ PORT: "x", LOG_LEVEL: "loud", NATS_URL: "redis://r" }),
        (err: unknown) => err instanceof ConfigError && ["PORT", "LOG_LEVEL", "NATS_URL"].every((n) => err.message.includes(`${n} (`)),
      );
    });
  });

  it("names each key's environment variable and flag once", () => {
    const keys = configKeys();
    assert.ok(keys.length >= 13);
    for (const k of keys) {
      assert.match(k.env, /^[A-Z][A-Z0-9_]*$/, `${k.key} env`);
      assert.match(k.flag, /^--[a-z][a-z0-9-]*$/, `${k.key} flag`);
      assert.ok(k.description.length > 0, `${k.key} description`);
    }
    assert.equal(new Set(keys.map((k) => k.env)).size, keys.length, "env names unique");
    assert.equal(new Set(keys.map((k) => k.flag)).size, keys.length, "flags unique");
  });

  describe("README.md configuration table", () => {
    /** Rows of the table whose header is `| env | flag | default | meaning |`, as cells. */
    function readmeRows(): string[][] {
      const lines = readFileSync(README, "utf8").split("\n");
      const start = lines.findIndex((l) => /^\|\s*env\s*\|\s*flag\s*\|\s*default\s*\|\s*meaning\s*\|\s*$/.test(l));
      assert.ok(start >= 0, "README.md has a table headed | env | flag | default | meaning |");
      const rows: string[][] = [];
      for (const line of lines.slice(start + 2)) {
        if (!line.startsWith("|")) break;
        rows.push(line.slice(1, line.trimEnd().endsWith("|") ? line.trimEnd().length - 1 : undefined).split("|").map((c) => c.trim()));
      }
      return rows;
    }

    it("has one row per configuration key, with its variable and flag", () => {
      const rows = readmeRows();
      for (const k of configKeys()) {
        const row = rows.find((r) => r[0] === `\`${k.env}\``);
        assert.ok(row, `README.md documents ${k.env}`);
        assert.equal(row[1], `\`${k.flag}\``, `${k.env}: flag`);
        assert.ok((row[3] ?? "").length > 0, `${k.env}: meaning`);
      }
      const envs = new Set(configKeys().map((k) => `\`${k.env}\``));
      for (const row of rows) assert.ok(envs.has(row[0] ?? ""), `README.md row ${row[0]} is a configuration key`);
      assert.equal(rows.length, configKeys().length, "no duplicate rows");
    });

    it("shows each default as the code has it", () => {
      const rows = readmeRows();
      const defaults = loadConfig({}, {}) as Record<string, unknown>;
      for (const k of configKeys()) {
        const cell = (rows.find((r) => r[0] === `\`${k.env}\``)?.[2] ?? "").replace(/`/g, "");
        const value = defaults[k.key];
        if (k.key === "nodeId") assert.match(cell, /hostname.*pid/, "NODE_ID default");
        else if (value === undefined) assert.match(cell, /^(unset|—|-)/, `${k.env} default is unset`);
        else if (Array.isArray(value)) assert.ok(cell.startsWith(value.join(",")), `${k.env} default ${value.join(",")}: ${cell}`);
        else assert.ok(cell.split(/\s/)[0] === String(value), `${k.env} default ${String(value)}: ${cell}`);
      }
    });
  });
});
