import { test } from "node:test";
import assert from "node:assert/strict";
import { initBlake3, blake3 } from "../core/blake3";
import { encodeDirectory } from "../core/castore";
import { encodeForPut } from "./directory-service";
import { openMemoryStore } from "./memory";
import type { Directory } from "./types";

const enc = new TextEncoder();
const file = (name: string) => ({ name: enc.encode(name), digest: blake3(enc.encode(name)), size: 1n, executable: false });

test("put() of an encodeForPut() result stores what put() of the directory would; forged or invalid ones are not trusted", async () => {
  await initBlake3();
  const dir: Directory = { directories: [], files: [file("a"), file("b")], symlinks: [] };
  const e = encodeForPut(dir);
  assert.deepEqual(e.digest, blake3(encodeDirectory(dir)));
  const store = openMemoryStore();
  assert.deepEqual(await store.directories.put(e), e.digest);
  assert.deepEqual(await store.directories.put(dir), e.digest);
  assert.deepEqual(await store.directories.get(e.digest), dir);
  // an object that was not made by encodeForPut() is encoded again: its digest is not believed
  const forged = { dir, bytes: e.bytes, digest: new Uint8Array(32) };
  assert.deepEqual(await store.directories.put(forged), e.digest);
  // validation happens in encodeForPut(), before anything is stored
  const unsorted: Directory = { directories: [], files: [file("b"), file("a")], symlinks: [] };
  assert.throws(() => encodeForPut(unsorted), /sorted/);
  await assert.rejects(store.directories.put({ dir: unsorted, bytes: e.bytes, digest: e.digest }), /sorted/);
  await store.close();
});
