// The packs of a local store (<root>/packs/*.pack) as one lookup table.
//
// Packs are loaded when the store opens and whenever a read misses (another
// process may have committed a pack since): a rescan lists the directory and
// loads the indexes of packs not seen yet. Every writer process names its
// packs uniquely and a pack only appears under its final name once complete
// (stores/pack.ts), so a loaded index can be trusted to point at written
// bytes. A pack whose index fails its checks is remembered with the reason
// (`tvix store verify` reports it) and never used for lookups. The first
// scan takes the indexes it can from packs/index-cache (pack-index-cache.ts)
// and writes that anew when many packs were not in it.
import { closeSync, openSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ENTRY_LEN, type ObjectKind, type PackEntry, indexEntries, readAt, readPackIndex } from "./pack";
import { mkdirs } from "./mkdirs";
import { readIndexCache, writeIndexCache, type CachedIndex } from "./pack-index-cache";

/** The first scan writes the index cache anew when it loaded at least this many packs without it. */
const CACHE_REWRITE_AFTER = 8;

interface LoadedPack {
  path: string;
  index: Uint8Array;
  indexOff: number;
}

/** Keeps at most this many packs open for reading. */
const MAX_OPEN = 64;
/** Table values: pack number * 2^32 + entry number (both far below 2^21 and 2^32). */
const PACK_SHIFT = 2 ** 32;

/**
 * The in-memory key of an object: its kind, then its 32-byte digest as 16
 * UTF-16 code units (not for display; measured 2.5x cheaper than hex, and
 * built several times per object an import writes).
 */
export function objectKey(kind: ObjectKind, digest: Uint8Array): string {
  const d = digest;
  if (d.length !== 32) throw new Error(`internal error: a ${d.length}-byte object digest`);
  return String.fromCharCode(
    kind, d[0] | (d[1] << 8), d[2] | (d[3] << 8), d[4] | (d[5] << 8), d[6] | (d[7] << 8), d[8] | (d[9] << 8), d[10] | (d[11] << 8),
    d[12] | (d[13] << 8), d[14] | (d[15] << 8), d[16] | (d[17] << 8), d[18] | (d[19] << 8), d[20] | (d[21] << 8), d[22] | (d[23] << 8),
    d[24] | (d[25] << 8), d[26] | (d[27] << 8), d[28] | (d[29] << 8), d[30] | (d[31] << 8),
  );
}

export class PackSet {
  private packs: LoadedPack[] = [];
  private seen = new Set<string>();
  private where = new Map<string, number>();
  private fds = new Map<number, number>();
  /** The packs directory's mtime at the last scan, when that was already old (else -1). */
  private settledMtime = -1n;
  /** Packs whose index could not be used: file name -> why. */
  readonly bad = new Map<string, string>();

  /**
   * `indexCache`: where the index cache's temp file is written (a directory
   * of the store's temp files), or null to read every pack's own index.
   */
  readonly dir: string;

  constructor(
    dir: string,
    private readonly indexCache: { tmpDir: string } | null = null,
  ) {
    // normalised, without a trailing slash: pack paths are made by appending "/<name>"
    const d = join(dir);
    this.dir = d.length > 1 && d.endsWith("/") ? d.slice(0, -1) : d;
    mkdirs(this.dir, 0o755);
    this.rescan();
  }

  /**
   * Loads packs that appeared since the last scan; true when there were any.
   * Skips listing the directory when its mtime has not changed since a scan
   * that saw it already a second old (mtimes are coarse: a rename right after
   * a scan may not change it, so a recent mtime is never trusted).
   */
  rescan(): boolean {
    const mtime = statSync(this.dir, { bigint: true }).mtimeNs;
    if (mtime === this.settledMtime) return false;
    const settled = mtime < BigInt(Date.now() - 1000) * 1_000_000n;
    const first = this.seen.size === 0 && this.bad.size === 0;
    const cache: Map<string, CachedIndex> = first && this.indexCache ? readIndexCache(this.dir) : new Map();
    let uncached = 0;
    let added = false;
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith(".pack") || this.seen.has(name)) continue;
      this.seen.add(name);
      const path = `${this.dir}/${name}`; // (dir is normalised: path.join is slow next to the rest of this loop)
      const cached = cache.get(name);
      if (cached) {
        this.register(path, cached.index, cached.indexOff);
        added = true;
        continue;
      }
      try {
        const { index, indexOff } = readPackIndex(path);
        this.register(path, index, indexOff);
        added = true;
        uncached++;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT") this.seen.delete(name);
        else this.bad.set(name, (e as Error).message);
      }
    }
    this.settledMtime = settled ? mtime : -1n;
    if (first && this.indexCache && uncached >= CACHE_REWRITE_AFTER)
      writeIndexCache(this.dir, this.indexCache.tmpDir, this.packs.map((p) => ({ name: p.path.slice(p.path.lastIndexOf("/") + 1), index: p.index, indexOff: p.indexOff })));
    return added;
  }

  /** Adds a pack this process has just committed (its index is still in memory). */
  addCommitted(path: string, index: Uint8Array, indexOff: number): void {
    const name = path.slice(path.lastIndexOf("/") + 1);
    if (this.seen.has(name)) return;
    this.seen.add(name);
    this.register(path, index, indexOff);
  }

  private register(path: string, index: Uint8Array, indexOff: number): void {
    const n = this.packs.length;
    this.packs.push({ path, index, indexOff });
    const dv = new DataView(index.buffer, index.byteOffset, index.length);
    for (let e = 0, i = 0; e < index.length; e += ENTRY_LEN, i++) {
      const key = objectKey(dv.getUint8(e) as ObjectKind, index.subarray(e + 16, e + 48));
      if (!this.where.has(key)) this.where.set(key, n * PACK_SHIFT + i);
    }
  }

  /** Whether a loaded pack holds the object (no rescan). */
  hasLoaded(kind: ObjectKind, digest: Uint8Array): boolean {
    return this.where.has(objectKey(kind, digest));
  }

  /** Whether some pack holds the object, rescanning once on a miss. */
  has(kind: ObjectKind, digest: Uint8Array): boolean {
    return this.hasLoaded(kind, digest) || (this.rescan() && this.hasLoaded(kind, digest));
  }

  /** The object's stored bytes (unverified: callers re-hash), rescanning once on a miss; null when no pack has it. */
  read(kind: ObjectKind, digest: Uint8Array, rescan = true): Uint8Array | null {
    const key = objectKey(kind, digest);
    let loc = this.where.get(key);
    if (loc === undefined && rescan && this.rescan()) loc = this.where.get(key);
    if (loc === undefined) return null;
    const p = Math.floor(loc / PACK_SHIFT);
    const e = (loc % PACK_SHIFT) * ENTRY_LEN;
    const pack = this.packs[p];
    const dv = new DataView(pack.index.buffer, pack.index.byteOffset, pack.index.length);
    return readAt(this.fd(p), dv.getUint32(e + 4, true), Number(dv.getBigUint64(e + 8, true)));
  }

  private fd(p: number): number {
    let fd = this.fds.get(p);
    if (fd !== undefined) {
      // most recently used last
      this.fds.delete(p);
      this.fds.set(p, fd);
      return fd;
    }
    if (this.fds.size >= MAX_OPEN) {
      const [oldest, ofd] = this.fds.entries().next().value as [number, number];
      this.fds.delete(oldest);
      closeSync(ofd);
    }
    fd = openSync(this.packs[p].path, "r");
    this.fds.set(p, fd);
    return fd;
  }

  /** Every loaded pack with its entries (for verify). */
  *entries(): Generator<{ path: string; entries: Generator<PackEntry>; read: (e: PackEntry) => Uint8Array }> {
    for (let p = 0; p < this.packs.length; p++) {
      const pack = this.packs[p];
      yield { path: pack.path, entries: indexEntries(pack.path, pack.index, pack.indexOff), read: (e) => readAt(this.fd(p), e.length, e.offset) };
    }
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
