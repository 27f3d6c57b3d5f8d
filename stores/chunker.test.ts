import { test } from "node:test";
import assert from "node:assert/strict";
import { Chunker, chunkBuffer, MIN_CHUNK, MAX_CHUNK, AVG_CHUNK } from "./chunker";
import { noise } from "../test/store-fixtures";
import { ChunkedBlobService } from "./blob-service";
import { MemoryChunkBackend } from "./memory-backend";
import { initBlake3, blake3 } from "../core/blake3";

const data = noise(8 * 1024 * 1024, 3);

test("chunk sizes stay within bounds and average near 64 KiB", () => {
  const chunks = chunkBuffer(data);
  for (const c of chunks.slice(0, -1)) assert.ok(c.length >= MIN_CHUNK && c.length <= MAX_CHUNK, `chunk of ${c.length}`);
  const avg = data.length / chunks.length;
  assert.ok(avg > AVG_CHUNK * 0.6 && avg < AVG_CHUNK * 1.6, `average ${avg}`);
  assert.equal(chunks.reduce((n, c) => n + c.length, 0), data.length);
});

test("streaming cuts equal whole-buffer cuts, for any input chunking", () => {
  const want = chunkBuffer(data).map((c) => c.length);
  for (const step of [1000, 65536, 300000, 1 << 20]) {
    const ch = new Chunker();
    const got: number[] = [];
    for (let i = 0; i < data.length; i += step) for (const c of ch.push(data.subarray(i, i + step))) got.push(c.length);
    for (const c of ch.finish()) got.push(c.length);
    assert.deepEqual(got, want, `step ${step}`);
  }
});

test("an insertion in the middle only changes nearby chunks", () => {
  const edited = new Uint8Array(data.length + 100);
  const mid = 4 * 1024 * 1024 + 12345;
  edited.set(data.subarray(0, mid));
  edited.set(noise(100, 99), mid);
  edited.set(data.subarray(mid), mid + 100);
  const key = (c: Uint8Array) => Buffer.from(c).toString("base64");
  const before = new Set(chunkBuffer(data).map(key));
  const after = chunkBuffer(edited);
  const fresh = after.filter((c) => !before.has(key(c)));
  assert.ok(fresh.length <= 3, `${fresh.length} new chunks`);
});

test("blob service: multi-chunk blobs get the BLAKE3 of the whole, stream or buffer", async () => {
  await initBlake3();
  const svc = new ChunkedBlobService(new MemoryChunkBackend());
  const d1 = await svc.put(data);
  assert.deepEqual(d1, blake3(data));
  const d2 = await svc.put((async function* () {
    for (let i = 0; i < data.length; i += 77777) yield data.subarray(i, i + 77777);
  })());
  assert.deepEqual(d2, d1);
  assert.ok((await svc.chunks(d1))!.length > 50);
  const parts: Uint8Array[] = [];
  for await (const c of (await svc.open(d1))!) parts.push(c);
  assert.deepEqual(new Uint8Array(Buffer.concat(parts)), data);
  // empty blob
  const e = await svc.put((async function* () {})());
  assert.deepEqual(e, blake3(new Uint8Array(0)));
  assert.ok(await svc.has(e));
  assert.equal(await svc.open(new Uint8Array(32)), null);
});
