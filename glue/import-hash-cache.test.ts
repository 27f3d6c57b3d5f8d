// The cache of imported files' hashes (import-hash-cache.ts): a hit gives
// what hashing gives, and any change to the file (contents of the same
// size with the old times put back, mode, a new file in its place) is seen.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cachedImportHash } from "./import-hash-cache";
import { hashTreeFile, hashTreeNar, hostTree } from "../stores/host-tree";
import { makeEvalHost } from "./index";
import { runEval, type EvalRequest } from "../eval/driver";
import type { ParseCacheStorage } from "../eval/io";
import type { Hash } from "../core/hash";

class MemoryStorage implements ParseCacheStorage {
  readonly entries = new Map<string, Uint8Array>();
  read(name: string) {
    return this.entries.get(name);
  }
  write(name: string, data: Uint8Array) {
    this.entries.set(name, data);
    return true;
  }
  prune() {}
}

/** Runs `f` with the settle time set (the cache reads it at each call). */
function withSettle<T>(ms: number, f: () => T): T {
  const old = process.env.TVIX_IMPORT_CACHE_SETTLE_MS;
  process.env.TVIX_IMPORT_CACHE_SETTLE_MS = String(ms);
  try {
    return f();
  } finally {
    if (old === undefined) delete process.env.TVIX_IMPORT_CACHE_SETTLE_MS;
    else process.env.TVIX_IMPORT_CACHE_SETTLE_MS = old;
  }
}

/** Waits until the file system's clock has moved past the file's change time (its ticks are coarse). */
function afterTick(path: string): void {
  const c = statSync(path, { bigint: true }).ctimeNs;
  const probe = path + ".tick";
  for (;;) {
    writeFileSync(probe, "");
    if (statSync(probe, { bigint: true }).ctimeNs > c) break;
  }
  rmSync(probe);
}

function counted(storage: ParseCacheStorage, path: string, flat = false) {
  let computed = 0;
  const hash = cachedImportHash(storage, path, "sha256", flat, () => {
    computed++;
    return flat ? hashTreeFile(hostTree, path, "sha256") : hashTreeNar(hostTree, path, "sha256").hash;
  });
  return { hash, computed };
}

const same = (a: Hash, b: Hash) => assert.equal(a.format("nix32", true), b.format("nix32", true));

test("a settled file is hashed once; any change to it is hashed again", () => {
  const dir = mkdtempSync(join(tmpdir(), "tvix-import-cache-"));
  try {
    const f = join(dir, "tool");
    writeFileSync(f, "first contents\n");
    // a whole second, so that it can be put back exactly
    utimesSync(f, 1_000_000, 1_000_000);
    const storage = new MemoryStorage();
    withSettle(0, () => {
      const a = counted(storage, f);
      assert.equal(a.computed, 1);
      same(a.hash, hashTreeNar(hostTree, f, "sha256").hash);
      const b = counted(storage, f);
      assert.equal(b.computed, 0);
      same(b.hash, a.hash);
      // flat hashes are kept apart from NAR hashes
      const flat = counted(storage, f, true);
      assert.equal(flat.computed, 1);
      same(flat.hash, hashTreeFile(hostTree, f, "sha256"));

      // same size, the old modification time put back: the change time still moves
      afterTick(f);
      writeFileSync(f, "other contents\n");
      utimesSync(f, 1_000_000, 1_000_000);
      const c = counted(storage, f);
      assert.equal(c.computed, 1);
      same(c.hash, hashTreeNar(hostTree, f, "sha256").hash);
      assert.notEqual(c.hash.format("nix32", true), a.hash.format("nix32", true));

      // the executable bit is part of a NAR
      afterTick(f);
      chmodSync(f, 0o755);
      const d = counted(storage, f);
      assert.equal(d.computed, 1);
      same(d.hash, hashTreeNar(hostTree, f, "sha256").hash);
      assert.notEqual(d.hash.format("nix32", true), c.hash.format("nix32", true));

      // another file renamed into its place
      const g = join(dir, "new");
      writeFileSync(g, "first contents\n");
      chmodSync(g, 0o644);
      renameSync(g, f);
      const e = counted(storage, f);
      assert.equal(e.computed, 1);
      same(e.hash, a.hash);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a file changed recently, or while it is hashed, is not recorded", () => {
  const dir = mkdtempSync(join(tmpdir(), "tvix-import-cache-"));
  try {
    const f = join(dir, "tool");
    writeFileSync(f, "contents\n");
    const storage = new MemoryStorage();
    withSettle(60_000, () => counted(storage, f));
    assert.equal(storage.entries.size, 0);
    withSettle(0, () => {
      afterTick(f);
      cachedImportHash(storage, f, "sha256", false, () => {
        const h = hashTreeNar(hostTree, f, "sha256").hash;
        writeFileSync(f, "contents changed while hashed\n");
        return h;
      });
      assert.equal(storage.entries.size, 0);
      assert.equal(counted(storage, f).computed, 1);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("builtins.path and path interpolation give the same store paths with the cache, before and after a change", () => {
  const dir = mkdtempSync(join(tmpdir(), "tvix-import-cache-"));
  try {
    const f = join(dir, "bin");
    writeFileSync(f, "#!/bin/sh\necho one\n");
    const expr = `[ (builtins.path { path = ${f}; name = "tool"; }) "\${${f}}" (builtins.path { path = ${f}; recursive = false; }) ]`;
    const evalWith = (importCache: ParseCacheStorage | null) => {
      let out = "";
      let err = "";
      const req: EvalRequest = { expr, attrPaths: [], args: [], nixPath: [], strict: true, output: "nix", location: false, showTrace: false, parseOnly: false, cwd: dir, storeDir: "/nix/store" };
      const code = runEval(req, { out: (s) => (out += s), err: (s) => (err += s) }, makeEvalHost({ parseCache: null, importCache }).host);
      assert.equal(err, "");
      assert.equal(code, 0);
      return out;
    };
    const storage = new MemoryStorage();
    withSettle(0, () => {
      const plain = evalWith(null);
      assert.equal(evalWith(storage), plain);
      assert.ok(storage.entries.size >= 2);
      assert.equal(evalWith(storage), plain);
      afterTick(f);
      writeFileSync(f, "#!/bin/sh\necho two\n");
      const changed = evalWith(null);
      assert.notEqual(changed, plain);
      assert.equal(evalWith(storage), changed);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
