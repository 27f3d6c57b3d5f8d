// file:///dir binary caches: objects are files under the directory; every
// write goes to a temporary file first and is renamed into place.
import { createReadStream } from "node:fs";
import { mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { tempTag } from "../core/digest";
import { dirname, join } from "node:path";
import { registerStoreScheme } from "./url";
import { BinaryCacheStore, CacheBackend, Staging, binaryCacheOptions, stripParams } from "./binary-cache";

export class FileBackend implements CacheBackend {
  readonly readOnly = null;
  constructor(readonly root: string) {}

  private file(key: string): string {
    if (key.split("/").some((c) => c === ".." || c === "") || key.startsWith("/")) throw new Error(`invalid binary cache key '${key}'`);
    return join(this.root, key);
  }

  async get(key: string): Promise<AsyncIterable<Uint8Array> | null> {
    const f = this.file(key);
    try {
      if (!(await stat(f)).isFile()) return null;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
    return createReadStream(f, { highWaterMark: 1 << 20 });
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.file(key))).isFile();
    } catch {
      return false;
    }
  }

  private tempName(key: string): string {
    return join(this.root, dirname(key), `.tmp-${process.pid}-${tempTag(6)}`);
  }

  async putText(key: string, text: string): Promise<void> {
    const f = this.file(key);
    await mkdir(dirname(f), { recursive: true });
    const tmp = this.tempName(key);
    try {
      await writeFile(tmp, text);
      await rename(tmp, f);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async stage(): Promise<Staging> {
    await mkdir(join(this.root, "nar"), { recursive: true });
    const path = this.tempName("nar/x");
    return {
      path,
      commit: async (key: string) => {
        await rename(path, this.file(key));
      },
      discard: async () => {
        await rm(path, { force: true });
      },
    };
  }

  async *listTop(): AsyncIterable<string> {
    for (const e of await readdir(this.root, { withFileTypes: true })) if (e.isFile()) yield e.name;
  }
}

registerStoreScheme("file", async (url, raw, opts) => {
  const root = decodeURIComponent(url.pathname);
  if (url.host !== "") throw new Error(`file:// store URLs need an absolute path (file:///dir), got '${raw}'`);
  await mkdir(root, { recursive: true });
  const store = new BinaryCacheStore(stripParams(raw), new FileBackend(root), await binaryCacheOptions(raw, opts.storeDir));
  return store.init();
});
