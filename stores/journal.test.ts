// The path info journal (stores/journal.ts, stores/durable-writer.ts): a
// batch of path infos is registered with one fdatasync, never before the
// contents it names are durable, and what a gone writer journaled is
// replayed by the next opener.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { initBlake3 } from "../core/blake3";
import { hashBytes } from "../core/hash";
import { narFromTree, narTreeOfBuffer, type NarNode } from "../core/nar";
import { makeTextPath } from "../core/store-path";
import { openLocalStore, type LocalStore } from "./local";
import { decodeJournal, encodeJournal, recoverJournal, type JournalRecord } from "./journal";
import type { NixPathInfo } from "./types";
import { noise, tempDir } from "../test/store-fixtures";

before(() => initBlake3());

function sample(i: number, size = 3000): { info: NixPathInfo; tree: NarNode; hashPart: string } {
  const contents = noise(size, 7000 + i);
  const nar = narFromTree({ type: "regular", executable: false, contents });
  const h = hashBytes("sha256", contents);
  const sp = makeTextPath(`journal-${i}`, h, []);
  return { info: { storePath: sp.toAbsolute(), narHash: hashBytes("sha256", nar).toString(), narSize: nar.length, references: [], signatures: [], ca: `text:${h.toString()}` }, tree: narTreeOfBuffer(nar), hashPart: sp.hashPart };
}

type Hooks = { writePack: (p: unknown) => Promise<void> };
const writerOf = (s: LocalStore) => s.layout.writer as unknown as Hooks;

test("journal files round-trip; a damaged one is refused", () => {
  const records: JournalRecord[] = [
    { path: "pathinfo/a.json", data: new TextEncoder().encode("{}\n"), mode: 0o644 },
    { path: "pathinfo/b.json", data: null, mode: 0 },
  ];
  const bytes = encodeJournal(records);
  assert.deepEqual(decodeJournal(bytes, "x"), records);
  assert.throws(() => decodeJournal(bytes.subarray(0, bytes.length - 1), "x"), /journal file 'x' is corrupt/);
  assert.throws(() => decodeJournal(encodeJournal([{ path: "../escape", data: null, mode: 0 }]), "x"), /corrupt/);
});

test("a batch of path infos is one journal file; close() checkpoints it", async () => {
  const root = tempDir("journal-batch");
  const store = openLocalStore(root);
  const samples = Array.from({ length: 50 }, (_, i) => sample(i));
  await Promise.all(samples.map((s) => store.addTreeToStore(s.info, s.tree)));
  const journal = readdirSync(join(root, "journal"));
  assert.ok(journal.length >= 1 && journal.length < 10, `${journal.length} journal files for 50 paths`);
  for (const s of samples) assert.equal((await store.queryPathInfo(s.info.storePath))?.narHash, s.info.narHash);
  await store.close();
  assert.deepEqual(readdirSync(join(root, "journal")), []);
  const again = openLocalStore(root);
  for (const s of samples) assert.ok(await again.queryPathInfo(s.info.storePath));
  await again.close();
});

test("a path is not registered before its contents are durable, nor when their pack fails", async () => {
  const root = tempDir("journal-order");
  const store = openLocalStore(root);
  const w = writerOf(store);
  const realWritePack = w.writePack.bind(w);
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  w.writePack = async (p) => {
    await gate;
    return realWritePack(p);
  };
  const s = sample(1);
  const added = store.addTreeToStore(s.info, s.tree);
  await new Promise((r) => setTimeout(r, 100));
  // the path info waits for its blob's pack, which is held back
  assert.equal(existsSync(join(root, "pathinfo", `${s.hashPart}.json`)), false);
  assert.deepEqual(readdirSync(root).includes("journal") ? readdirSync(join(root, "journal")) : [], []);
  assert.equal(await store.queryPathInfo(s.info.storePath), null);
  open();
  await added;
  assert.ok(await store.queryPathInfo(s.info.storePath));

  w.writePack = async () => {
    throw new Error("no space left on device");
  };
  const t = sample(2);
  await assert.rejects(store.addTreeToStore(t.info, t.tree), /no space left/);
  assert.equal(existsSync(join(root, "pathinfo", `${t.hashPart}.json`)), false);
  assert.equal(await store.queryPathInfo(t.info.storePath), null);
  assert.deepEqual(readdirSync(join(root, "tmp")), [], "the batch's journal temp file is removed");
  w.writePack = realWritePack;
  await store.close();
  assert.deepEqual(readdirSync(join(root, "journal")), []);
});

test("the next opener replays a gone writer's journal: missing and torn files are written, files changed since are left", async () => {
  const root = tempDir("journal-replay");
  mkdirSync(join(root, "tmp"), { recursive: true });
  mkdirSync(join(root, "pathinfo"), { recursive: true });
  mkdirSync(join(root, "journal"), { recursive: true });
  const doc = (s: string) => new TextEncoder().encode(JSON.stringify({ v: s }) + "\n");
  const records: JournalRecord[] = [
    { path: "pathinfo/missing.json", data: doc("m"), mode: 0o644 },
    { path: "pathinfo/torn.json", data: doc("t"), mode: 0o644 },
    { path: "pathinfo/empty.json", data: doc("e"), mode: 0o644 },
    { path: "pathinfo/changed.json", data: doc("c"), mode: 0o644 },
    { path: "pathinfo/twice.json", data: doc("first"), mode: 0o644 },
    { path: "pathinfo/twice.json", data: doc("second, with a signature"), mode: 0o644 },
    { path: "pathinfo/removed.json", data: doc("r"), mode: 0o644 },
    { path: "pathinfo/removed.json", data: null, mode: 0 },
  ];
  writeFileSync(join(root, "pathinfo", "torn.json"), doc("t").subarray(0, 5));
  writeFileSync(join(root, "pathinfo", "empty.json"), "");
  writeFileSync(join(root, "pathinfo", "changed.json"), doc("another writer's"));
  writeFileSync(join(root, "pathinfo", "twice.json"), doc("first"));
  writeFileSync(join(root, "pathinfo", "removed.json"), doc("r"));
  // a writer of another boot: gone whatever its pid
  const name = `${String(Date.now()).padStart(15, "0")}-ffffffff-1-abcd-1.log`;
  writeFileSync(join(root, "journal", name), encodeJournal(records));
  // and one of a live writer (this process, this boot): left for it
  const live = `${String(Date.now()).padStart(15, "0")}-${readFileSync("/proc/sys/kernel/random/boot_id", "utf8").replace(/-/g, "").slice(0, 8)}-${process.pid}-abcd-2.log`;
  writeFileSync(join(root, "journal", live), encodeJournal([{ path: "pathinfo/live.json", data: doc("l"), mode: 0o644 }]));
  assert.equal(recoverJournal(root, join(root, "tmp")), 1);
  const read = (n: string) => (existsSync(join(root, "pathinfo", n)) ? readFileSync(join(root, "pathinfo", n), "utf8") : null);
  assert.equal(read("missing.json"), JSON.stringify({ v: "m" }) + "\n");
  assert.equal(read("torn.json"), JSON.stringify({ v: "t" }) + "\n");
  assert.equal(read("empty.json"), JSON.stringify({ v: "e" }) + "\n");
  assert.equal(read("changed.json"), JSON.stringify({ v: "another writer's" }) + "\n");
  assert.equal(read("twice.json"), JSON.stringify({ v: "second, with a signature" }) + "\n");
  assert.equal(read("removed.json"), null);
  assert.equal(read("live.json"), null);
  assert.deepEqual(readdirSync(join(root, "journal")), [live]);
  assert.deepEqual(readdirSync(join(root, "tmp")), []);
});

test("a store removed under its writer: close() finds nothing left to make durable and returns", async () => {
  const root = tempDir("journal-removed");
  const store = openLocalStore(root);
  for (let i = 0; i < 3; i++) {
    const s = sample(100 + i);
    await store.addTreeToStore(s.info, s.tree);
  }
  assert.ok(readdirSync(join(root, "journal")).length >= 1);
  rmSync(root, { recursive: true, force: true });
  await store.close();
  assert.ok(!existsSync(root));
});
