// Trees deeper than the call stack: every walker is a loop with its own
// stack, and an import writes its directories in one batch (a few packs and
// fsyncs however deep the tree), not one durable write per level.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { initBlake3 } from "../core/blake3";
import { narOf, parseNarToTree, narFromTree, narTreeOfBuffer, type NarEncoder } from "../core/nar";
import { ingestNar, ingestNarTree, ingestPath, renderNar } from "./nar-bridge";
import { openLocalStore } from "./local";
import { materialise } from "./materialise";
import { dumpPath } from "./host-tree";
import { tempDir, collectStream, chunksOf } from "../test/store-fixtures";

before(() => initBlake3());

/** A directory with `depth` nested directories named "d" below it, a file "f" at the bottom. */
function deepNar(depth: number): Uint8Array {
  return narOf((e: NarEncoder) => {
    for (let i = 0; i < depth; i++) {
      e.startDirectory();
      e.entry("d");
    }
    e.startDirectory();
    e.entry("f");
    e.file(false, new TextEncoder().encode("leaf"));
    for (let i = 0; i <= depth; i++) e.endDirectory();
  });
}

/** Makes the same tree on disk (relative mkdirs: the path grows with the depth). */
function deepDir(root: string, depth: number): string {
  let p = root;
  for (let i = 0; i < depth; i++) mkdirSync((p = join(p, "d")));
  writeFileSync(join(p, "f"), "leaf");
  return p;
}

const packsOf = (root: string) => readdirSync(join(root, "packs")).filter((n) => n.endsWith(".pack")).length;

test("a NAR 10,000 directories deep: ingest into a local store in a few packs, render byte-identical, parse", async () => {
  const nar = deepNar(10_000);
  const root = tempDir("deep-store");
  const store = openLocalStore(root);
  try {
    const r = await ingestNar(store, chunksOf(nar, 65536), { narSize: nar.length });
    // one blob, 10,000 directories: a write batch holds up to 4,096 objects
    assert.ok(packsOf(root) <= 4, `${packsOf(root)} packs`);
    const back = await collectStream(renderNar(store, r.node));
    assert.ok(Buffer.compare(back, nar) === 0, "rendered NAR differs");
    const tree = await parseNarToTree(nar);
    assert.ok(Buffer.compare(narFromTree(tree), nar) === 0, "NAR of the parsed tree differs");
    // the daemon's path for NARs held in memory: one synchronous parse, then the tree's ingest
    const viaTree = await ingestNarTree(store, narTreeOfBuffer(nar));
    assert.deepEqual(viaTree, r.node);
  } finally {
    await store.close();
  }
});

test("a host tree 1,500 directories deep: ingest (both walkers) in a few packs, dump, materialise", async () => {
  const depth = 1_500; // deeper trees exceed PATH_MAX (4,096 bytes) on disk, for Nix too
  const nar = deepNar(depth);
  const src = tempDir("deep-src");
  deepDir(src, depth);
  assert.ok(Buffer.compare(await collectStream(dumpPath(src)), nar) === 0, "dumpPath differs from the expected NAR");
  for (const readerThread of [false, true]) {
    const root = tempDir("deep-store");
    const store = openLocalStore(root);
    try {
      const info = await ingestPath(store, src, "/nix/store", "deep", { readerThread });
      assert.equal(info.narSize, nar.length);
      assert.ok(packsOf(root) <= 3, `${packsOf(root)} packs (reader thread ${readerThread})`);
      assert.ok(Buffer.compare(await collectStream(renderNar(store, info.node)), nar) === 0);
      await store.pathInfos.put(info);
      if (readerThread) continue;
      const out = tempDir("deep-out");
      const target = await materialise(store, info.storePath, out);
      assert.ok(Buffer.compare(await collectStream(dumpPath(target)), nar) === 0, "materialised tree differs");
      assert.equal(statSync(target).mode & 0o777, 0o555);
      let leafDir = target;
      for (let i = 0; i < depth; i++) leafDir = join(leafDir, "d");
      assert.equal(readFileSync(join(leafDir, "f"), "utf8"), "leaf");
      assert.equal(statSync(leafDir).mode & 0o777, 0o555);
    } finally {
      await store.close();
    }
  }
});
