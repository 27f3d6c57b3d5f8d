// http(s):// binary caches, read-only (writing is not implemented).
import { registerStoreScheme } from "./url";
import { BinaryCacheStore, CacheBackend, NotImplemented, Staging, binaryCacheOptions, stripParams } from "./binary-cache";
import { DownloadFailure, HttpTimeout, TRANSIENT_STATUSES, httpErrorMessage, httpLimits, httpRequest, isTransientFailure, withDownloadRetries, type HttpResponse } from "./http";

export class HttpBackend implements CacheBackend {
  readonly readOnly = "writing to http binary caches";
  constructor(readonly base: string) {}

  private url(key: string): string {
    return `${this.base.replace(/\/+$/, "")}/${key}`;
  }

  /**
   * One request, with the cause of a failure in the error; failed
   * connections, timeouts and transient statuses are tried again
   * (download-attempts, as Nix).
   */
  private async fetch(method: "GET" | "HEAD", key: string): Promise<HttpResponse> {
    const limits = await httpLimits();
    const url = this.url(key);
    return withDownloadRetries(async () => {
      let res: HttpResponse;
      try {
        res = await httpRequest(url, { method, limits });
      } catch (e) {
        throw new DownloadFailure(`${method} ${url}: ${httpErrorMessage(e)}`, isTransientFailure(e));
      }
      if (!TRANSIENT_STATUSES.has(res.status)) return res;
      res.cancel();
      throw new DownloadFailure(`${method} ${url}: HTTP ${res.status} ${res.statusText}`, true);
    }, { limits });
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
