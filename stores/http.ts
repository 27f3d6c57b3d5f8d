// HTTP(S) requests with Nix's download limits, for every download: the
// fetchers (glue/fetch/download.ts), builtin:fetchurl and http(s) binary
// caches. S3 caches (s3-backend.ts) give the same limits to the AWS SDK.
//
// - connect-timeout: seconds a connection may take to be established
//   (0: the system's own limit), as curl's --connect-timeout in Nix;
// - stalled-download-timeout: seconds without a byte from the server while
//   waiting for one (the answer's head or the next piece of its body)
//   before the download fails, as Nix (curl's low-speed limit of 1 byte/s).
//   Time the reader spends on what it got does not count;
// - download-attempts: tries of a download that fails transiently (a failed
//   connection, a timeout, HTTP 408, 429 or 5xx), with Nix's backoff and
//   warning (withDownloadRetries).
//
// The limits come from the configuration (cmd/settings.ts registers where
// to find it, in every thread); without one, Nix's defaults.
import { lazyModule } from "../core/lazy-module";
import { trustExtraCaCerts } from "./extra-ca";
import type { IncomingMessage, ClientRequest } from "node:http";
import { writeSync } from "node:fs";

export interface HttpLimits {
  /** seconds; 0: the system's limit */
  connectTimeout: number;
  /** seconds; 0: none */
  stalledDownloadTimeout: number;
  downloadAttempts: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { connectTimeout: 0, stalledDownloadTimeout: 300, downloadAttempts: 5 };

let source: (() => Promise<HttpLimits>) | null = null;
let current: Promise<HttpLimits> | null = null;

/** Where this thread's limits come from (the CLI's configuration). */
export function setHttpLimitsSource(f: () => Promise<HttpLimits>): void {
  source = f;
  current = null;
}

/** This thread's limits (read once). */
export function httpLimits(): Promise<HttpLimits> {
  return (current ??= source ? source() : Promise.resolve(DEFAULT_HTTP_LIMITS));
}

/** A download that timed out: transient (retried where requests are). */
export class HttpTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HttpTimeout";
  }
}

export function connectTimeoutMessage(seconds: number): string {
  return `timeout: no connection within ${seconds} s (connect-timeout)`;
}

export function stalledMessage(seconds: number): string {
  return `timeout: no data received for ${seconds} s (stalled-download-timeout)`;
}

export interface HttpResponse {
  status: number;
  statusText: string;
  /** the URL answered (after redirects) */
  url: string;
  headers: IncomingMessage["headers"];
  /** the body, each wait for a piece under the stalled-download timeout */
  body: AsyncIterable<Uint8Array>;
  /** drops the body (frees the connection) */
  cancel(): void;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/** One request; follows redirects (GET and HEAD); throws on a failed connection or a timeout. */
export async function httpRequest(url: string, opts: { method?: "GET" | "HEAD"; limits?: HttpLimits; signal?: AbortSignal } = {}): Promise<HttpResponse> {
  const limits = opts.limits ?? (await httpLimits());
  const method = opts.method ?? "GET";
  let target = url;
  for (let hop = 0; ; hop++) {
    const res = await requestOnce(target, method, limits, opts.signal);
    const location = res.headers.location;
    if (!REDIRECTS.has(res.status) || !location || hop >= MAX_REDIRECTS) return res;
    res.cancel();
    target = new URL(location, target).href;
  }
}

function requestOnce(url: string, method: string, limits: HttpLimits, signal?: AbortSignal): Promise<HttpResponse> {
  trustExtraCaCerts();
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`not an http(s) URL: '${url}'`);
  const mod = u.protocol === "https:" ? lazyModule<typeof import("node:https")>("node:https") : lazyModule<typeof import("node:http")>("node:http");
  const stallMs = limits.stalledDownloadTimeout * 1000;
  return new Promise((resolve, reject) => {
    // the signal stops the request and its body
    const req: ClientRequest = mod.request(u, { method, headers: { "user-agent": "tvix-ts" }, signal });
    let stallTimer: NodeJS.Timeout | undefined;
    // (re)starts the stall timer; without `then`, stops it
    const stall = (then?: () => void) => {
      clearTimeout(stallTimer);
      if (then && stallMs > 0) stallTimer = setTimeout(then, stallMs);
    };
    const fail = (e: Error) => {
      clearTimeout(stallTimer);
      req.destroy(e);
    };
    req.on("error", (e) => {
      clearTimeout(stallTimer);
      reject(e);
    });
    if (limits.connectTimeout > 0)
      req.on("socket", (socket) => {
        if (!socket.connecting) return;
        const t = setTimeout(() => fail(new HttpTimeout(connectTimeoutMessage(limits.connectTimeout))), limits.connectTimeout * 1000);
        socket.once("connect", () => clearTimeout(t));
        socket.once("close", () => clearTimeout(t));
      });
    // waiting for the answer's head counts as a stall too (a server that accepts and says nothing)
    stall(() => fail(new HttpTimeout(stalledMessage(limits.stalledDownloadTimeout))));
    req.on("response", (res: IncomingMessage) => {
      clearTimeout(stallTimer);
      resolve({
        status: res.statusCode ?? 0,
        statusText: res.statusMessage ?? "",
        url,
        headers: res.headers,
        body: watchedBody(res, stall, limits.stalledDownloadTimeout, method === "HEAD" ? undefined : res.headers["content-encoding"]),
        cancel: () => {
          clearTimeout(stallTimer);
          // a short body (a 404's page, HEAD's none) is read to its end: the connection is kept for the next request
          const length = Number(res.headers["content-length"] ?? Infinity);
          if (method === "HEAD" || length <= 65536) res.resume();
          else res.destroy();
        },
      });
    });
    req.end();
  });
}

/** A decoder for a Content-Encoding the server chose (as fetch and Nix undo them), or null. */
function decoder(encoding: string | undefined): import("node:stream").Duplex | null {
  const zlib = lazyModule<typeof import("node:zlib")>("node:zlib");
  switch (encoding?.trim().toLowerCase()) {
    case "gzip":
    case "x-gzip":
      return zlib.createGunzip();
    case "deflate":
      return zlib.createInflate();
    case "br":
      return zlib.createBrotliDecompress();
    default:
      return null;
  }
}

/** The body's pieces (decoded); each wait for the next one may last stalledDownloadTimeout. */
async function* watchedBody(res: IncomingMessage, stall: (then?: () => void) => void, seconds: number, encoding?: string): AsyncGenerator<Uint8Array> {
  const decode = decoder(encoding);
  // a stalled or failed response fails the decoder's reads too
  const source = decode ? lazyModule<typeof import("node:stream")>("node:stream").pipeline(res, decode, () => {}) : res;
  const it = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      stall(() => res.destroy(new HttpTimeout(stalledMessage(seconds))));
      const r = await it.next();
      stall();
      if (r.done) return;
      yield r.value as Uint8Array;
    }
  } finally {
    stall();
    if (!res.complete) res.destroy();
    decode?.destroy();
  }
}

/** HTTP statuses worth another try, as Nix. */
export const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** Network failures worth another try (curl's transient errors in Nix). */
const TRANSIENT_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "EAI_AGAIN", "ENOTFOUND"]);

/** A failed try of a download, with the message its caller gives it; `transient` ones are tried again. */
export class DownloadFailure extends Error {
  constructor(message: string, readonly transient: boolean) {
    super(message);
    this.name = "DownloadFailure";
  }
}

/** Whether a failure is worth another try: a failed connection, a reset, a timeout, a transient status. */
export function isTransientFailure(e: unknown): boolean {
  if (e instanceof DownloadFailure) return e.transient;
  if (e instanceof HttpTimeout) return true;
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && TRANSIENT_CODES.has(code);
}

const RETRY_BASE_MS = 250;

/**
 * Runs a download until it succeeds, fails for good, or download-attempts
 * tries have failed, as Nix: before try n+1 it waits base * 2^(n-1+u) ms (u
 * uniform in [0, 0.5), base 250 ms) and warns "error: <failure>; retrying in N ms" (Nix's text).
 * `run` starts from scratch each time.
 */
export async function withDownloadRetries<T>(run: () => Promise<T>, opts: { limits?: HttpLimits; signal?: AbortSignal; warn?: (text: string) => void } = {}): Promise<T> {
  const limits = opts.limits ?? (await httpLimits());
  const attempts = Math.max(1, limits.downloadAttempts);
  const base = Number(process.env.TVIX_HTTP_RETRY_BASE_MS ?? RETRY_BASE_MS);
  // written at once: a helper thread's process.stderr is flushed by a main thread that may be blocked
  const warn = opts.warn ?? ((text: string) => void writeSync(2, `warning: ${text}\n`));
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (e) {
      if (attempt >= attempts || opts.signal?.aborted || !isTransientFailure(e)) throw e;
      const ms = Math.floor(base * 2 ** (attempt - 1 + Math.random() / 2));
      warn(`error: ${(e as Error).message}; retrying in ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, ms);
        function done() {
          clearTimeout(t);
          opts.signal?.removeEventListener("abort", done);
          resolve();
        }
        opts.signal?.addEventListener("abort", done, { once: true });
      });
      opts.signal?.throwIfAborted();
    }
  }
}

/** A failure of a download of `url` ("unable to download 'URL': ..."), transient where its cause is. */
export function downloadFailure(url: string, e: unknown): DownloadFailure {
  return new DownloadFailure(`unable to download '${url}': ${httpErrorMessage(e)}`, isTransientFailure(e));
}

/** A GET of `url` whose answer is a success (2xx); else a DownloadFailure (transient where Nix retries). */
export async function startDownload(url: string, signal?: AbortSignal): Promise<HttpResponse> {
  let res: HttpResponse;
  try {
    res = await httpRequest(url, { signal });
  } catch (e) {
    signal?.throwIfAborted();
    throw downloadFailure(url, e);
  }
  if (res.status >= 200 && res.status <= 299) return res;
  res.cancel();
  throw new DownloadFailure(`unable to download '${url}': HTTP error ${res.status}`, TRANSIENT_STATUSES.has(res.status));
}

/** The message of a failed request (the cause of a connection failure, or the timeout). */
export function httpErrorMessage(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === "ECONNREFUSED") return `connection refused (${err.message.replace(/^connect ECONNREFUSED /, "")})`;
  return err?.message ?? String(e);
}
