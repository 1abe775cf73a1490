/**
 * Where recordings are kept: an S3 bucket (AWS S3, MinIO, Garage, s3rver… any server of the S3
 * API) when S3_BUCKET is set, else a directory of this node (DATA_DIR: keys become files under DATA_DIR/recordings/), so that one
 * node records with nothing else installed. Keys are `/`-separated paths such as
 * `recordings/<stream>/<recording>/<n>.opus`; bodies are whole objects (a recording segment is
 * about 160 KB at 128 kbit/s, well under S3's 5 MB multipart threshold).
 */
import path from "node:path";
import type { Config } from "../../config";
import { FsObjectStore } from "./fs";
import { S3ObjectStore } from "./s3";

/** A byte range of an object, both ends included (as HTTP Range, RFC 9110 §14.1.2). */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ObjectStore {
  readonly kind: "s3" | "fs";
  /** Where, for logs and docs: `s3://<bucket>` with its endpoint, or the directory. */
  readonly location: string;
  /** Writes `body` under `key`, replacing any object there. @throws on any failure (network, refusal). */
  put(key: string, body: Uint8Array, contentType: string): Promise<void>;
  /** The object's bytes, or those of `range`. @throws ObjectNotFoundError when there is none. */
  get(key: string, range?: ByteRange): Promise<Uint8Array>;
  /** Keys that start with `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
  /** The next path level under `prefix` (which ends with `/`): names without the prefix or a trailing `/`, sorted. */
  children(prefix: string): Promise<string[]>;
  close(): void;
}

/** No object under the key asked for. */
export class ObjectNotFoundError extends Error {
  override readonly name = "ObjectNotFoundError";
  constructor(readonly key: string) {
    super(`no object ${key}`);
  }
}

export type ObjectStoreConfig = Pick<Config, "s3Bucket" | "s3Endpoint" | "s3Region" | "s3ForcePathStyle">;

/**
 * The store the configuration names: S3 when `s3Bucket` is set (credentials from the SDK's own
 * environment variables, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or its other sources), else
 * files under `<dataDir>/recordings/`.
 */
export function openObjectStore(config: ObjectStoreConfig, dataDir: string): ObjectStore {
  if (config.s3Bucket) {
    return new S3ObjectStore({
      bucket: config.s3Bucket,
      region: config.s3Region,
      ...(config.s3Endpoint ? { endpoint: config.s3Endpoint } : {}),
      // MinIO, s3rver and most S3 servers outside AWS want the bucket in the path
      forcePathStyle: config.s3ForcePathStyle ?? config.s3Endpoint !== undefined,
    });
  }
  return new FsObjectStore(path.resolve(dataDir));
}
