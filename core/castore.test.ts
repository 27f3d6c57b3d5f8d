import { test, before } from "node:test";
import assert from "node:assert/strict";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { initBlake3, blake3 } from "./blake3";
import {
  encodeDirectory,
  decodeDirectory,
  directoryDigest,
  directorySize,
  validateDirectory,
  checkChildSize,
  directoryEntries,
  directoryFromEntries,
  toHex,
  CastoreError,
} from "./castore";
import type { Directory } from "../stores/types";

const enc = new TextEncoder();
const n = (s: string) => enc.encode(s);
const D = (fill: number) => new Uint8Array(32).fill(fill);

before(async () => {
  await initBlake3();
});

const sample: Directory = {
  directories: [
    { name: n("a"), digest: D(1), size: 3n },
    { name: n("empty"), digest: D(2), size: 0n },
  ],
  files: [
    { name: n(".keep"), digest: D(3), size: 0n, executable: false },
    { name: n("run"), digest: D(4), size: 300000n, executable: true },
  ],
  symlinks: [{ name: n("z-ü"), target: n("../x") }],
};

/** The same message through @bufbuild/protobuf's generic writer: a reference encoding. */
function referenceEncode(d: Directory): Uint8Array {
  const w = new BinaryWriter();
  for (const x of d.directories) {
    w.tag(1, 2).fork();
    if (x.name.length) w.tag(1, 2).bytes(x.name);
    if (x.digest.length) w.tag(2, 2).bytes(x.digest);
    if (x.size) w.tag(3, 0).uint64(x.size);
    w.join();
  }
  for (const x of d.files) {
    w.tag(2, 2).fork();
    if (x.name.length) w.tag(1, 2).bytes(x.name);
    if (x.digest.length) w.tag(2, 2).bytes(x.digest);
    if (x.size) w.tag(3, 0).uint64(x.size);
    if (x.executable) w.tag(4, 0).bool(true);
    w.join();
  }
  for (const x of d.symlinks) {
    w.tag(3, 2).fork();
    if (x.name.length) w.tag(1, 2).bytes(x.name);
    if (x.target.length) w.tag(2, 2).bytes(x.target);
    w.join();
  }
  return w.finish();
}

test("empty directory: empty encoding, digest = BLAKE3('') as in Tvix", () => {
  const e: Directory = { directories: [], files: [], symlinks: [] };
  assert.equal(encodeDirectory(e).length, 0);
  assert.equal(toHex(directoryDigest(e)), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  assert.equal(directorySize(e), 0n);
});

test("encoding equals a generic protobuf writer's, and decodes back", () => {
  const bytes = encodeDirectory(sample);
  assert.deepEqual(bytes, referenceEncode(sample));
  assert.deepEqual(decodeDirectory(bytes), sample);
  assert.deepEqual(directoryDigest(sample), blake3(bytes));
});

test("a file node with a large size and a .keep file: hand-checked bytes", () => {
  const d: Directory = { directories: [], files: [{ name: n(".keep"), digest: D(0xaa), size: 0n, executable: false }], symlinks: [] };
  const b = encodeDirectory(d);
  // 0x12 = field 2, LEN; inner: 0x0a 05 ".keep" 0x12 0x20 <32 bytes>
  assert.deepEqual([...b.subarray(0, 4)], [0x12, 2 + 5 + 2 + 32, 0x0a, 5]);
  assert.equal(b.length, 2 + 2 + 5 + 2 + 32);
  const big: Directory = { directories: [], files: [{ name: n("f"), digest: D(1), size: (1n << 40n) + 5n, executable: true }], symlinks: [] };
  assert.deepEqual(decodeDirectory(encodeDirectory(big)), big);
  assert.deepEqual(encodeDirectory(big), referenceEncode(big));
});

test("decoder skips unknown fields", () => {
  const w = new BinaryWriter();
  w.tag(2, 2).fork().tag(1, 2).bytes(n("f")).tag(2, 2).bytes(D(5)).tag(9, 0).uint64(7).join();
  w.tag(7, 2).bytes(n("ignored"));
  const d = decodeDirectory(w.finish());
  assert.equal(d.files.length, 1);
  assert.deepEqual(d.files[0].digest, D(5));
});

test("size: files + symlinks + each subdirectory's 1 + size", () => {
  assert.equal(directorySize(sample), 2n + 1n + (1n + 3n) + (1n + 0n));
});

test("validation rejects bad names, order, duplicates, digests", () => {
  validateDirectory(sample);
  const bad = (d: Partial<Directory>, re: RegExp) =>
    assert.throws(() => validateDirectory({ directories: [], files: [], symlinks: [], ...d }), (e: Error) => e instanceof CastoreError && re.test(e.message));
  const f = (name: string, digest = D(1)) => ({ name: n(name), digest, size: 1n, executable: false });
  for (const name of ["", ".", "..", "a/b", "a\0b"]) bad({ files: [f(name)] }, /name/);
  bad({ files: [f("b"), f("a")] }, /not sorted/);
  bad({ files: [f("a"), f("a")] }, /not sorted or duplicated/);
  bad({ files: [f("a")], symlinks: [{ name: n("a"), target: n("x") }] }, /duplicate name 'a'/);
  bad({ files: [f("a", new Uint8Array(31))] }, /digest of 31 bytes/);
  bad({ directories: [{ name: n("d"), digest: new Uint8Array(33), size: 0n }] }, /digest of 33 bytes/);
  bad({ symlinks: [{ name: n("s"), target: new Uint8Array(0) }] }, /empty target/);
  validateDirectory({ directories: [], files: [f("..."), f(".a")], symlinks: [] });
});

test("checkChildSize compares a DirectoryNode's size with its directory", () => {
  const child: Directory = { directories: [], files: [{ name: n("x"), digest: D(1), size: 1n, executable: false }], symlinks: [] };
  const ok: Directory = { directories: [{ name: n("c"), digest: directoryDigest(child), size: 1n }], files: [], symlinks: [] };
  checkChildSize(ok, n("c"), child);
  const wrong: Directory = { directories: [{ name: n("c"), digest: directoryDigest(child), size: 2n }], files: [], symlinks: [] };
  assert.throws(() => checkChildSize(wrong, n("c"), child), /records size 2/);
});

test("entries merge in name order and rebuild the same directory", () => {
  const entries = directoryEntries(sample);
  assert.deepEqual(
    entries.map((e) => new TextDecoder().decode(e.name)),
    [".keep", "a", "empty", "run", "z-ü"],
  );
  assert.deepEqual(directoryFromEntries(entries.reverse()), sample);
});
