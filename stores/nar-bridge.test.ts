import { test, before } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, chmodSync, writeFileSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { dumpPath } from "./host-tree";
import { Hash } from "../core/hash";
import { initBlake3 } from "../core/blake3";
import { toHex } from "../core/castore";
import { ingestNar, ingestPath, ingestTree, renderNar, NarMismatchError } from "./nar-bridge";
import { openMemoryStore } from "./memory";
import { openLocalStore } from "./local";
import { makeVariedTree, tempDir, chunksOf, collectStream } from "../test/store-fixtures";
import { shardPath } from "./local-backend";

let tree: string;
let nar: Uint8Array;
let narHash: string;

before(async () => {
  await initBlake3();
  tree = makeVariedTree(tempDir("bridge"));
  nar = await collectStream(dumpPath(tree));
  narHash = `sha256:${new Hash("sha256", new Uint8Array(createHash("sha256").update(nar).digest())).toNixBase32()}`;
});

for (const kind of ["memory", "local"] as const) {
  const open = () => (kind === "memory" ? openMemoryStore() : openLocalStore(tempDir("local-store")));

  test(`${kind}: NAR ingest then render is byte-identical (varied tree, odd chunking)`, async () => {
    const store = open();
    for (const step of [nar.length, 4093]) {
      const r = await ingestNar(store, chunksOf(nar, step), { narHash, narSize: nar.length });
      assert.equal(r.narSize, nar.length);
      assert.equal(r.narHash.toString(), narHash);
      assert.equal(r.node.type, "directory");
      const back = await collectStream(renderNar(store, r.node));
      assert.equal(back.length, nar.length);
      assert.ok(Buffer.compare(back, nar) === 0, "rendered NAR differs");
    }
    await store.close();
  });

  test(`${kind}: addToStore / queryPathInfo / narFromPath / listPaths`, async () => {
    const store = open();
    const info = await ingestPath(store, tree, store.storeDir);
    await store.registerPath(info);
    const q = await store.queryPathInfo(info.storePath);
    assert.equal(q!.narHash, narHash);
    assert.equal(q!.narSize, nar.length);
    assert.deepEqual(await collectStream(store.narFromPath(info.storePath)), nar);
    const paths: string[] = [];
    for await (const p of store.listPaths()) paths.push(p);
    assert.deepEqual(paths, [info.storePath]);

    const other = info.storePath.replace(/-tree$/, "-copy");
    await store.addToStore({ storePath: other, narHash, narSize: nar.length, references: [], signatures: [] }, chunksOf(nar, 65536));
    assert.equal((await store.queryPathInfo(other))!.narHash, narHash);
    assert.equal(await store.queryPathInfo(info.storePath.replace(/-tree$/, "-nope")), null);
    await assert.rejects(collectStream(store.narFromPath(info.storePath.replace(/-tree$/, "-nope"))), /is not valid in store/);
    await store.close();
  });

  test(`${kind}: bad NAR hash, bad size and truncated NARs are rejected, store unchanged`, async () => {
    const store = open();
    const sp = "/nix/store/00000000000000000000000000000000-x";
    const wrong = `sha256:${"0".repeat(52)}`;
    await assert.rejects(
      store.addToStore({ storePath: sp, narHash: wrong, narSize: nar.length, references: [], signatures: [] }, chunksOf(nar, 65536)),
      (e: Error) => e instanceof NarMismatchError && /NAR hash mismatch: expected sha256:0+, got sha256:/.test(e.message),
    );
    await assert.rejects(
      store.addToStore({ storePath: sp, narHash, narSize: nar.length + 1, references: [], signatures: [] }, chunksOf(nar, 65536)),
      /NAR size mismatch/,
    );
    for (const cut of [10, 200, nar.length - 8, Math.floor(nar.length / 2)])
      await assert.rejects(
        store.addToStore({ storePath: sp, narHash, narSize: nar.length, references: [], signatures: [] }, chunksOf(nar.subarray(0, cut), 65536)),
        /bad NAR/,
      );
    assert.equal(await store.queryPathInfo(sp), null);
    const all: string[] = [];
    for await (const p of store.listPaths()) all.push(p);
    assert.deepEqual(all, []);
    await store.close();
  });
}

test("local (loose files, ?pack=false): a blob corrupted on disk is detected on read, with a clear error", async () => {
  const root = tempDir("corrupt");
  const store = openLocalStore(root, "/nix/store", `local://${root}?pack=false`, true, false);
  const info = await ingestPath(store, tree, store.storeDir);
  await store.registerPath(info);
  // find hello.txt's chunk and flip its contents
  const dir = await store.directories.get((info.node as { digest: Uint8Array }).digest);
  const hello = dir!.files.find((f) => new TextDecoder().decode(f.name) === "hello.txt")!;
  const p = shardPath(join(root, "chunks"), hello.digest);
  chmodSync(p, 0o644);
  writeFileSync(p, "hello wörld\n");
  await assert.rejects(collectStream(store.narFromPath(info.storePath)), new RegExp(`chunk ${toHex(hello.digest)} is corrupt`));
  rmSync(p);
  await assert.rejects(collectStream(store.narFromPath(info.storePath)), /is missing/);
  await store.close();
});

for (const pack of [true, false])
  test(`local: layout on disk (${pack ? "packs" : "loose files"}), and no temp files left behind`, async () => {
    const root = tempDir("layout");
    const store = openLocalStore(root, "/nix/store", `local://${root}`, true, pack);
    const info = await ingestPath(store, tree, store.storeDir);
    await store.registerPath(info);
    await store.close();
    assert.deepEqual(readdirSync(root).sort(), ["chunks", "directories", "journal", "manifests", "packs", "pathinfo", "tmp"]);
    assert.deepEqual(readdirSync(join(root, "tmp")), []);
    assert.deepEqual(readdirSync(join(root, "journal")), [], "close() checkpoints the journal");
    const hp = info.storePath.slice("/nix/store/".length, "/nix/store/".length + 32);
    const json = JSON.parse(readFileSync(join(root, "pathinfo", `${hp}.json`), "utf8"));
    assert.equal(json.narHash, narHash);
    const loose = ["chunks", "manifests", "directories"].map((d) => readdirSync(join(root, d)).length);
    const packs = readdirSync(join(root, "packs"));
    if (pack) {
      assert.deepEqual(loose, [0, 0, 0], "no loose objects");
      assert.ok(packs.length > 0 && packs.every((n) => /^[0-9a-z]+-\d+-[0-9a-f]{8}-\d+\.pack$/.test(n)), packs.join(" "));
    } else {
      assert.ok(loose.every((n) => n > 0), "loose chunks, a manifest (the 5 MB file) and directories");
      assert.deepEqual(packs, []);
    }
  });

test("ingestTree: streamed files (above readWholeUpTo) and both walks (reader thread or not) give the same NAR hash, size and castore nodes", async () => {
  const memory = openMemoryStore();
  const want = await ingestTree(memory, tree);
  await memory.close();
  assert.equal(want.narHash.toString(), narHash);
  assert.equal(want.narSize, nar.length);
  for (const readWholeUpTo of [undefined, 1000])
    for (const readerThread of [true, false])
      for (const store of [openMemoryStore(), openLocalStore(tempDir("streamed"))]) {
        const got = await ingestTree(store, tree, { readWholeUpTo, readerThread });
        assert.equal(got.narHash.toString(), narHash);
        assert.equal(got.narSize, nar.length);
        assert.deepEqual(got.node, want.node);
        assert.deepEqual(await collectStream(renderNar(store, got.node)), nar);
        await store.close();
      }
});

test("ingestTree: a single file or symlink as the root; unsupported files are refused", async () => {
  const dir = tempDir("roots");
  writeFileSync(join(dir, "f"), "contents\n");
  symlinkSync("f", join(dir, "l"));
  for (const name of ["f", "l"]) {
    const want = await ingestTree(openMemoryStore(), join(dir, name));
    const store = openLocalStore(tempDir("roots-store"));
    const got = await ingestTree(store, join(dir, name));
    assert.deepEqual(got.node, want.node);
    assert.equal(got.narHash.toString(), want.narHash.toString());
    assert.deepEqual(await collectStream(renderNar(store, got.node)), await collectStream(dumpPath(join(dir, name))));
    await store.close();
  }
  const store = openLocalStore(tempDir("roots-store"));
  await assert.rejects(ingestTree(store, "/dev/null"), /file '\/dev\/null' has an unsupported type/);
  await assert.rejects(ingestTree(store, join(dir, "nope")), /ENOENT/);
  await store.close();
});
