/**
 * An object store in a directory of this node: one file per key, written to a temporary file and
 * renamed into place, so a reader never sees half an object. For one node; a cluster shares S3.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { ObjectNotFoundError, type ByteRange, type ObjectStore } from "./object-store";

export class FsObjectStore implements ObjectStore {
  readonly kind = "fs";
  constructor(readonly location: string) {}

  async put(key: string, body: Uint8Array): Promise<void> {
    const file = this.file(key);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, body);
    await fs.rename(tmp, file);
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.file(key), "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new ObjectNotFoundError(key);
      throw err;
    }
    try {
      if (!range) return await handle.readFile();
      const out = Buffer.alloc(range.end - range.start + 1);
      const { bytesRead } = await handle.read(out, 0, out.length, range.start);
      return out.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async list(prefix: string): Promise<string[]> {
    const dir = prefix.endsWith("/") ? prefix : path.posix.dirname(prefix) + "/";
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      const entries = await fs.readdir(this.file(rel), { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const key = rel + e.name;
        if (e.isDirectory()) await walk(key + "/");
        else if (key.startsWith(prefix) && !key.endsWith(".tmp")) out.push(key);
      }
    };
    await walk(dir === "./" ? "" : dir);
    return out.sort();
  }

  async children(prefix: string): Promise<string[]> {
    const entries = await fs.readdir(this.file(prefix), { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  }

  close(): void {}

  /** The file of `key`. @throws Error for a key that would leave the directory. */
  private file(key: string): string {
    const file = path.resolve(this.location, key);
    if (file !== this.location && !file.startsWith(this.location + path.sep)) throw new Error(`object key ${key} leaves ${this.location}`);
    return file;
  }
}
