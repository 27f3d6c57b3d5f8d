import { test } from "node:test";
import assert from "node:assert/strict";
import { WireReader, WireWriter, WireError, writeFramed } from "./wire";

async function* chunks(b: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

test("values round trip through any chunking", async () => {
  const w = new WireWriter().u64(0).u64(2n ** 64n - 1n).bool(true).string("").string("hello").string("ünï").strings(["a", "bcdefghij"]).stringMap([["k", "v"]]);
  const bytes = w.take();
  assert.equal(bytes.length % 8, 0);
  for (const size of [1, 5, 8, 1000]) {
    const r = new WireReader(chunks(bytes, size));
    assert.equal(await r.u64(), 0);
    assert.equal(await r.u64Big(), 2n ** 64n - 1n);
    assert.equal(await r.bool(), true);
    assert.equal(await r.string(), "");
    assert.equal(await r.string(), "hello");
    assert.equal(await r.string(), "ünï");
    assert.deepEqual(await r.strings(), ["a", "bcdefghij"]);
    assert.deepEqual([...(await r.stringMap())], [["k", "v"]]);
    assert.ok(await r.atEnd());
  }
});

test("string encoding is length, bytes, zero padding", () => {
  assert.deepEqual([...new WireWriter().string("abc").take()], [3, 0, 0, 0, 0, 0, 0, 0, 97, 98, 99, 0, 0, 0, 0, 0]);
});

test("absurd lengths, bad padding and EOF are clear errors", async () => {
  const huge = new WireWriter().u64(2n ** 40n).take();
  await assert.rejects(new WireReader(chunks(huge, 8)).string(), /refusing a 1099511627776-byte string/);
  await assert.rejects(new WireReader(chunks(new WireWriter().u64(2n ** 40n).take(), 8)).strings(), /refusing a list/);
  const bad = new WireWriter().string("abc").take();
  bad[12] = 1;
  await assert.rejects(new WireReader(chunks(bad, 8)).string(), /non-zero padding/);
  await assert.rejects(new WireReader(chunks(new Uint8Array(5), 8)).u64(), WireError);
  await assert.rejects(new WireReader(chunks(new WireWriter().u64(2n ** 60n).take(), 8)).u64(), /too large/);
});

test("framed streams round trip", async () => {
  const out: Uint8Array[] = [];
  async function* src() {
    yield new Uint8Array([1, 2, 3]);
    yield new Uint8Array(0);
    yield new Uint8Array(100).fill(7);
  }
  await writeFramed(src(), (b) => void out.push(b));
  const all = new Uint8Array(Buffer.concat(out));
  const r = new WireReader(chunks(new Uint8Array([...all, 9, 0, 0, 0, 0, 0, 0, 0]), 7));
  const got: number[] = [];
  for await (const c of r.framed()) got.push(...c);
  assert.equal(got.length, 103);
  assert.equal(await r.u64(), 9);
});
