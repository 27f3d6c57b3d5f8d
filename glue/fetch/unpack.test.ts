// Zip archives unpack into a tree in memory: what lands where, and what is refused (tarballs: unpack-tar.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unpackArchive } from "./unpack";
import { zipBytes, type ZipEntry } from "../../test/zip-writer";
import type { NarNode } from "../../core/nar";

const dir = mkdtempSync(join(tmpdir(), "tvix-unpack-"));
let n = 0;
function zip(entries: ZipEntry[]): string {
  const f = join(dir, `a${n++}.zip`);
  writeFileSync(f, zipBytes(entries));
  return f;
}
const DIR = 0o040755, FILE = 0o100644, EXE = 0o100755, LINK = 0o120777;
const unpack = (file: string) => unpackArchive({ file, url: `file://${file}` });

test("zip: files, executables, symlinks and empty directories, its single top directory taken", async () => {
  const t = await unpack(
    zip([
      { name: "top/", mode: DIR },
      { name: "top/a", mode: FILE, data: Buffer.from("hello\n".repeat(1000)) },
      { name: "top/bin/run", mode: EXE, data: Buffer.from("#!/bin/sh\n"), stored: true },
      { name: "top/link", mode: LINK, data: Buffer.from("a") },
      { name: "top/empty/", mode: DIR },
    ]),
  );
  assert.equal(t.type, "directory");
  const e = (t as Extract<NarNode, { type: "directory" }>).entries;
  assert.deepEqual([...e.keys()].sort(), ["a", "bin", "empty", "link"]);
  assert.deepEqual(e.get("link"), { type: "symlink", target: "a" });
  const a = e.get("a") as Extract<NarNode, { type: "regular" }>;
  assert.equal(a.executable, false);
  assert.equal(Buffer.from(a.contents).toString(), "hello\n".repeat(1000));
  const bin = e.get("bin") as Extract<NarNode, { type: "directory" }>;
  assert.equal((bin.entries.get("run") as Extract<NarNode, { type: "regular" }>).executable, true);
});

test("zip: members that escape, go through symlinks or are devices are refused; nothing is written to disk", async () => {
  const before = readdirSync(dir).length;
  const cases: [ZipEntry[], RegExp][] = [
    [[{ name: "top/../../evil", mode: FILE, data: Buffer.from("x") }], /points outside the archive/],
    [[{ name: "../evil", mode: FILE, data: Buffer.from("x") }], /points outside the archive/],
    [[{ name: "top/l", mode: LINK, data: Buffer.from("/etc") }, { name: "top/l/passwd", mode: FILE, data: Buffer.from("x") }], /inside 'l', which is a symlink/],
    [[{ name: "top/dev", mode: 0o020644 }], /device, fifo or socket/],
    [[{ name: "top/fifo", mode: 0o010644 }], /device, fifo or socket/],
    [[{ name: "top/d/", mode: DIR }, { name: "top/d", mode: FILE, data: Buffer.from("x") }], /replaces a directory/],
  ];
  for (const [entries, err] of cases) await assert.rejects(unpack(zip(entries)), err, JSON.stringify(entries.map((x) => x.name)));
  // only the archives themselves are in the directory
  assert.equal(readdirSync(dir).length, before + cases.length);
});

test("zip: corrupt and truncated archives are clear errors", async () => {
  const f = join(dir, "bad.zip");
  const good = zipBytes([{ name: "top/a", mode: FILE, data: Buffer.from("some data ".repeat(100)) }]);
  const bad = Buffer.from(good);
  bad[40] ^= 0xff; // inside the deflated data
  writeFileSync(f, bad);
  await assert.rejects(unpack(f), /zip: 'top\/a'/);
  writeFileSync(f, good.subarray(0, good.length - 30));
  await assert.rejects(unpack(f), /zip: /);
});
