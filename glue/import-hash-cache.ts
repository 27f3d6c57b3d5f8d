// What hashing a host file for the store gave (builtins.path, a path
// interpolated into a string, filterSource without a filter...), kept by the
// file's stamp: device, inode, size, mode, modification and change times.
// Every evaluation of the bootstrap of a package set hashes the same big
// static binaries again (Nix does too); with an entry, it stats them only.
//
// A stamp stands for one content only once the file has not changed for a
// while (settleMs): any later write, chmod, rename over it or re-creation
// gives it a newer change time or another inode, and a change within the
// clock tick of the stamp (the "racy git" case) cannot happen to a file
// whose change time is already seconds old. The stamp is taken before and
// after the file is read, so a file written while it was hashed is not
// recorded. Only single regular files are kept (a directory would need the
// stamps of all its entries). TVIX_IMPORT_CACHE=0 turns the cache off.
//
// A wrong entry could still not put wrong contents in the store: writing an
// imported path checks its contents against its content address (flush.ts).
import { lstatSync, type BigIntStats } from "node:fs";
import { Hash, type HashAlgo } from "../core/hash";
import type { ParseCacheStorage } from "../eval/io";
import { createHash } from "../core/digest";

const MAGIC = "TVIXIMP1";
/** How long a file must have stayed unchanged before its stamp stands for its contents (TVIX_IMPORT_CACHE_SETTLE_MS, for tests). */
const settleMs = (): number => Number(process.env.TVIX_IMPORT_CACHE_SETTLE_MS ?? 3000);
/** When the entries pass this size, the least recently written are removed down to half of it. */
const LIMIT_BYTES = 16 * 1024 * 1024;

export function importCacheEnabled(): boolean {
  return process.env.TVIX_IMPORT_CACHE !== "0";
}

/** A regular file's stamp, or null (not a regular file, or gone). */
function stampOf(path: string): { key: string; changedMs: number } | null {
  let st: BigIntStats | undefined;
  try {
    st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  } catch {
    return null;
  }
  if (st === undefined || !st.isFile()) return null;
  const changedNs = st.ctimeNs > st.mtimeNs ? st.ctimeNs : st.mtimeNs;
  return { key: `${st.dev}:${st.ino}:${st.size}:${st.mode}:${st.mtimeNs}:${st.ctimeNs}`, changedMs: Number(changedNs / 1000000n) };
}

/** The hash of a host path's NAR (or of its bytes, `flat`), from the cache when its stamp is known. */
export function cachedImportHash(storage: ParseCacheStorage | undefined, path: string, algo: HashAlgo, flat: boolean, compute: () => Hash): Hash {
  const before = storage && importCacheEnabled() ? stampOf(path) : null;
  if (!storage || before === null) return compute();
  const key = `${MAGIC}\0${flat ? "flat" : "nar"}\0${algo}\0${path}\0${before.key}`;
  const name = "i-" + createHash("sha256").update(key).digest("hex").slice(0, 40);
  const found = readEntry(storage, name, key, algo);
  if (found) return found;
  const hash = compute();
  if (before.changedMs <= Date.now() - settleMs() && stampOf(path)?.key === before.key) {
    if (storage.write(name, Buffer.from(`${key}\n${hash.format("base16", true)}`, "utf8")) && Math.random() < 1 / 64) storage.prune(LIMIT_BYTES);
  }
  return hash;
}

/** An entry's hash when it is there and made for exactly this key (else a miss). */
function readEntry(storage: ParseCacheStorage, name: string, key: string, algo: HashAlgo): Hash | null {
  const raw = storage.read(name);
  if (raw === undefined) return null;
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("utf8");
  const nl = text.lastIndexOf("\n");
  if (nl < 0 || text.slice(0, nl) !== key) return null;
  try {
    const h = Hash.parse(text.slice(nl + 1));
    return h.algo === algo ? h : null;
  } catch {
    return null;
  }
}
