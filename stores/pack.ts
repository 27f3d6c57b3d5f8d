// Pack files: many small content-addressed objects (chunks, manifests,
// directories) in one file, so that a group commit costs one fdatasync
// instead of one per object (see docs/stores.md, "Pack files").
//
//   header   8 bytes   "TVXPACK1"
//   objects  their bytes, back to back
//   index    48 bytes per object: kind u8, 3 zero bytes, length u32 LE,
//            offset u64 LE, digest (32 bytes)
//   trailer  56 bytes: index offset u64 LE, object count u32 LE, 4 zero
//            bytes, sha256 of the index (32 bytes), "TVXPEND1"
//
// A pack is written whole under a temp name, fdatasynced and only then
// renamed into packs/, so a pack under its final name is complete; the
// trailer still lets a reader reject a truncated or damaged file with a clear
// error instead of trusting its index. Object bytes carry no checksum of their
// own: every read re-hashes them against their digest (chunks, directories)
// or the whole blob (manifests), as for loose files.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { createHash } from "node:crypto";

export const ObjectKind = { Chunk: 1, Manifest: 2, Directory: 3 } as const;
export type ObjectKind = (typeof ObjectKind)[keyof typeof ObjectKind];
export const KIND_NAMES: Record<number, string> = { 1: "chunk", 2: "manifest", 3: "directory" };

const HEADER = Buffer.from("TVXPACK1");
const END = Buffer.from("TVXPEND1");
export const HEADER_LEN = 8;
export const ENTRY_LEN = 48;
export const TRAILER_LEN = 56;

export interface PackObject {
  kind: ObjectKind;
  digest: Uint8Array;
  data: Uint8Array;
}

export class PackCorruptError extends Error {
  constructor(path: string, why: string) {
    super(`pack '${path}' is corrupt: ${why}`);
    this.name = "PackCorruptError";
  }
}

/** A pack's bytes (one buffer, transferable to a writer thread) and its index. */
export function encodePack(objects: PackObject[]): { bytes: Uint8Array; index: Uint8Array; indexOff: number } {
  let dataLen = 0;
  for (const o of objects) dataLen += o.data.length;
  const indexOff = HEADER_LEN + dataLen;
  const total = indexOff + objects.length * ENTRY_LEN + TRAILER_LEN;
  const bytes = new Uint8Array(new ArrayBuffer(total));
  const dv = new DataView(bytes.buffer);
  bytes.set(HEADER, 0);
  let off = HEADER_LEN;
  let e = indexOff;
  for (const o of objects) {
    bytes.set(o.data, off);
    dv.setUint8(e, o.kind);
    dv.setUint32(e + 4, o.data.length, true);
    dv.setBigUint64(e + 8, BigInt(off), true);
    bytes.set(o.digest, e + 16);
    off += o.data.length;
    e += ENTRY_LEN;
  }
  const index = bytes.subarray(indexOff, e);
  dv.setBigUint64(e, BigInt(indexOff), true);
  dv.setUint32(e + 8, objects.length, true);
  bytes.set(sha256(index), e + 16);
  bytes.set(END, e + 48);
  return { bytes, index, indexOff };
}

function sha256(b: Uint8Array): Uint8Array {
  return createHash("sha256").update(b).digest();
}

/** One index entry, decoded. */
export interface PackEntry {
  kind: number;
  digest: Uint8Array;
  offset: number;
  length: number;
}

/** Checks an index against the pack's layout; throws PackCorruptError on anything off. */
export function* indexEntries(path: string, index: Uint8Array, indexOff: number): Generator<PackEntry> {
  const dv = new DataView(index.buffer, index.byteOffset, index.length);
  for (let e = 0; e < index.length; e += ENTRY_LEN) {
    const kind = dv.getUint8(e);
    const length = dv.getUint32(e + 4, true);
    const offset = Number(dv.getBigUint64(e + 8, true));
    if (!KIND_NAMES[kind]) throw new PackCorruptError(path, `index entry ${e / ENTRY_LEN} has unknown object kind ${kind}`);
    if (offset < HEADER_LEN || offset + length > indexOff)
      throw new PackCorruptError(path, `index entry ${e / ENTRY_LEN} points outside the object data (offset ${offset}, length ${length})`);
    yield { kind, digest: index.subarray(e + 16, e + 48), offset, length };
  }
}

/** `len` bytes at `pos` of an open file (fewer when the file is shorter: callers' hash checks report that). */
export function readAt(fd: number, len: number, pos: number): Uint8Array {
  const b = new Uint8Array(len);
  let o = 0;
  while (o < len) {
    const n = readSync(fd, b, o, len - o, pos + o);
    if (n === 0) break;
    o += n;
  }
  return o === len ? b : b.subarray(0, o);
}

/** Reads and checks a pack's trailer and index (not its objects). */
export function readPackIndex(path: string): { index: Uint8Array; indexOff: number } {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size < HEADER_LEN + TRAILER_LEN) throw new PackCorruptError(path, `only ${size} bytes, too short for a pack`);
    const head = readAt(fd, HEADER_LEN, 0);
    if (Buffer.compare(head, HEADER) !== 0) throw new PackCorruptError(path, "no pack header");
    const t = readAt(fd, TRAILER_LEN, size - TRAILER_LEN);
    if (Buffer.compare(t.subarray(48), END) !== 0) throw new PackCorruptError(path, "no trailer at its end (truncated or not a pack)");
    const dv = new DataView(t.buffer, t.byteOffset, t.length);
    const indexOff = Number(dv.getBigUint64(0, true));
    const count = dv.getUint32(8, true);
    if (indexOff < HEADER_LEN || indexOff + count * ENTRY_LEN + TRAILER_LEN !== size)
      throw new PackCorruptError(path, `trailer says ${count} objects indexed at offset ${indexOff}, which does not fit its ${size} bytes`);
    const index = readAt(fd, count * ENTRY_LEN, indexOff);
    if (Buffer.compare(sha256(index), t.subarray(16, 48)) !== 0) throw new PackCorruptError(path, "index checksum mismatch");
    for (const _ of indexEntries(path, index, indexOff));
    return { index, indexOff };
  } finally {
    closeSync(fd);
  }
}
