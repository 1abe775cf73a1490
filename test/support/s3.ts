/**
 * A real S3-compatible server for tests: s3rver (npm, pure JavaScript, keeps its objects in a
 * directory, so they survive its restart), as a child process on 127.0.0.1, stopped and started
 * again on the same port and directory to make an outage.
 */
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { S3Client, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { ROOT, freePort, stopChild, waitFor } from "./node-process";

/** Environment of a node (or an SDK client) that uses the server: s3rver takes any key, S3RVER/S3RVER by custom. */
export interface S3Server {
  port: number;
  endpoint: string;
  env: NodeJS.ProcessEnv;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Keys in `bucket` under `prefix`, straight from the server. */
  keys(bucket: string, prefix: string): Promise<string[]>;
}

export async function s3Server(dir: string, bucket: string): Promise<S3Server> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const endpoint = `http://127.0.0.1:${port}`;
  const env = { S3_ENDPOINT: endpoint, S3_BUCKET: bucket, S3_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" };
  const up = () => new Promise<boolean>((r) => net.connect(port, "127.0.0.1").once("connect", function (this: net.Socket) { this.destroy(); r(true); }).once("error", () => r(false)));
  const server: S3Server = {
    port, endpoint, env,
    async start() {
      child = spawn(process.execPath, [path.join(ROOT, "node_modules/s3rver/bin/s3rver.js"), "-d", dir, "-a", "127.0.0.1", "-p", String(port), "--silent"], { stdio: "ignore" });
      await waitFor(up, 15_000, `s3rver on ${port}`);
    },
    async stop() {
      if (child) await stopChild(child, 3000);
      child = null;
    },
    async keys(b, prefix) {
      const client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
      try {
        const out = await client.send(new ListObjectsV2Command({ Bucket: b, Prefix: prefix }));
        return (out.Contents ?? []).flatMap((c) => (c.Key ? [c.Key] : []));
      } finally {
        client.destroy();
      }
    },
  };
  await server.start();
  return server;
}
