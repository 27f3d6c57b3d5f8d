// http(s):// binary caches, read-only (writing is not implemented).
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { registerStoreScheme } from "./url";
import { BinaryCacheStore, CacheBackend, NotImplemented, Staging, binaryCacheOptions, stripParams } from "./binary-cache";

export class HttpBackend implements CacheBackend {
  readonly readOnly = "writing to http binary caches";
  constructor(readonly base: string) {}

  private url(key: string): string {
    return `${this.base.replace(/\/+$/, "")}/${key}`;
  }

  async get(key: string): Promise<AsyncIterable<Uint8Array> | null> {
    const res = await fetch(this.url(key));
    if (res.status === 404 || res.status === 403 || res.status === 410) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`GET ${this.url(key)}: HTTP ${res.status} ${res.statusText}`);
    }
    if (!res.body) return (async function* () {})();
    return Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
  }

  async exists(key: string): Promise<boolean> {
    const res = await fetch(this.url(key), { method: "HEAD" });
    if (res.ok) return true;
    if (res.status === 404 || res.status === 403 || res.status === 410) return false;
    throw new Error(`HEAD ${this.url(key)}: HTTP ${res.status} ${res.statusText}`);
  }

  async putText(): Promise<void> {
    throw new NotImplemented(this.readOnly);
  }

  async stage(): Promise<Staging> {
    throw new NotImplemented(this.readOnly);
  }

  // eslint-disable-next-line require-yield
  async *listTop(): AsyncIterable<string> {
    throw new Error(`not supported: listing the paths of an http binary cache ('${this.base}')`);
  }
}

for (const scheme of ["http", "https"]) {
  registerStoreScheme(scheme, async (_url, raw, opts) => {
    const base = stripParams(raw);
    const store = new BinaryCacheStore(base, new HttpBackend(base), await binaryCacheOptions(raw, opts.storeDir));
    return store.init();
  });
}
