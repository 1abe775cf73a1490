/**
 * An object store in an S3 bucket through @aws-sdk/client-s3 (v3). The bucket is created at the
 * first write when it does not exist (MinIO and s3rver start empty). The SDK retries each request
 * itself (its standard mode, 3 attempts) up to the response's headers; callers retry what still
 * fails (actors/recording/uploader.ts). A GET whose body is cut short after its headers (a reset
 * connection, Node's "aborted", or fewer bytes than its Content-Length) is not retried by the SDK
 * (aws/aws-sdk-js-v3#4897), so `get` does it.
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { setTimeout as sleep } from "node:timers/promises";
import { ObjectNotFoundError, type ByteRange, type ObjectStore } from "./object-store";

/** Attempts at a GET whose body failed after its headers, and the wait before the second (doubling), ms. */
const GET_ATTEMPTS = 3;
const GET_RETRY_MS = 100;

export interface S3StoreOptions {
  bucket: string;
  region: string;
  /** e.g. http://127.0.0.1:9000 for MinIO; unset: AWS. */
  endpoint?: string;
  /** Bucket in the path (http://host/bucket/key) instead of the host name. */
  forcePathStyle: boolean;
}

export class S3ObjectStore implements ObjectStore {
  readonly kind = "s3";
  readonly location: string;
  private readonly client: S3Client;
  private bucketReady = false;

  constructor(private readonly o: S3StoreOptions) {
    this.location = `s3://${o.bucket}${o.endpoint ? ` at ${o.endpoint}` : ""}`;
    this.client = new S3Client({ region: o.region, forcePathStyle: o.forcePathStyle, ...(o.endpoint ? { endpoint: o.endpoint } : {}) });
  }

  async put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    const command = new PutObjectCommand({ Bucket: this.o.bucket, Key: key, Body: body, ContentType: contentType, ContentLength: body.length });
    try {
      await this.client.send(command);
    } catch (err) {
      if (this.bucketReady || !(err instanceof S3ServiceException) || err.name !== "NoSuchBucket") throw err;
      await this.client.send(new CreateBucketCommand({ Bucket: this.o.bucket })).catch((e: unknown) => {
        if (!(e instanceof S3ServiceException) || !/BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(e.name)) throw e;
      });
      await this.client.send(command);
    }
    this.bucketReady = true;
  }

  /**
   * The object's bytes, or those of `range`; a body cut short is fetched again (GET_ATTEMPTS).
   * @throws ObjectNotFoundError; the SDK's errors; Error when every attempt's body was cut short.
   */
  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    const command = new GetObjectCommand({ Bucket: this.o.bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) });
    for (let attempt = 1; ; attempt++) {
      let out;
      try {
        out = await this.client.send(command);
      } catch (err) {
        if (err instanceof S3ServiceException && (err.name === "NoSuchKey" || err.name === "NoSuchBucket" || err.$metadata.httpStatusCode === 404)) throw new ObjectNotFoundError(key);
        throw err;
      }
      try {
        const bytes = out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
        if (out.ContentLength !== undefined && bytes.length !== out.ContentLength) throw new Error(`${key}: ${bytes.length} bytes of its ${out.ContentLength}`);
        return bytes;
      } catch (err) {
        if (attempt >= GET_ATTEMPTS) throw err;
        await sleep(GET_RETRY_MS * 2 ** (attempt - 1));
      }
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    await this.paginate(prefix, undefined, (page) => keys.push(...(page.Contents ?? []).flatMap((c) => (c.Key ? [c.Key] : []))));
    return keys.sort();
  }

  async children(prefix: string): Promise<string[]> {
    const names: string[] = [];
    await this.paginate(prefix, "/", (page) => {
      for (const p of page.CommonPrefixes ?? []) if (p.Prefix) names.push(p.Prefix.slice(prefix.length).replace(/\/$/, ""));
    });
    return names.sort();
  }

  close(): void {
    this.client.destroy();
  }

  private async paginate(prefix: string, delimiter: string | undefined, each: (page: { Contents?: { Key?: string }[]; CommonPrefixes?: { Prefix?: string }[] }) => void): Promise<void> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.o.bucket, Prefix: prefix, ...(delimiter ? { Delimiter: delimiter } : {}), ...(token ? { ContinuationToken: token } : {}) }));
      } catch (err) {
        if (err instanceof S3ServiceException && err.name === "NoSuchBucket") return;
        throw err;
      }
      each(page);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}
