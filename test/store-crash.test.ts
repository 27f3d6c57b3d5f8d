// Crash safety of the local store: an import killed with SIGKILL at random
// points never leaves a corrupt store (only stray temp files, which verify
// removes), and a rerun completes. Also: concurrent imports of one tree.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync, readdirSync, watch } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./helpers";
import { tempDir, noise, collectStream } from "./store-fixtures";
import { openLocalStore } from "../stores/local";
import { verifyStore } from "../stores/verify";
import { dumpPath } from "../stores/host-tree";
import { treeReaderWorkerSource } from "../stores/tree-reader";

// bundled once with esbuild: starting it through tsx costs ~1 s per run
let child = "";
before(async () => {
  const { buildSync } = await import("esbuild");
  child = join(tempDir("crash-child"), "child.mjs");
  buildSync({
    entryPoints: [join(repoRoot, "test", "fixtures", "store-import-child.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile: child,
    logLevel: "error",
    // the tree reader's thread, as build.mjs puts it into the program
    define: { __TVIX_TREE_READER_WORKER__: JSON.stringify(treeReaderWorkerSource()) },
  });
});

function makeTree(parent: string, seed: number): string {
  const root = join(parent, `tree${seed}`);
  for (let i = 0; i < 200; i++) {
    const d = join(root, `d${i % 10}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `f${i}`), noise(500 + ((i * 7919) % 20000), seed * 1000 + i));
  }
  writeFileSync(join(root, "big"), noise(1024 * 1024, seed));
  return root;
}

/** `walk`: where the child walks and reads the tree (the reader thread, or its main thread). */
function start(store: string, tree: string, walk: "thread" | "here" = "thread"): { proc: ChildProcess; ready: Promise<void>; exit: Promise<number | null>; out: () => string } {
  const proc = spawn(process.execPath, [child, store, tree, walk], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  proc.stdout!.on("data", (d) => {
    out += d;
    if (out.includes("ready\n")) onReady();
  });
  proc.stderr!.on("data", (d) => (err += d));
  const exit = new Promise<number | null>((r) =>
    proc.on("exit", (code) => {
      onReady();
      if (code && code !== 0) process.stderr.write(err);
      r(code);
    }),
  );
  return { proc, ready, exit, out: () => out };
}

async function assertVerifies(root: string): Promise<number> {
  return (await verified(root)).paths;
}

async function verified(root: string) {
  const store = openLocalStore(root);
  const r = await verifyStore(store);
  await store.close();
  assert.deepEqual(r.problems, []);
  assert.deepEqual(readdirSync(join(root, "tmp")), [], "stray temp files were removed");
  return r;
}

test("SIGKILL at random points never corrupts the local store; a rerun completes", { timeout: 60_000 }, async () => {
  const dir = tempDir("crash");
  const store = join(dir, "store");
  const trees = [1, 2, 3].map((s) => makeTree(dir, s));
  let killed = 0;
  // kill points are drawn within the time a run last took to finish (a
  // rerun of a tree the store already has is quick), so most runs are hit
  let runMs = 300;
  for (let i = 0; i < 20; i++) {
    const tree = trees[i % trees.length];
    const c = start(store, tree, i % 2 ? "here" : "thread");
    await c.ready;
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, Math.random() * runMs * 0.8));
    if (c.proc.exitCode === null) {
      c.proc.kill("SIGKILL");
      killed++;
    }
    await c.exit;
    if (c.proc.signalCode === null) runMs = Math.max(20, Date.now() - t0);
    await assertVerifies(store);
  }
  assert.ok(killed >= 10, `only ${killed} of 20 runs were killed before finishing`);
  for (const tree of trees) {
    const c = start(store, tree);
    assert.equal(await c.exit, 0);
    const sp = c.out().split("\n")[1];
    const s = openLocalStore(store);
    assert.deepEqual(await collectStream(s.narFromPath(sp)), await collectStream(dumpPath(tree)));
    await s.close();
  }
  assert.equal(await assertVerifies(store), 3);
});

test("concurrent imports of the same tree into one store both succeed", { timeout: 30_000 }, async () => {
  const dir = tempDir("concurrent");
  const store = join(dir, "store");
  const tree = makeTree(dir, 7);
  const runs = [start(store, tree), start(store, tree, "here"), start(store, tree)];
  const codes = await Promise.all(runs.map((r) => r.exit));
  assert.deepEqual(codes, [0, 0, 0]);
  const paths = new Set(runs.map((r) => r.out().split("\n")[1]));
  assert.equal(paths.size, 1);
  assert.equal(await assertVerifies(store), 1);
});

test("SIGKILL while a pack is being written leaves a verifiable store", { timeout: 60_000 }, async () => {
  const dir = tempDir("crash-pack");
  const store = join(dir, "store");
  const tree = makeTree(dir, 11);
  mkdirSync(join(store, "tmp"), { recursive: true });
  let strays = 0;
  for (let i = 0; i < 6; i++) {
    // kill as soon as a temp file (a pack being written, before its rename) appears
    const c = start(store, tree);
    const w = watch(join(store, "tmp"), () => c.proc.kill("SIGKILL"));
    await c.exit;
    w.close();
    strays += (await verified(store)).strayTempFiles;
  }
  assert.ok(strays >= 1, "some kills landed while a temp pack existed");
  const c = start(store, tree);
  assert.equal(await c.exit, 0);
  assert.equal(await assertVerifies(store), 1);
});

test("a store opened before another process imports sees its packs", { timeout: 30_000 }, async () => {
  const dir = tempDir("other-process");
  const root = join(dir, "store");
  const tree = makeTree(dir, 12);
  const s = openLocalStore(root);
  const c = start(root, tree);
  assert.equal(await c.exit, 0);
  const sp = c.out().split("\n")[1];
  assert.deepEqual(await collectStream(s.narFromPath(sp)), await collectStream(dumpPath(tree)));
  await s.close();
});
