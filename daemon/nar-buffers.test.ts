// NAR buffers used again (daemon/nar-buffers.ts): memory goes back to use
// only once every NAR in it is released, never while one is held.
import { test } from "node:test";
import assert from "node:assert/strict";
import { NarBuffers } from "./nar-buffers";

const overlaps = (a: Uint8Array, b: Uint8Array) => a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;

test("a large NAR's buffer is used again only after its release", () => {
  const pool = new NarBuffers();
  const a = pool.take(3 << 20);
  assert.equal(a.bytes.length, 3 << 20);
  const b = pool.take(3 << 20);
  assert.notEqual(a.bytes.buffer, b.bytes.buffer);
  a.release();
  a.release(); // a second release changes nothing
  const c = pool.take(2_500_000);
  assert.equal(c.bytes.buffer, a.bytes.buffer, "the same size class is used again");
  const d = pool.take(3 << 20);
  assert.ok(d.bytes.buffer !== a.bytes.buffer && d.bytes.buffer !== b.bytes.buffer);
});

test("small NARs share slabs; a slab is used again only once all of its NARs are released", () => {
  const pool = new NarBuffers();
  const held = Array.from({ length: 40 }, () => pool.take(60_000)); // more than one slab
  const slabs = new Set(held.map((h) => h.bytes.buffer));
  assert.ok(slabs.size >= 2 && slabs.size < 40);
  for (let i = 0; i < held.length; i++) for (let j = i + 1; j < held.length; j++) assert.ok(!overlaps(held[i].bytes, held[j].bytes));
  const first = held[0].bytes.buffer;
  // all but one NAR of the first slab released: it is not used again yet
  for (const h of held.slice(1)) if (h.bytes.buffer === first) h.release();
  const more = Array.from({ length: 40 }, () => pool.take(60_000));
  assert.ok(more.every((m) => !overlaps(m.bytes, held[0].bytes)));
  held[0].release();
  for (const m of more) m.release();
  for (const h of held) h.release();
  const before = new Set([...held, ...more].map((h) => h.bytes.buffer));
  const again = Array.from({ length: 40 }, () => pool.take(60_000));
  assert.ok(again.every((m) => before.has(m.bytes.buffer)), "released slabs are used again, no new ones");
});
