import { test } from "node:test";
import assert from "node:assert/strict";
import { narFromTree, parseNarToTree, readNar, NarError, NarWriter, NarNode, writeTree } from "./nar";

const enc = new TextEncoder();
const file = (s: string, executable = false): NarNode => ({ type: "regular", executable, contents: enc.encode(s) });
const dir = (o: Record<string, NarNode>): NarNode => ({ type: "directory", entries: new Map(Object.entries(o)) });

const sample = dir({
  "b.txt": file("hello\n"),
  a: dir({ x: file("#!/bin/sh\n", true), empty: dir({}) }),
  link: { type: "symlink", target: "../nowhere" },
  "z-ü": file(""),
  Z: file("upper"),
});

async function* chunked(b: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

test("tree -> NAR -> tree round trip, any chunking", async () => {
  const nar = narFromTree(sample);
  assert.deepEqual(await parseNarToTree(nar), sample);
  for (const size of [1, 3, 8, 100]) {
    let files = 0;
    const r = await readNar(chunked(nar, size), {
      async file(_p, _x, _s, contents) {
        files++;
        for await (const _ of contents);
      },
      symlink() {},
    });
    assert.equal(r.narSize, nar.length);
    assert.equal(files, 4);
  }
});

test("streaming writer gives the same bytes as narFromTree", async () => {
  const chunks: Uint8Array[] = [];
  const w = new NarWriter((c) => void chunks.push(c));
  await writeTree(w, sample);
  await w.finish();
  assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), narFromTree(sample));
  assert.equal(w.size, narFromTree(sample).length);
});

test("writer enforces sorted unique names and a complete tree", async () => {
  const w = new NarWriter(() => {});
  await w.startDirectory();
  await w.entry("b");
  await w.symlink("x");
  await assert.rejects(w.entry("a"), NarError);
  await assert.rejects(w.entry("b"), NarError);
  await assert.rejects(w.finish(), NarError);
  const w2 = new NarWriter(() => {});
  await assert.rejects(w2.regular(false, 3, new Uint8Array(2)), /does not match/);
});

test("sorting is by UTF-8 bytes, not UTF-16 code units", () => {
  // U+FF5E (3 UTF-8 bytes, EF BD 9E) vs U+1F600 (surrogate pair in UTF-16; F0 9F 98 80 in UTF-8)
  const t = dir({ "\u{1F600}": file("a"), "\uFF5E": file("b") });
  const nar = Buffer.from(narFromTree(t)).toString("latin1");
  assert.ok(nar.indexOf("\xef\xbd\x9e") < nar.indexOf("\xf0\x9f\x98\x80"));
});

function mutate(b: Uint8Array, off: number, val: number): Uint8Array {
  const c = new Uint8Array(b);
  c[off] = val;
  return c;
}

test("malformed NARs are rejected with NarError", async () => {
  const nar = narFromTree(sample);
  const bad: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["wrong magic", mutate(nar, 8, "N".charCodeAt(0))],
    ["truncated", nar.subarray(0, nar.length - 9)],
    ["trailing garbage", new Uint8Array([...nar, 0, 0, 0, 0, 0, 0, 0, 0])],
    ["bad padding", mutate(nar, 8 + 13, 1)],
    ["unsorted", narFromTreeUnsorted()],
    ["name with slash", narWithName("a/b")],
    ["name ..", narWithName("..")],
    ["empty name", narWithName("")],
    ["absurd length", (() => { const c = new Uint8Array(nar); c.set([255, 255, 255, 255, 255, 255, 255, 255], 0); return c; })()],
  ];
  for (const [what, b] of bad) {
    await assert.rejects(parseNarToTree(b), NarError, what);
  }
});

function narFromTreeUnsorted(): Uint8Array {
  // swap the names of two entries in a valid NAR of equal-length names
  const nar = Buffer.from(narFromTree(dir({ aa: file("1"), bb: file("2") })));
  const s = nar.toString("latin1").replace("aa", "\0\0").replace("bb", "aa").replace("\0\0", "bb");
  return new Uint8Array(Buffer.from(s, "latin1"));
}

function narWithName(name: string): Uint8Array {
  const nar = Buffer.from(narFromTree(dir({ [name.length === 0 ? "Q" : "Q".repeat(name.length)]: file("1") })));
  const s = nar.toString("latin1");
  const i = s.indexOf("name") + 8; // "name" token: 8 bytes length, 4 bytes text, 4 padding
  const lenOff = i;
  const out = Buffer.from(s, "latin1");
  out.writeUInt32LE(Buffer.byteLength(name), lenOff);
  if (name.length > 0) out.write(name, lenOff + 8, "latin1");
  else return new Uint8Array(Buffer.concat([out.subarray(0, lenOff), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]), out.subarray(lenOff + 16)]));
  return new Uint8Array(out);
}

test("fuzz: mutated NARs either parse or throw NarError", async () => {
  const nar = narFromTree(sample);
  let seed = 12345;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  for (let i = 0; i < 2000; i++) {
    const c = new Uint8Array(nar);
    const edits = 1 + rnd(4);
    for (let e = 0; e < edits; e++) c[rnd(c.length)] = rnd(4) === 0 ? 0xff : rnd(256);
    const cut = rnd(8) === 0 ? c.subarray(0, rnd(c.length)) : c;
    try {
      await parseNarToTree(cut);
    } catch (e) {
      assert.ok(e instanceof NarError, `unexpected ${(e as Error)?.stack}`);
    }
  }
});

test("a file claiming more bytes than the NAR holds is a NarError, not an allocation", async () => {
  // found by fuzz/nar: parseNarToTree allocated the declared size first (2^40 bytes: RangeError)
  const nar = narFromTree({ type: "regular", executable: false, contents: new Uint8Array([1, 2, 3]) });
  const bad = nar.slice();
  const at = Buffer.from(bad).indexOf(Buffer.from("contents")) + 8;
  new DataView(bad.buffer).setBigUint64(at, 1n << 40n, true);
  await assert.rejects(parseNarToTree(bad), (e) => e instanceof NarError && /truncated file contents/.test(e.message));
});
