// A small zip writer for tests (no zip tool needed): deflated or stored
// members with Unix modes, including entries no sane archiver writes
// (names with "..", devices) to check that readers refuse them.
import { lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { crc32, deflateRawSync } from "node:zlib";

export interface ZipEntry {
  name: string;
  /** full st_mode (type and permission bits) */
  mode: number;
  data?: Uint8Array;
  stored?: boolean;
}

export function zipBytes(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, "utf8");
    const data = Buffer.from(e.data ?? new Uint8Array(0));
    const body = e.stored || data.length === 0 ? data : deflateRawSync(data);
    const method = body === data ? 0 : 8;
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6); // UTF-8 names
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, body);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made on Unix
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((e.mode & 0xffff) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** Zips `base/rel` (recursively) into `out`, names relative to `base`. */
export function writeZip(out: string, base: string, rel: string): void {
  const entries: ZipEntry[] = [];
  const walk = (r: string) => {
    const st = lstatSync(join(base, r));
    if (st.isDirectory()) {
      entries.push({ name: r + "/", mode: st.mode });
      for (const n of readdirSync(join(base, r)).sort()) walk(`${r}/${n}`);
    } else if (st.isSymbolicLink()) entries.push({ name: r, mode: st.mode, data: Buffer.from(readlinkSync(join(base, r))) });
    else entries.push({ name: r, mode: st.mode, data: readFileSync(join(base, r)) });
  };
  walk(rel);
  writeFileSync(out, zipBytes(entries));
}
