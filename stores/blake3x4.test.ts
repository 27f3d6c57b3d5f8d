// The WASM kernels (stores/hash-kernels.ts) and the BLAKE3 built on them
// (stores/blake3x4.ts) against hash-wasm (core/blake3.ts), and the tree
// reader's digests and cuts against an import that does not use them.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { initBlake3, blake3 as reference } from "../core/blake3";
import { Blake3x4, blake3, createBlake3, initBlake3x4, threadBlake3x4 } from "./blake3x4";
import { MAX_DIGEST, Region, instantiateKernels, kernelMemory, kernelModule } from "./hash-kernels";
import { chunkBuffer } from "./chunker";
import { ingestTree } from "./nar-bridge";
import { openLocalStore } from "./local";
import type { CastoreNode } from "./types";
import { tempDir } from "../test/store-fixtures";
import { pseudoRandom } from "../bench/util";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
// the official test vectors use input byte i = i % 251
const input = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 251);
const data = pseudoRandom(MAX_DIGEST + 3 * 1024 * 1024, 11);

/** Lengths around every size the tree's shape changes at, up to `max`. */
function lengths(max: number): number[] {
  const out = new Set<number>();
  for (let n = 0; n <= 4200; n += 7) out.add(n);
  for (let p = 64; p <= max; p *= 2) for (const d of [-1025, -1024, -1, 0, 1, 1023, 1024, 5000]) if (p + d >= 0 && p + d <= max) out.add(p + d);
  out.add(max);
  return [...out].sort((a, b) => a - b);
}

before(async () => {
  await initBlake3();
  await initBlake3x4();
});

test("WASM SIMD is available (else everything falls back to hash-wasm, and this file tests little)", () => {
  assert.ok(kernelModule(), "kernel module did not validate");
  assert.ok(threadBlake3x4());
});

test("official test vectors", () => {
  assert.equal(hex(blake3(input(0))), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  assert.equal(hex(blake3(input(1))), "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213");
  assert.equal(hex(blake3(input(1024))), "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7");
  assert.equal(hex(blake3(input(1025))), "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444");
  assert.equal(hex(blake3(input(102400))), "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085");
});

test("one-shot and streaming digests equal hash-wasm's at every tree shape (up to 19 MiB)", async () => {
  let seed = 17;
  for (const n of lengths(data.length)) {
    const d = data.subarray(0, n);
    const want = hex(reference(d));
    assert.equal(hex(blake3(d)), want, `one-shot, ${n} bytes`);
    // streaming: the whole at once, then in uneven pieces
    const whole = await createBlake3();
    whole.update(d);
    assert.equal(hex(whole.digest()), want, `streamed whole, ${n} bytes`);
    if (n > 300_000 && n % 1024 !== 0) continue; // pieces of large inputs: a few suffice
    const h = await createBlake3();
    for (let o = 0; o < n; ) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const k = Math.min(n - o, seed % (n > 100_000 ? 300_000 : 3000));
      h.update(d.subarray(o, o + k));
      o += k;
    }
    assert.equal(hex(h.digest()), want, `streamed in pieces, ${n} bytes`);
  }
});

test("digests of bytes in a kernel memory, in place at unaligned offsets, equal hash-wasm's", () => {
  const base = Region.size;
  const k = instantiateKernels(kernelModule()!, kernelMemory(base + MAX_DIGEST + 64), [0]);
  const b = new Blake3x4(k, 0);
  for (const off of [0, 3, 61])
    for (const n of lengths(MAX_DIGEST)) {
      if (off > 0 && n > 70_000 && n !== MAX_DIGEST) continue;
      k.mem.set(data.subarray(0, n), base + off);
      assert.equal(hex(b.digestAt(base + off, n)), hex(reference(data.subarray(0, n))), `${n} bytes at +${off}`);
    }
});

test("the WASM cut-point search cuts like chunker.ts", () => {
  const base = Region.size;
  const k = instantiateKernels(kernelModule()!, kernelMemory(base + MAX_DIGEST), [0]);
  for (const n of [1, 16384, 16385, 65536, 70000, 262144, 262145, 300000, 1 << 20, MAX_DIGEST]) {
    const d = data.subarray(5, 5 + n);
    k.mem.set(d, base + 1);
    assert.deepEqual([...k.cuts(base + 1, n, 0)], chunkBuffer(d).map((c) => c.length), `${n} bytes`);
  }
  // runs of one byte never hit a cut: every chunk is MAX_CHUNK long
  k.mem.fill(7, base, base + (1 << 20));
  assert.deepEqual([...k.cuts(base, 1 << 20, 0)], [262144, 262144, 262144, 262144]);
});

for (const readerSplit of ["worker", "main", "adaptive"] as const)
test(`tree reader (${readerSplit} cuts and hashes whole files): file digests (one chunk, many chunks, empty, larger than a slab) and chunk digests equal hash-wasm's`, async () => {
  const root = join(tempDir("x4-tree"), "t");
  mkdirSync(join(root, "d"), { recursive: true });
  const files: Record<string, Uint8Array> = {
    empty: new Uint8Array(0),
    "one-byte": data.subarray(0, 1),
    "one-kib": data.subarray(1, 1025),
    "d/small": data.subarray(100, 9000),
    "d/exact-chunk-min": data.subarray(7, 7 + 16384),
    "d/two-chunks": data.subarray(9, 9 + 100_000),
    "many-chunks": data.subarray(3, 3 + 3 * 1024 * 1024 + 17),
    "a-slab": data.subarray(0, 16 * 1024 * 1024), // the reader's slab size: read whole
    "over-a-slab": data.subarray(1, 1 + 17 * 1024 * 1024), // comes in pieces
  };
  for (const [p, d] of Object.entries(files)) writeFileSync(join(root, p), d);
  for (let i = 0; i < 300; i++) writeFileSync(join(root, "d", `f${i}`), data.subarray(i * 37, i * 37 + i * 50)); // past the small-tree limit
  const store = openLocalStore(tempDir("x4-store"));
  const r = await ingestTree(store, root, { readerThread: true, readerSplit });
  const byPath = new Map<string, CastoreNode>();
  const walk = async (node: CastoreNode, path: string) => {
    byPath.set(path, node);
    if (node.type !== "directory") return;
    const dir = await store.directories.get(node.digest);
    for (const e of [...dir!.directories.map((x) => ({ ...x, type: "directory" as const })), ...dir!.files.map((x) => ({ ...x, type: "file" as const }))])
      await walk(e as CastoreNode, path ? `${path}/${Buffer.from(e.name).toString()}` : Buffer.from(e.name).toString());
  };
  await walk(r.node, "");
  let files2 = 0;
  for (const [path, node] of byPath) {
    if (node.type !== "file") continue;
    files2++;
    const contents = readFileSync(join(root, path));
    assert.equal(hex(node.digest), hex(reference(contents)), `digest of ${path}`);
    const chunks = await store.blobs.chunks(node.digest);
    assert.ok(chunks, `chunks of ${path}`);
    if (chunks.length > 1) {
      const want = chunkBuffer(contents);
      assert.deepEqual(chunks.map((c) => c.size), want.map((c) => c.length), `cuts of ${path}`);
      chunks.forEach((c, i) => assert.equal(hex(c.digest), hex(reference(want[i])), `chunk ${i} of ${path}`));
    }
  }
  assert.equal(files2, Object.keys(files).length + 300);
  await store.close();
});

test("cuts() of a buffer in windows equals chunkBuffer() at every size and window edge", async () => {
  const b = threadBlake3x4();
  if (!b) return;
  const data = new Uint8Array(5 * 1024 * 1024 + 12345);
  let x = 7;
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff;
  }
  // runs of zeros too: cut points at the maximum size
  data.fill(0, 1_000_000, 2_500_000);
  for (const n of [16 * 1024 + 1, 300_000, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024 - 7, data.length]) {
    const d = data.subarray(0, n);
    assert.deepEqual(b.cuts(d), chunkBuffer(d).map((c) => c.length), `${n} bytes`);
  }
});
