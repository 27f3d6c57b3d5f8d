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
import { createHash } from "../core/digest";

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

/**
 * Builds a pack in a reusable buffer: objects are copied in as they are
 * added, so the caller's buffers are free again at once (ingest reads every
 * file into one scratch buffer), and the pack is written from here.
 */
export class PackBuilder {
  private len = HEADER_LEN;
  private index: Uint8Array = new Uint8Array(256 * ENTRY_LEN);
  private dv = new DataView(this.index.buffer);
  private count = 0;

  /** `roomFor`: how big the buffer grows when it must (at least what is added; default twice its size). */
  constructor(
    private buf: Uint8Array,
    private readonly roomFor = 0,
  ) {
    buf.set(HEADER, 0);
  }

  /** Bytes so far (header and objects). */
  get size(): number {
    return this.len;
  }

  get objects(): number {
    return this.count;
  }

  add(kind: ObjectKind, digest: Uint8Array, data: Uint8Array): void {
    if (this.len + data.length > this.buf.length) this.buf = grow(this.buf, this.len, Math.max(this.len + data.length, this.roomFor));
    if ((this.count + 1) * ENTRY_LEN > this.index.length) {
      this.index = grow(this.index, this.count * ENTRY_LEN, (this.count + 1) * ENTRY_LEN);
      this.dv = new DataView(this.index.buffer);
    }
    this.buf.set(data, this.len);
    const e = this.count * ENTRY_LEN;
    this.dv.setUint8(e, kind);
    this.dv.setUint32(e + 4, data.length, true);
    this.dv.setBigUint64(e + 8, BigInt(this.len), true);
    this.index.set(digest, e + 16);
    this.len += data.length;
    this.count++;
  }

  /**
   * The pack as two parts to write one after the other: `body` (header and
   * objects, a view of `buffer`, which may be reused once body is written)
   * and `tail` (index and trailer); `index` is a view of tail.
   */
  finish(): { body: Uint8Array; tail: Uint8Array; index: Uint8Array; indexOff: number; buffer: Uint8Array } {
    const n = this.count * ENTRY_LEN;
    const tail = new Uint8Array(n + TRAILER_LEN);
    tail.set(this.index.subarray(0, n));
    const index = tail.subarray(0, n);
    const dv = new DataView(tail.buffer);
    dv.setBigUint64(n, BigInt(this.len), true);
    dv.setUint32(n + 8, this.count, true);
    tail.set(sha256(index), n + 16);
    tail.set(END, n + 48);
    return { body: this.buf.subarray(0, this.len), tail, index, indexOff: this.len, buffer: this.buf };
  }
}

function grow(b: Uint8Array, used: number, need: number): Uint8Array {
  const out = new Uint8Array(Math.max(need, b.length * 2));
  out.set(b.subarray(0, used));
  return out;
}

/** A whole pack in one buffer (tests, tools). */
export function encodePack(objects: PackObject[]): Uint8Array {
  const b = new PackBuilder(new Uint8Array(HEADER_LEN));
  for (const o of objects) b.add(o.kind, o.digest, o.data);
  const { body, tail } = b.finish();
  return new Uint8Array(Buffer.concat([body, tail]));
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
    const { kind, length, offset } = checkedEntry(path, dv, e, indexOff);
    yield { kind, digest: index.subarray(e + 16, e + 48), offset, length };
  }
}

/**
 * What indexEntries checks, without making the entries: opening a store
 * checks every cached pack index (thousands of entries) this way.
 */
export function checkIndex(path: string, index: Uint8Array, indexOff: number): void {
  const dv = new DataView(index.buffer, index.byteOffset, index.length);
  for (let e = 0; e < index.length; e += ENTRY_LEN) checkedEntry(path, dv, e, indexOff);
}

function checkedEntry(path: string, dv: DataView, e: number, indexOff: number): { kind: ObjectKind; length: number; offset: number } {
  const kind = dv.getUint8(e);
  const length = dv.getUint32(e + 4, true);
  // (exact below 2^53; any offset above that is past the data anyway)
  const offset = dv.getUint32(e + 8, true) + dv.getUint32(e + 12, true) * 2 ** 32;
  if (!KIND_NAMES[kind]) throw new PackCorruptError(path, `index entry ${e / ENTRY_LEN} has unknown object kind ${kind}`);
  if (offset < HEADER_LEN || offset + length > indexOff)
    throw new PackCorruptError(path, `index entry ${e / ENTRY_LEN} points outside the object data (offset ${offset}, length ${length})`);
  return { kind: kind as ObjectKind, length, offset };
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
