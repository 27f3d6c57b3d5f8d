import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { readZip, ZipError } from "./zip";

/** A zip with one stored member `name` holding `data`; `extra` goes in the central entry's extra field. */
function storedZip(name: string, data: Uint8Array, extra = Buffer.alloc(0)): Buffer {
  const n = Buffer.from(name);
  // the local header and the central entry share crc, sizes and name length, at different offsets
  const header = (size: number, signature: number, at: number) => {
    const h = Buffer.alloc(size);
    h.writeUInt32LE(signature, 0);
    h.writeUInt32LE(crc32(data), at);
    h.writeUInt32LE(data.length, at + 4);
    h.writeUInt32LE(data.length, at + 8);
    h.writeUInt16LE(n.length, at + 12);
    return h;
  };
  const local = header(30, 0x04034b50, 14);
  const central = header(46, 0x02014b50, 16);
  central.writeUInt16LE(extra.length, 30);
  const cdOffset = local.length + n.length + data.length;
  const cd = Buffer.concat([central, n, extra]);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(1, 8);
  eocd.writeUInt16LE(1, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(cdOffset, 16);
  return Buffer.concat([local, n, data, cd, eocd]);
}

test("a well-formed stored member reads back", () => {
  const [m] = readZip(storedZip("a/f", Buffer.from("hello")));
  assert.equal(m.name, "a/f");
  assert.equal(Buffer.from(m.data()).toString(), "hello");
});

// found by fuzz/unpack: both read past the end of the buffer (a RangeError from Buffer)
test("a central entry whose lengths run past the end of the file is a ZipError", () => {
  const z = storedZip("a/f", Buffer.from("hello"));
  const cd = z.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  z.writeUInt16LE(0xfff0, cd + 30); // extra field length
  assert.throws(() => readZip(z), (e) => e instanceof ZipError && /runs past the end/.test(e.message));
});

test("a zip64 extra field too short for the values it must hold is a ZipError", () => {
  const extra = Buffer.alloc(8);
  extra.writeUInt16LE(0x0001, 0);
  extra.writeUInt16LE(4, 2); // 4 bytes where a 64-bit size is due
  const z = storedZip("a/f", Buffer.from("hello"), extra);
  const cd = z.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  z.writeUInt32LE(0xffffffff, cd + 24); // size saturated: its 64-bit value is in the extra field
  assert.throws(() => readZip(z), (e) => e instanceof ZipError && /zip64 extra field/.test(e.message));
});
