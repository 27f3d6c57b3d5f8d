// The indexes of a store's packs, kept together in one file (packs/index-cache)
// so that opening the store reads one file instead of every pack's trailer
// and index (each read, checked against its sha256: ~0.25 ms a pack here,
// and every commit adds a pack).
//
//   header   8 bytes   "TVXPIDX1"
//   count    u32 LE
//   entries  name length u16 LE, name (ASCII), index offset u64 LE,
//            index length u32 LE, the index (48 bytes per object, as in the pack)
//   trailer  BLAKE3-256 of everything before it (32 bytes)
//
// Only a cache: a pack is taken from it only when its name is in packs/
// (names are never reused), and packs it does not have are read from the
// packs themselves. A missing, torn or damaged file (no fsync: it is written
// under a temp name and renamed) is ignored and written anew. Object bytes
// are re-hashed at every read either way; `tvix store verify` reads every
// pack's own index.
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ENTRY_LEN, checkIndex } from "./pack";
import { threadBlake3x4 } from "./blake3x4";
import { tempTag } from "../core/digest";

export const INDEX_CACHE = "index-cache";
const MAGIC = Buffer.from("TVXPIDX1");
const DIGEST_LEN = 32;

export interface CachedIndex {
  index: Uint8Array;
  indexOff: number;
}

/** The cached indexes by pack file name; empty when there is no usable cache. */
export function readIndexCache(packsDir: string): Map<string, CachedIndex> {
  const out = new Map<string, CachedIndex>();
  const b3 = threadBlake3x4();
  if (!b3) return out;
  let buf: Buffer;
  try {
    buf = readFileSync(join(packsDir, INDEX_CACHE));
  } catch {
    return out;
  }
  const bodyLen = buf.length - DIGEST_LEN;
  if (bodyLen < MAGIC.length + 4 || Buffer.compare(buf.subarray(0, MAGIC.length), MAGIC) !== 0) return out;
  if (Buffer.compare(b3.digest(buf.subarray(0, bodyLen)), buf.subarray(bodyLen)) !== 0) return out;
  try {
    // (a DataView: this loop runs once per process, before Buffer's read methods are compiled)
    const dv = new DataView(buf.buffer, buf.byteOffset, bodyLen);
    const count = dv.getUint32(MAGIC.length, true);
    let at = MAGIC.length + 4;
    for (let i = 0; i < count; i++) {
      const nameLen = dv.getUint16(at, true);
      const name = buf.toString("latin1", at + 2, at + 2 + nameLen);
      at += 2 + nameLen;
      const indexOff = dv.getUint32(at, true) + dv.getUint32(at + 4, true) * 2 ** 32;
      const len = dv.getUint32(at + 8, true);
      at += 12;
      if (len % ENTRY_LEN !== 0 || at + len > bodyLen) return new Map();
      const index = buf.subarray(at, at + len);
      at += len;
      // the same bounds checks as a pack's own index gets (path.join per pack costs more than the rest)
      checkIndex(`${packsDir}/${name}`, index, indexOff);
      out.set(name, { index, indexOff });
    }
    if (at !== bodyLen) return new Map();
  } catch {
    return new Map();
  }
  return out;
}

/** Writes the cache of these packs' indexes (best effort: a cache that cannot be written is no error). */
export function writeIndexCache(packsDir: string, tmpDir: string, packs: { name: string; index: Uint8Array; indexOff: number }[]): void {
  const b3 = threadBlake3x4();
  if (!b3) return;
  packs = packs.filter((p) => /^[\x20-\x7e]{1,1000}$/.test(p.name));
  let size = MAGIC.length + 4;
  for (const p of packs) size += 2 + p.name.length + 12 + p.index.length;
  const buf = Buffer.alloc(size + DIGEST_LEN);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(packs.length, MAGIC.length);
  let at = MAGIC.length + 4;
  for (const p of packs) {
    buf.writeUInt16LE(p.name.length, at);
    buf.write(p.name, at + 2, "latin1");
    at += 2 + p.name.length;
    buf.writeUInt32LE(p.indexOff % 2 ** 32, at);
    buf.writeUInt32LE(Math.floor(p.indexOff / 2 ** 32), at + 4);
    buf.writeUInt32LE(p.index.length, at + 8);
    at += 12;
    buf.set(p.index, at);
    at += p.index.length;
  }
  buf.set(b3.digest(buf.subarray(0, size)), size);
  // (named as the durable writer names its temp files: a crashed writer's is removed by the next)
  const tmp = join(tmpDir, `${process.pid}-${INDEX_CACHE}-${tempTag()}`);
  try {
    writeFileSync(tmp, buf, { mode: 0o644 });
    renameSync(tmp, join(packsDir, INDEX_CACHE));
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {}
  }
}
