// Downloads for the fetchers (runs on a sync-call worker: see
// glue/sync-calls.ts). Results are cached under
// $XDG_CACHE_HOME/tvix-ts/fetch by URL, reused for `ttl` seconds (Nix's
// tarball-ttl, default 3600), written to a temp file and renamed into place.
import { mkdirs } from "../../stores/mkdirs";
import { createHash } from "../../core/digest";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { downloadFailure, startDownload, withDownloadRetries } from "../../stores/http";

export function fetchCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || (process.env.HOME ? join(process.env.HOME, ".cache") : join(homedir() || tmpdir(), ".cache"));
  return join(base, "tvix-ts", "fetch");
}

export interface Downloaded {
  /** A local file holding the bytes (the cache entry, or the file of a file:// URL). */
  file: string;
  /** sha256 of the bytes, hex. */
  sha256: string;
}

function sha256File(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

export interface DownloadRequest {
  url: string;
  /** Seconds a cached download of the URL is reused (default 3600). */
  ttl?: number;
}

export async function download(req: DownloadRequest): Promise<Downloaded> {
  const url = req.url;
  if (url.startsWith("file://")) {
    const file = fileURLToPath(url);
    try {
      statSync(file);
    } catch {
      throw new Error(`unable to download '${url}': file does not exist`);
    }
    return { file, sha256: sha256File(file) };
  }
  if (!/^https?:\/\//.test(url)) throw new Error(`not implemented: fetching '${url}' (supported: http://, https://, file://)`);
  const dir = join(fetchCacheDir(), createHash("sha256").update(url).digest("hex").slice(0, 40));
  const dataFile = join(dir, "data");
  const metaFile = join(dir, "meta.json");
  const ttl = req.ttl ?? 3600;
  try {
    const meta = JSON.parse(readFileSync(metaFile, "utf8")) as { url: string; time: number; sha256: string };
    if (meta.url === url && Date.now() / 1000 - meta.time < ttl) {
      statSync(dataFile);
      return { file: dataFile, sha256: meta.sha256 };
    }
  } catch {
    /* no usable cache entry */
  }
  // the configured connect-timeout, stalled-download-timeout and download-attempts apply (stores/http.ts)
  const sha256 = await withDownloadRetries(() => downloadOnce(url, dataFile));
  const metaTmp = `${metaFile}.${process.pid}.tmp`;
  writeFileSync(metaTmp, JSON.stringify({ url, time: Math.floor(Date.now() / 1000), sha256 }));
  renameSync(metaTmp, metaFile);
  return { file: dataFile, sha256 };
}

/** One try: the body into a temp file renamed to `dataFile`; its sha256 (hex). A failure leaves no file. */
async function downloadOnce(url: string, dataFile: string): Promise<string> {
  const res = await startDownload(url);
  mkdirs(dirname(dataFile));
  const tmp = `${dataFile}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, "w");
  const h = createHash("sha256");
  try {
    for await (const chunk of res.body) {
      h.update(chunk);
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off);
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw downloadFailure(url, e);
  }
  closeSync(fd);
  renameSync(tmp, dataFile);
  return h.digest("hex");
}
