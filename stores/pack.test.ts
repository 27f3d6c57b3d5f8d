import { test, before } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, truncateSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { blake3, initBlake3 } from "../core/blake3";
import { toHex } from "../core/castore";
import { ENTRY_LEN, HEADER_LEN, ObjectKind, PackCorruptError, TRAILER_LEN, encodePack, indexEntries, readPackIndex } from "./pack";
import { openLocalStore } from "./local";
import { PackSet } from "./pack-set";
import { ingestPath } from "./nar-bridge";
import { verifyStore } from "./verify";
import { makeVariedTree, tempDir, collectStream, noise } from "../test/store-fixtures";
import { dumpPath } from "./host-tree";

let tree: string;
before(async () => {
  await initBlake3();
  tree = makeVariedTree(tempDir("pack-tree"));
});

function samplePack(): { path: string; objects: { kind: ObjectKind; digest: Uint8Array; data: Uint8Array }[] } {
  const objects = [noise(100, 1), noise(5000, 2), new Uint8Array(0)].map((data, i) => ({ kind: [ObjectKind.Chunk, ObjectKind.Directory, ObjectKind.Chunk][i], digest: blake3(data), data }));
  const path = join(tempDir("pack"), "a.pack");
  writeFileSync(path, encodePack(objects));
  return { path, objects };
}

test("a pack's index lists every object at its offset", () => {
  const { path, objects } = samplePack();
  const { index, indexOff } = readPackIndex(path);
  const bytes = readFileSync(path);
  const entries = [...indexEntries(path, index, indexOff)];
  assert.equal(entries.length, 3);
  entries.forEach((e, i) => {
    assert.equal(e.kind, objects[i].kind);
    assert.deepEqual(e.digest, objects[i].digest);
    assert.deepEqual(new Uint8Array(bytes.subarray(e.offset, e.offset + e.length)), objects[i].data);
  });
  assert.equal(indexOff, HEADER_LEN + 5100);
  assert.equal(bytes.length, indexOff + 3 * ENTRY_LEN + TRAILER_LEN);
});

test("truncated, garbage and foreign packs are rejected with a clear error", () => {
  const bad = (mutate: (path: string, b: Buffer) => void, why: RegExp) => {
    const { path } = samplePack();
    mutate(path, readFileSync(path));
    assert.throws(() => readPackIndex(path), (e: Error) => e instanceof PackCorruptError && e.message.startsWith(`pack '${path}' is corrupt: `) && why.test(e.message));
  };
  bad((p, b) => truncateSync(p, b.length - 1), /no trailer at its end \(truncated or not a pack\)/);
  bad((p, b) => truncateSync(p, b.length - TRAILER_LEN - 1), /no trailer/);
  bad((p) => truncateSync(p, 20), /too short for a pack/);
  bad((p, b) => {
    b[b.length - TRAILER_LEN - 5] ^= 0xff; // inside the index
    writeFileSync(p, b);
  }, /index checksum mismatch/);
  bad((p, b) => {
    b.writeUInt32LE(7, b.length - TRAILER_LEN + 8); // object count
    writeFileSync(p, b);
  }, /trailer says 7 objects indexed at offset \d+, which does not fit its \d+ bytes/);
  bad((p, b) => {
    b[0] = 0x41;
    writeFileSync(p, b);
  }, /no pack header/);
  bad((p) => writeFileSync(p, "garbage ".repeat(100)), /no pack header/);
});

/** Flips a byte of the first object of `kind` in any pack of a store; returns that object's digest. */
function corruptPacked(root: string, kind: ObjectKind, pick: (e: { length: number }) => boolean = (e) => e.length > 0): Uint8Array {
  for (const name of readdirSync(join(root, "packs"))) {
    const path = join(root, "packs", name);
    const { index, indexOff } = readPackIndex(path);
    for (const e of indexEntries(path, index, indexOff)) {
      if (e.kind !== kind || !pick(e)) continue;
      const b = readFileSync(path);
      b[e.offset + Math.floor(e.length / 2)] ^= 1;
      chmodSync(path, 0o644);
      writeFileSync(path, b);
      return e.digest.slice();
    }
  }
  throw new Error(`no packed object of kind ${kind}`);
}

async function importedStore(tag: string) {
  const root = tempDir(tag);
  const store = openLocalStore(root);
  const info = await ingestPath(store, tree, store.storeDir);
  await store.registerPath(info);
  await store.close();
  return { root, info };
}

test("a corrupt chunk in a pack is reported by reads and by verify", async () => {
  const { root, info } = await importedStore("pack-corrupt-chunk");
  const digest = corruptPacked(root, ObjectKind.Chunk);
  const store = openLocalStore(root);
  await assert.rejects(collectStream(store.narFromPath(info.storePath)), new RegExp(`chunk ${toHex(digest)}( of blob [0-9a-f]{64})? is corrupt: its contents hash to`));
  const r = await verifyStore(store);
  await store.close();
  assert.ok(
    r.problems.some((p) => new RegExp(`^chunk ${toHex(digest)} in pack '.*\\.pack' \\(offset \\d+\\) is corrupt: its contents hash to [0-9a-f]{64}$`).test(p)),
    r.problems.join("\n"),
  );
});

test("corrupt directories and manifests in packs are reported by verify", async () => {
  for (const kind of [ObjectKind.Directory, ObjectKind.Manifest]) {
    const { root } = await importedStore("pack-corrupt-meta");
    const digest = corruptPacked(root, kind);
    const store = openLocalStore(root);
    const r = await verifyStore(store);
    await store.close();
    const what = kind === ObjectKind.Directory ? "directory" : "manifest";
    assert.ok(r.problems.some((p) => p.startsWith(`${what} ${toHex(digest)} in pack '`) && p.includes("is corrupt")), r.problems.join("\n"));
  }
});

test("a pack with a garbage index is not used, and verify says which and why", async () => {
  const { root, info } = await importedStore("pack-garbage-index");
  const victim = join(root, "packs", readdirSync(join(root, "packs")).sort()[0]);
  chmodSync(victim, 0o644);
  const b = readFileSync(victim);
  b[b.length - TRAILER_LEN - 1] ^= 0xff;
  writeFileSync(victim, b);
  const store = openLocalStore(root);
  const r = await verifyStore(store);
  assert.ok(r.problems.some((p) => p.startsWith(`pack '${victim}' is corrupt: index checksum mismatch (its objects are not used`)), r.problems.join("\n"));
  // its objects are missing, not served from an unchecked index
  assert.ok(r.problems.some((p) => p.includes(info.storePath) && /is missing/.test(p)), r.problems.join("\n"));
  await store.close();
});

test("reads find packs written by another store instance after open (rescan on a miss)", async () => {
  const root = tempDir("pack-rescan");
  const reader = openLocalStore(root);
  const writer = openLocalStore(root);
  const info = await ingestPath(writer, tree, writer.storeDir);
  await writer.registerPath(info);
  await writer.close();
  assert.deepEqual(await collectStream(reader.narFromPath(info.storePath)), await collectStream(dumpPath(tree)));
  await reader.close();
});

test("dedup: objects stored loose or in packs are not written again", async () => {
  const root = tempDir("pack-dedup");
  const loose = openLocalStore(root, "/nix/store", `local://${root}?pack=false`, true, false);
  await ingestPath(loose, tree, loose.storeDir);
  await loose.close();
  assert.equal(loose.layout.writer.stats.objects, 0);
  assert.ok(loose.layout.writer.stats.files > 10);

  const packed = openLocalStore(root);
  await ingestPath(packed, tree, packed.storeDir);
  await packed.close();
  assert.equal(packed.layout.writer.stats.objects, 0, "everything was found loose");
  assert.deepEqual(readdirSync(join(root, "packs")), []);

  const other = makeVariedTree(tempDir("pack-tree2"), 3_000_000);
  const p2 = openLocalStore(root);
  const info = await ingestPath(p2, other, p2.storeDir);
  await p2.registerPath(info);
  await p2.close();
  assert.ok(p2.layout.writer.stats.objects > 0 && p2.layout.writer.stats.objects < 30, `${p2.layout.writer.stats.objects} new objects`);
  const p3 = openLocalStore(root);
  await ingestPath(p3, other, p3.storeDir);
  await p3.close();
  assert.equal(p3.layout.writer.stats.objects, 0, "everything was found in packs");
  const v = openLocalStore(root);
  assert.deepEqual((await verifyStore(v)).problems, []);
  await v.close();
});

test("packs are read-only files named uniquely per writer", async () => {
  const { root } = await importedStore("pack-names");
  for (const n of readdirSync(join(root, "packs"))) {
    assert.match(n, new RegExp(`^[0-9a-z]+-${process.pid}-[0-9a-f]{8}-\\d+\\.pack$`));
    assert.equal(statSync(join(root, "packs", n)).mode & 0o777, 0o444);
  }
});

test("rescans list packs/ again only when its mtime changed (or is too recent to trust)", () => {
  const dir = join(tempDir("packset"), "packs");
  const set = new PackSet(dir);
  const put = (name: string, data: Uint8Array) => writeFileSync(join(dir, name), encodePack([{ kind: ObjectKind.Chunk, digest: blake3(data), data }]));
  const old = new Date(Date.now() - 10_000);
  const a = noise(10, 1);
  put("a.pack", a);
  utimesSync(dir, old, old);
  assert.equal(set.rescan(), true);
  assert.ok(set.hasLoaded(ObjectKind.Chunk, blake3(a)));
  // a pack appearing with the directory's mtime unchanged (and old) is not looked for...
  const b = noise(10, 2);
  put("b.pack", b);
  utimesSync(dir, old, old);
  assert.equal(set.rescan(), false);
  assert.equal(set.has(ObjectKind.Chunk, blake3(b)), false);
  // ...but any change of the mtime, or a recent one, makes the next miss list it
  const now = new Date();
  utimesSync(dir, now, now);
  assert.equal(set.has(ObjectKind.Chunk, blake3(b)), true);
  assert.deepEqual(set.read(ObjectKind.Chunk, blake3(b)), b);
  set.close();
});

/** A packs/ directory (and a tmp/ beside it) with n one-chunk packs; returns the chunks. */
function manyPacks(tag: string, n: number): { dir: string; tmpDir: string; chunks: Uint8Array[] } {
  const root = tempDir(tag);
  const dir = join(root, "packs");
  const tmpDir = join(root, "tmp");
  mkdirSync(dir);
  mkdirSync(tmpDir);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const data = noise(20, 2 * i + 101); // (odd seeds: noise() sets the low bit)
    chunks.push(data);
    writeFileSync(join(dir, `p${i}.pack`), encodePack([{ kind: ObjectKind.Chunk, digest: blake3(data), data }]));
  }
  return { dir, tmpDir, chunks };
}

test("opening many packs writes the index cache; later opens take indexes from it, for packs still there", () => {
  const { dir, tmpDir, chunks } = manyPacks("packcache", 20);
  const first = new PackSet(dir, { tmpDir });
  first.close();
  assert.ok(existsSync(join(dir, "index-cache")), "no index cache written");
  assert.deepEqual(readdirSync(tmpDir), []);
  // a pack whose own index no longer checks out is still found through the cache (its bytes are re-hashed at each read)...
  const victim = join(dir, "p3.pack");
  chmodSync(victim, 0o644);
  const b = readFileSync(victim);
  b[b.length - TRAILER_LEN - 1] ^= 0xff;
  writeFileSync(victim, b);
  const cached = new PackSet(dir, { tmpDir });
  assert.equal(cached.bad.size, 0);
  for (const c of chunks) assert.deepEqual(cached.read(ObjectKind.Chunk, blake3(c)), c);
  cached.close();
  // ...while a set without the cache (what verify uses) reads the pack's own index and refuses it
  const uncached = new PackSet(dir);
  assert.deepEqual([...uncached.bad.keys()], ["p3.pack"]);
  uncached.close();
  // a pack that is gone is not taken from the cache
  rmSync(join(dir, "p5.pack"));
  const after = new PackSet(dir, { tmpDir });
  assert.equal(after.hasLoaded(ObjectKind.Chunk, blake3(chunks[5])), false);
  assert.equal(after.hasLoaded(ObjectKind.Chunk, blake3(chunks[6])), true);
  after.close();
});

test("a damaged index cache is ignored and written anew", () => {
  const { dir, tmpDir, chunks } = manyPacks("packcache-damaged", 20);
  new PackSet(dir, { tmpDir }).close();
  const cacheFile = join(dir, "index-cache");
  const good = readFileSync(cacheFile);
  // a digest inside the cached index of the first pack: the cache's checksum no longer matches
  const damaged = Buffer.from(good);
  damaged[good.indexOf(Buffer.from(blake3(chunks[0])))] ^= 0xff;
  writeFileSync(cacheFile, damaged);
  const set = new PackSet(dir, { tmpDir });
  for (const c of chunks) assert.deepEqual(set.read(ObjectKind.Chunk, blake3(c)), c);
  const flipped = Buffer.from(blake3(chunks[0]));
  flipped[0] ^= 0xff;
  assert.equal(set.hasLoaded(ObjectKind.Chunk, flipped), false);
  set.close();
  assert.deepEqual(readFileSync(cacheFile), good);
  // and a truncated one
  truncateSync(cacheFile, 100);
  const again = new PackSet(dir, { tmpDir });
  for (const c of chunks) assert.ok(again.hasLoaded(ObjectKind.Chunk, blake3(c)));
  again.close();
  assert.deepEqual(readFileSync(cacheFile), good);
});
