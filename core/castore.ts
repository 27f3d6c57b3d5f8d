// castore Directory messages: canonical protobuf encoding (field numbers of
// Tvix's castore.proto), decoding, validation, digest and size.
//
//   Directory     { repeated DirectoryNode directories = 1; repeated FileNode files = 2; repeated SymlinkNode symlinks = 3; }
//   DirectoryNode { bytes name = 1; bytes digest = 2; uint64 size = 3; }
//   FileNode      { bytes name = 1; bytes digest = 2; uint64 size = 3; bool executable = 4; }
//   SymlinkNode   { bytes name = 1; bytes target = 2; }
//
// Canonical means fields in field-number order, default values (empty bytes,
// 0, false) omitted: what prost emits, so digests equal Tvix's.
import { blake3 } from "./blake3";

/** A node in castore: what a directory entry or a store path's root points at. */
export type CastoreNode =
  | { type: "directory"; name: Uint8Array; digest: Uint8Array; size: bigint }
  | { type: "file"; name: Uint8Array; digest: Uint8Array; size: bigint; executable: boolean }
  | { type: "symlink"; name: Uint8Array; target: Uint8Array };

/** A castore Directory message: three lists, each sorted by name, names unique across all three. */
export interface Directory {
  directories: { name: Uint8Array; digest: Uint8Array; size: bigint }[];
  files: { name: Uint8Array; digest: Uint8Array; size: bigint; executable: boolean }[];
  symlinks: { name: Uint8Array; target: Uint8Array }[];
}

export const DIGEST_LEN = 32;

export class CastoreError extends Error {
  constructor(message: string) {
    super(`invalid castore directory: ${message}`);
    this.name = "CastoreError";
  }
}

// ---------------------------------------------------------------- encoding

class Writer {
  private buf = new Uint8Array(256);
  len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const nb = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
  }

  varint(v: bigint | number): void {
    let n = BigInt(v);
    if (n < 0n) throw new CastoreError("negative varint");
    this.ensure(10);
    while (n >= 0x80n) {
      this.buf[this.len++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.buf[this.len++] = Number(n);
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  bytesField(field: number, b: Uint8Array): void {
    if (b.length === 0) return;
    this.tag(field, 2);
    this.varint(b.length);
    this.raw(b);
  }

  varintField(field: number, v: bigint | number | boolean): void {
    const n = typeof v === "boolean" ? (v ? 1n : 0n) : BigInt(v);
    if (n === 0n) return;
    this.tag(field, 0);
    this.varint(n);
  }

  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function sub(field: number, out: Writer, fill: (w: Writer) => void): void {
  const w = new Writer();
  fill(w);
  // submessages are always emitted, even when empty (repeated element)
  out.tag(field, 2);
  out.varint(w.len);
  out.raw(w.finish());
}

/** The canonical protobuf encoding of a Directory. */
export function encodeDirectory(d: Directory): Uint8Array {
  const w = new Writer();
  for (const n of d.directories)
    sub(1, w, (s) => {
      s.bytesField(1, n.name);
      s.bytesField(2, n.digest);
      s.varintField(3, n.size);
    });
  for (const n of d.files)
    sub(2, w, (s) => {
      s.bytesField(1, n.name);
      s.bytesField(2, n.digest);
      s.varintField(3, n.size);
      s.varintField(4, n.executable);
    });
  for (const n of d.symlinks)
    sub(3, w, (s) => {
      s.bytesField(1, n.name);
      s.bytesField(2, n.target);
    });
  return w.finish();
}

// ---------------------------------------------------------------- decoding

class Reader {
  off = 0;
  constructor(private readonly b: Uint8Array, private readonly end = b.length) {}

  done(): boolean {
    return this.off >= this.end;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.off >= this.end) throw new CastoreError("truncated varint");
      const byte = this.b[this.off++];
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) {
        if (result >= 1n << 64n) throw new CastoreError("varint overflows 64 bits");
        return result;
      }
      shift += 7n;
    }
    throw new CastoreError("varint too long");
  }

  bytes(): Uint8Array {
    const n = Number(this.varint());
    if (this.off + n > this.end) throw new CastoreError("truncated length-delimited field");
    const out = this.b.slice(this.off, this.off + n);
    this.off += n;
    return out;
  }

  /** Skips a field of an unknown number (protobuf forward compatibility). */
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.bytes();
    else if (wire === 1) this.advance(8);
    else if (wire === 5) this.advance(4);
    else throw new CastoreError(`unsupported wire type ${wire}`);
  }

  private advance(n: number): void {
    if (this.off + n > this.end) throw new CastoreError("truncated field");
    this.off += n;
  }
}

function fields(b: Uint8Array, on: (field: number, wire: number, r: Reader) => boolean): void {
  const r = new Reader(b);
  while (!r.done()) {
    const key = r.varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (!on(field, wire, r)) r.skip(wire);
  }
}

function expectWire(field: number, wire: number, want: number): void {
  if (wire !== want) throw new CastoreError(`field ${field} has wire type ${wire}, expected ${want}`);
}

/** Decodes a Directory message (does not validate; see validateDirectory). */
export function decodeDirectory(b: Uint8Array): Directory {
  const d: Directory = { directories: [], files: [], symlinks: [] };
  fields(b, (field, wire, r) => {
    if (field < 1 || field > 3) return false;
    expectWire(field, wire, 2);
    const m = r.bytes();
    if (field === 1) {
      const n: Directory["directories"][number] = { name: new Uint8Array(0), digest: new Uint8Array(0), size: 0n };
      fields(m, (f, w, rr) => {
        if (f === 1 || f === 2) {
          expectWire(f, w, 2);
          if (f === 1) n.name = rr.bytes();
          else n.digest = rr.bytes();
          return true;
        }
        if (f === 3) {
          expectWire(f, w, 0);
          n.size = rr.varint();
          return true;
        }
        return false;
      });
      d.directories.push(n);
    } else if (field === 2) {
      const n: Directory["files"][number] = { name: new Uint8Array(0), digest: new Uint8Array(0), size: 0n, executable: false };
      fields(m, (f, w, rr) => {
        if (f === 1 || f === 2) {
          expectWire(f, w, 2);
          if (f === 1) n.name = rr.bytes();
          else n.digest = rr.bytes();
          return true;
        }
        if (f === 3 || f === 4) {
          expectWire(f, w, 0);
          const v = rr.varint();
          if (f === 3) n.size = v;
          else n.executable = v !== 0n;
          return true;
        }
        return false;
      });
      d.files.push(n);
    } else {
      const n: Directory["symlinks"][number] = { name: new Uint8Array(0), target: new Uint8Array(0) };
      fields(m, (f, w, rr) => {
        if (f === 1 || f === 2) {
          expectWire(f, w, 2);
          if (f === 1) n.name = rr.bytes();
          else n.target = rr.bytes();
          return true;
        }
        return false;
      });
      d.symlinks.push(n);
    }
    return true;
  });
  return d;
}

// ---------------------------------------------------------------- digest, size, validation

/** BLAKE3 of the canonical encoding (initBlake3 must have completed). */
export function directoryDigest(d: Directory): Uint8Array {
  return blake3(encodeDirectory(d));
}

/**
 * The `size` a DirectoryNode pointing at `d` records, as Tvix defines it:
 * the number of files and symlinks, plus for each subdirectory 1 + its size.
 */
export function directorySize(d: Directory): bigint {
  let n = BigInt(d.files.length + d.symlinks.length);
  for (const c of d.directories) n += 1n + c.size;
  return n;
}

const dec = new TextDecoder("utf-8", { fatal: false });

/** A name for messages (lossy for non-UTF-8 bytes). */
export function showName(name: Uint8Array): string {
  return dec.decode(name);
}

/** Throws unless `name` is a valid entry name: non-empty, not . or .., no '/' or NUL. */
export function validateName(name: Uint8Array): void {
  if (name.length === 0) throw new CastoreError("empty name");
  if ((name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e))
    throw new CastoreError(`invalid name '${showName(name)}'`);
  for (const c of name) if (c === 0x2f || c === 0) throw new CastoreError(`invalid name '${showName(name)}' (contains '/' or NUL)`);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/**
 * Checks the invariants of a Directory: names valid, each list sorted,
 * names unique across the three lists, digests 32 bytes, symlink targets
 * valid. Child sizes are checked against their directories by the
 * DirectoryService (checkChildSizes), which can look them up.
 */
export function validateDirectory(d: Directory): void {
  const all: Uint8Array[] = [];
  const checkSorted = (list: { name: Uint8Array }[], what: string) => {
    for (let i = 0; i < list.length; i++) {
      validateName(list[i].name);
      if (i > 0 && compareBytes(list[i - 1].name, list[i].name) >= 0)
        throw new CastoreError(`${what} not sorted or duplicated at '${showName(list[i].name)}'`);
      all.push(list[i].name);
    }
  };
  checkSorted(d.directories, "directories");
  checkSorted(d.files, "files");
  checkSorted(d.symlinks, "symlinks");
  all.sort(compareBytes);
  for (let i = 1; i < all.length; i++)
    if (compareBytes(all[i - 1], all[i]) === 0) throw new CastoreError(`duplicate name '${showName(all[i])}'`);
  for (const n of d.directories) if (n.digest.length !== DIGEST_LEN) throw new CastoreError(`directory '${showName(n.name)}' has a digest of ${n.digest.length} bytes`);
  for (const n of d.files) if (n.digest.length !== DIGEST_LEN) throw new CastoreError(`file '${showName(n.name)}' has a digest of ${n.digest.length} bytes`);
  for (const n of d.symlinks) {
    if (n.target.length === 0) throw new CastoreError(`symlink '${showName(n.name)}' has an empty target`);
    if (n.target.includes(0)) throw new CastoreError(`symlink '${showName(n.name)}' target contains NUL`);
  }
}

/** Checks that each child DirectoryNode's size equals the size of the directory it points at. */
export function checkChildSize(parent: Directory, childName: Uint8Array, child: Directory): void {
  const node = parent.directories.find((n) => compareBytes(n.name, childName) === 0);
  if (!node) throw new CastoreError(`no subdirectory '${showName(childName)}'`);
  const want = directorySize(child);
  if (node.size !== want) throw new CastoreError(`subdirectory '${showName(childName)}' records size ${node.size}, but its directory has size ${want}`);
}

/** Validates a root or child node on its own (names of roots may be empty). */
export function validateNode(node: CastoreNode, allowEmptyName = false): void {
  if (!(allowEmptyName && node.name.length === 0)) validateName(node.name);
  if (node.type === "symlink") {
    if (node.target.length === 0 || node.target.includes(0)) throw new CastoreError("invalid symlink target");
  } else if (node.digest.length !== DIGEST_LEN) throw new CastoreError(`node '${showName(node.name)}' has a digest of ${node.digest.length} bytes`);
}

/** The entries of a directory as nodes, merged and sorted by name (NAR order). */
export function directoryEntries(d: Directory): CastoreNode[] {
  const out: CastoreNode[] = [
    ...d.directories.map((n) => ({ type: "directory" as const, ...n })),
    ...d.files.map((n) => ({ type: "file" as const, ...n })),
    ...d.symlinks.map((n) => ({ type: "symlink" as const, ...n })),
  ];
  return out.sort((a, b) => compareBytes(a.name, b.name));
}

/** Builds a Directory from nodes in any order (sorting each list). */
export function directoryFromEntries(entries: CastoreNode[]): Directory {
  const d: Directory = { directories: [], files: [], symlinks: [] };
  const sorted = [...entries].sort((a, b) => compareBytes(a.name, b.name));
  for (const e of sorted) {
    if (e.type === "directory") d.directories.push({ name: e.name, digest: e.digest, size: e.size });
    else if (e.type === "file") d.files.push({ name: e.name, digest: e.digest, size: e.size, executable: e.executable });
    else d.symlinks.push({ name: e.name, target: e.target });
  }
  return d;
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");
}

export function fromHex(s: string): Uint8Array {
  if (!/^([0-9a-f]{2})*$/.test(s)) throw new Error(`invalid hex digest '${s}'`);
  return new Uint8Array(Buffer.from(s, "hex"));
}
