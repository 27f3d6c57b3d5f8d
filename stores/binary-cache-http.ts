// http(s):// binary caches, read-only (writing is not implemented).
import { registerStoreScheme } from "./url";
import { BinaryCacheStore, CacheBackend, NotImplemented, Staging, binaryCacheOptions, stripParams } from "./binary-cache";
import { HttpTimeout, httpErrorMessage, httpLimits, httpRequest, type HttpResponse } from "./http";

const RETRY_BASE_MS = 250;
const TRANSIENT = new Set([408, 429, 500, 502, 503, 504]);

export class HttpBackend implements CacheBackend {
  readonly readOnly = "writing to http binary caches";
  constructor(readonly base: string) {}

  private url(key: string): string {
    return `${this.base.replace(/\/+$/, "")}/${key}`;
  }

  /**
   * One request, with the cause of a failure in the error. Like Nix, a
   * failed connection, a timeout (connect-timeout, stalled-download-timeout)
   * or a transient HTTP status (408, 429, 5xx) is retried, up to
   * download-attempts tries in all, after waits that double from
   * RETRY_BASE_MS (with jitter).
   */
  private async fetch(method: "GET" | "HEAD", key: string): Promise<HttpResponse> {
    const limits = await httpLimits();
    const attempts = Math.max(1, limits.downloadAttempts);
    const base = Number(process.env.TVIX_HTTP_RETRY_BASE_MS ?? RETRY_BASE_MS);
    for (let attempt = 1; ; attempt++) {
      let failure: Error;
      try {
        const res = await httpRequest(this.url(key), { method, limits });
        if (!TRANSIENT.has(res.status) || attempt >= attempts) return res;
        res.cancel();
        failure = new Error(`${method} ${this.url(key)}: HTTP ${res.status} ${res.statusText}`);
      } catch (e) {
        failure = new Error(`${method} ${this.url(key)}: ${httpErrorMessage(e)}`);
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
      res.cancel();
      return null;
    }
    if (res.status < 200 || res.status > 299) {
      res.cancel();
      throw new Error(`GET ${this.url(key)}: HTTP ${res.status} ${res.statusText}`);
    }
    const url = this.url(key);
    // a body that stalls fails with the URL in its message
    return (async function* () {
      try {
        yield* res.body;
      } catch (e) {
        if (e instanceof HttpTimeout) throw new Error(`GET ${url}: ${e.message}`);
        throw e;
      }
    })();
  }

  async exists(key: string): Promise<boolean> {
    const res = await this.fetch("HEAD", key);
    res.cancel();
    if (res.status >= 200 && res.status <= 299) return true;
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
