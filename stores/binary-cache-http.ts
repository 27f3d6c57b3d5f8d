// http(s):// binary caches, read-only (writing is not implemented).
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { registerStoreScheme } from "./url";
import { trustExtraCaCerts } from "./extra-ca";
import { BinaryCacheStore, CacheBackend, NotImplemented, Staging, binaryCacheOptions, stripParams } from "./binary-cache";

/** Tries of one request, as Nix's download-attempts default. */
const ATTEMPTS = 5;
const RETRY_BASE_MS = 250;
const TRANSIENT = new Set([408, 429, 500, 502, 503, 504]);

export class HttpBackend implements CacheBackend {
  readonly readOnly = "writing to http binary caches";
  constructor(readonly base: string) {
    trustExtraCaCerts();
  }

  private url(key: string): string {
    return `${this.base.replace(/\/+$/, "")}/${key}`;
  }

  /**
   * fetch, with the cause of a failed connection in the error (fetch's own
   * says "fetch failed"). Like Nix, a failed connection or a transient HTTP
   * status (408, 429, 5xx) is retried, up to ATTEMPTS tries in all, after
   * waits that double from RETRY_BASE_MS (with jitter).
   */
  private async fetch(method: "GET" | "HEAD", key: string): Promise<Response> {
    const attempts = Number(process.env.TVIX_HTTP_ATTEMPTS || ATTEMPTS);
    const base = Number(process.env.TVIX_HTTP_RETRY_BASE_MS ?? RETRY_BASE_MS);
    for (let attempt = 1; ; attempt++) {
      let failure: Error;
      try {
        const res = await fetch(this.url(key), { method });
        if (!TRANSIENT.has(res.status) || attempt >= attempts) return res;
        await res.body?.cancel();
        failure = new Error(`${method} ${this.url(key)}: HTTP ${res.status} ${res.statusText}`);
      } catch (e) {
        const cause = (e as { cause?: Error }).cause;
        failure = new Error(`${method} ${this.url(key)}: ${cause?.message ?? (e as Error).message}`);
        if (attempt >= attempts) throw failure;
      }
      const wait = base * 2 ** (attempt - 1) * (1 + Math.random() / 2);
      if (process.env.TVIX_DEBUG) process.stderr.write(`warning: ${failure.message}; retrying in ${Math.round(wait)} ms\n`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  async get(key: string): Promise<AsyncIterable<Uint8Array> | null> {
    const res = await this.fetch("GET", key);
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
    const res = await this.fetch("HEAD", key);
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
