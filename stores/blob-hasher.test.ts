import { test } from "node:test";
import assert from "node:assert/strict";
import { BlobHasher, BLOB_HASHER_MAX } from "./blob-hasher";
import { chunkBuffer } from "./chunker";
import { initBlake3, blake3 } from "../core/blake3";
import { noise } from "../test/store-fixtures";
import { ChunkedBlobService } from "./blob-service";
import { MemoryChunkBackend } from "./memory-backend";

test("the blob hashing thread cuts and hashes as the JS chunker and BLAKE3 do", async () => {
  await initBlake3();
  const hasher = BlobHasher.shared();
  if (!hasher) return; // no WASM SIMD here: nothing is hashed off-thread
  const blobs = [noise(1024 * 1024 + 17, 1), noise(4 * 1024 * 1024, 2), noise(100_000, 3), new Uint8Array(2 * 1024 * 1024).fill(9), noise(BLOB_HASHER_MAX, 4)];
  // all at once: they queue for the one thread
  const got = await Promise.all(blobs.map((b) => hasher.hash(b)));
  blobs.forEach((data, k) => {
    const h = got[k];
    const pieces = chunkBuffer(data);
    assert.deepEqual([...h.cuts], pieces.map((p) => p.length), `cuts of blob ${k}`);
    assert.equal(h.digests.length, 32 * pieces.length);
    pieces.forEach((p, i) => assert.deepEqual(h.digests.subarray(32 * i, 32 * i + 32), blake3(p), `chunk ${i} of blob ${k}`));
    assert.deepEqual(h.whole, blake3(data), `whole blob ${k}`);
  });
  await assert.rejects(hasher.hash(new Uint8Array(BLOB_HASHER_MAX + 1)), /too large/);
});

test("putSync() with hashes from the blob hashing thread stores what it stores without them", async () => {
  await initBlake3();
  const hasher = BlobHasher.shared();
  if (!hasher) return;
  const data = noise(3 * 1024 * 1024, 5);
  const h = await hasher.hash(data);
  const plain = new ChunkedBlobService(new MemoryChunkBackend());
  const given = new ChunkedBlobService(new MemoryChunkBackend());
  const a = plain.putSync(data);
  const b = given.putSync(data, h.cuts, h.whole, h.digests);
  await Promise.all([a.durable, b.durable]);
  assert.deepEqual(b.digest, a.digest);
  assert.deepEqual(await given.chunks(b.digest), await plain.chunks(a.digest));
  const parts: Uint8Array[] = [];
  for await (const c of (await given.open(b.digest))!) parts.push(c);
  assert.deepEqual(new Uint8Array(Buffer.concat(parts)), data);
  // digests that do not match the cuts are refused, never stored
  assert.throws(() => given.putSync(noise(2 * 1024 * 1024, 6), h.cuts, h.whole, h.digests.subarray(32)), /do not match/);
});
