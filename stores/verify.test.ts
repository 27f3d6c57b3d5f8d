import { test, before } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { initBlake3 } from "../core/blake3";
import { openLocalStore } from "./local";
import { ingestPath } from "./nar-bridge";
import { verifyStore } from "./verify";
import { makeVariedTree, tempDir } from "../test/store-fixtures";

before(() => initBlake3());

test("verify reports a path info stored under another path's hash part; lookups under that hash part fail", async () => {
  const root = tempDir("verify-store");
  const store = openLocalStore(root);
  try {
    const info = await ingestPath(store, makeVariedTree(tempDir("verify-src")), "/nix/store", "tree");
    await store.pathInfos.put(info);
    assert.deepEqual((await verifyStore(store)).problems, []);
    // plant its document under another (valid) hash part
    const [doc] = readdirSync(join(root, "pathinfo"));
    const other = "0".repeat(32);
    copyFileSync(join(root, "pathinfo", doc), join(root, "pathinfo", `${other}.json`));
    const report = await verifyStore(store);
    assert.equal(report.problems.length, 1, report.problems.join("\n"));
    assert.match(report.problems[0], new RegExp(`path info ${other} is corrupt: it is stored under '${other}' but describes '${info.storePath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}'`));
    await assert.rejects(store.pathInfo(`/nix/store/${other}-tree`), /is corrupt/);
    assert.equal((await store.pathInfo(info.storePath))?.storePath, info.storePath);
  } finally {
    await store.close();
  }
});
