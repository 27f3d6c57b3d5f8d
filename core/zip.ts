// Reading zip archives in memory (fetchTarball/fetchTree of a .zip): the
// central directory at the end of the file lists the members; each
// member's data follows its local header, stored or deflated. Zip64 sizes
// and offsets are read; encrypted members and other compression methods are
// refused. CRC-32s are checked.
import { crc32, inflateRawSync } from "node:zlib";

export class ZipError extends Error {
  constructor(message: string) {
    super(`zip: ${message}`);
    this.name = "ZipError";
  }
}

export type ZipMemberType = "directory" | "file" | "symlink" | "other";

export interface ZipMember {
  name: string;
  type: ZipMemberType;
  /** Unix permission bits where the archive records them (made on Unix), else 0o644/0o755. */
  mode: number;
  /** The member's contents (a symlink's target for symlinks). */
  data(): Uint8Array;
}

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const S_IFMT = 0o170000;

function u64(b: Buffer, at: number): number {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError("a size or offset is too large");
  return Number(v);
}

/** The members of the zip archive `buf`, in central directory order. */
export function readZip(buf: Buffer): ZipMember[] {
  // the end of central directory record: 22 bytes and a comment of up to 64 KiB
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD && i + 22 + buf.readUInt16LE(i + 20) <= buf.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError("no end of central directory record (not a zip file, or truncated)");
  let count = buf.readUInt16LE(eocd + 10);
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || buf.readUInt32LE(loc) !== EOCD64_LOCATOR) throw new ZipError("zip64 sizes without a zip64 locator");
    const rec = u64(buf, loc + 8);
    if (rec + 56 > buf.length || buf.readUInt32LE(rec) !== EOCD64) throw new ZipError("bad zip64 end of central directory record");
    count = u64(buf, rec + 32);
    cdSize = u64(buf, rec + 40);
    cdOffset = u64(buf, rec + 48);
  }
  if (cdOffset + cdSize > buf.length) throw new ZipError("the central directory lies outside the file (truncated?)");
  const members: ZipMember[] = [];
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== CENTRAL) throw new ZipError("bad central directory entry");
    const madeBy = buf.readUInt16LE(p + 4) >> 8;
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    let compSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const external = buf.readUInt32LE(p + 38);
    let local = buf.readUInt32LE(p + 42);
    const nameBytes = buf.subarray(p + 46, p + 46 + nameLen);
    // names are UTF-8 when flag bit 11 says so; others are taken as Latin-1
    const name = nameBytes.toString(flags & 0x800 ? "utf8" : "latin1");
    // zip64 extra field: the 64-bit values of the fields saturated above, in this order
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = buf.readUInt16LE(e);
      const len = buf.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) (size = u64(buf, q)), (q += 8);
        if (compSize === 0xffffffff) (compSize = u64(buf, q)), (q += 8);
        if (local === 0xffffffff) local = u64(buf, q);
      }
      e += 4 + len;
    }
    p += 46 + nameLen + extraLen + commentLen;

    const unixMode = madeBy === 3 ? external >>> 16 : 0;
    const dosDir = (external & 0x10) !== 0;
    let type: ZipMemberType;
    switch (unixMode & S_IFMT) {
      case 0o040000: type = "directory"; break;
      case 0o120000: type = "symlink"; break;
      case 0o100000: type = "file"; break;
      case 0: type = name.endsWith("/") || dosDir ? "directory" : "file"; break;
      default: type = "other"; // devices, fifos, sockets
    }
    const mode = unixMode & 0o7777 || (type === "directory" ? 0o755 : 0o644);
    if (flags & 0x1) throw new ZipError(`'${name}' is encrypted`);
    if (method !== 0 && method !== 8) throw new ZipError(`'${name}' uses compression method ${method} (only stored and deflate are supported)`);
    const at = local;
    members.push({
      name,
      type,
      mode,
      data() {
        if (at + 30 > buf.length || buf.readUInt32LE(at) !== LOCAL) throw new ZipError(`bad local header for '${name}'`);
        const start = at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28);
        if (start + compSize > buf.length) throw new ZipError(`'${name}' lies outside the file (truncated?)`);
        const raw = buf.subarray(start, start + compSize);
        let out: Uint8Array;
        try {
          out = method === 0 ? raw : inflateRawSync(raw, { maxOutputLength: Math.max(size, 1) });
        } catch (e) {
          throw new ZipError(`'${name}': ${(e as Error).message}`);
        }
        if (out.length !== size) throw new ZipError(`'${name}' has ${out.length} bytes, its header says ${size}`);
        if (crc32(out) !== crc) throw new ZipError(`'${name}' fails its CRC check (corrupt data)`);
        return out;
      },
    });
  }
  return members;
}
