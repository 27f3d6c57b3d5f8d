// Local castore store: import of a ~500 MB tree (many small files plus some
// large ones) against `nix-store --add`, rendering the NAR back against
// `nix-store --dump`, and deduplication between two versions of the tree
// that differ in a few files (target: the second stores < 10% new bytes).
import { spawnSync } from "node:child_process";
import { randomBytes, createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { openLocalStore } from "../stores/local";
import { ingestPath } from "../stores/nar-bridge";
import { verifyStore } from "../stores/verify";
import { time, timeShell, have, makeTree, pseudoRandom, ratioLine } from "./util";

function du(path: string): number {
  const r = spawnSync("du", ["-sb", path], { encoding: "utf8" });
  return Number(r.stdout.split("\t")[0]);
}

const tree = makeTree("store", 20000, 20, 16); // ~170 MB of 1-16 KiB files + 320 MiB in 20 large files
// a fresh nonce makes the tree new to both stores on every run
writeFileSync(join(tree, "nonce"), randomBytes(16).toString("hex"));
const treeBytes = du(tree);
const root = "/tmp/tvix-bench-store";
rmSync(root, { recursive: true, force: true });
timeShell(`cat $(find ${tree} -type f) > /dev/null`); // warm the page cache

spawnSync("sync"); // no dirty pages of earlier runs written back during ours

/** CPU time (user + sys, all threads) of this process while fn runs, in ms. */
async function cpu<T>(fn: () => Promise<T>): Promise<{ ms: number; cpuMs: number; result: T }> {
  const c0 = process.cpuUsage();
  const r = await time(fn);
  const c = process.cpuUsage(c0);
  return { ...r, cpuMs: (c.user + c.system) / 1000 };
}
/** Wall and CPU time (user + sys of its children) of a shell command, in ms. */
function cpuOf(cmd: string): { ms: number; cpuMs: number; stdout: string } {
  // bash's `times`, second line: CPU of the children (user and sys)
  const t0 = process.hrtime.bigint();
  const r = spawnSync("bash", ["-c", `${cmd} > /tmp/tvix-bench-store-out; times`], { encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const [u, sy] = r.stdout.trim().split("\n")[1].split(/\s+/).map((x) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(x)!;
    return (Number(m[1]) * 60 + Number(m[2])) * 1000;
  });
  return { ms, cpuMs: u + sy, stdout: readFileSync("/tmp/tvix-bench-store-out", "utf8") };
}

const store = openLocalStore(root);
const ours = await cpu(async () => {
  const info = await ingestPath(store, tree, store.storeDir);
  await store.registerPath(info);
  return info;
});
await store.close();
const { files, objects, packs, commits } = store.layout.writer.stats;
console.log(`tree: ${(treeBytes / 1e6).toFixed(0)} MB; ours wrote ${objects} objects in ${packs} packs and ${files} other files, in ${commits} group commits`);
let nixPath = "";
if (have("nix-store")) {
  spawnSync("sync");
  const theirs = cpuOf(`nix-store --add ${tree}`);
  nixPath = theirs.stdout.trim();
  console.log(ratioLine("import (ours local:// vs nix-store --add)", ours.ms, theirs.ms, treeBytes) + (nixPath === ours.result.storePath ? "" : `  PATH MISMATCH ${nixPath}`));
  console.log(`  CPU time (user + sys): ours ${ours.cpuMs.toFixed(0)} ms, theirs ${theirs.cpuMs.toFixed(0)} ms, ratio ${(ours.cpuMs / theirs.cpuMs).toFixed(2)}`);
} else console.log(`import: ours ${ours.ms.toFixed(0)} ms, CPU ${ours.cpuMs.toFixed(0)} ms (nix-store not installed)`);

// the same without fsync (kill -9 safe, not power-loss safe): what durability costs
{
  const root2 = "/tmp/tvix-bench-store-nofsync";
  rmSync(root2, { recursive: true, force: true });
  const s2 = openLocalStore(root2, "/nix/store", `local://${root2}?fsync=false`, false);
  spawnSync("sync");
  const t = await cpu(async () => {
    const info = await ingestPath(s2, tree, s2.storeDir);
    await s2.registerPath(info);
  });
  await s2.close();
  rmSync(root2, { recursive: true, force: true });
  console.log(`import without fsync (?fsync=false): ${t.ms.toFixed(0)} ms (${(treeBytes / 1e6 / (t.ms / 1000)).toFixed(0)} MB/s), CPU ${t.cpuMs.toFixed(0)} ms`);
}

// rendering the NAR back
const sha = async () => {
  const h = createHash("sha256");
  let n = 0;
  for await (const c of store.narFromPath(ours.result.storePath)) {
    h.update(c);
    n += c.length;
  }
  return n;
};
const render = await time(sha);
if (have("nix-store")) {
  const theirs = timeShell(`nix-store --dump ${tree} | sha256sum`);
  console.log(ratioLine(`NAR render + sha256 of ${(render.result / 1e6).toFixed(0)} MB (ours from castore vs nix-store --dump of the tree)`, render.ms, theirs.ms, render.result));
} else console.log(`NAR render: ours ${render.ms.toFixed(0)} ms`);

const v = await time(() => verifyStore(store));
console.log(`verify: ${v.ms.toFixed(0)} ms for ${v.result.paths} path(s), ${v.result.chunks} chunks, ${v.result.problems.length} problems`);

// version 2: a hard-linked copy with 10 small files rewritten, 2 new files,
// and 100 bytes inserted into the middle of two large files
const tree2 = "/tmp/tvix-bench-store-v2";
rmSync(tree2, { recursive: true, force: true });
spawnSync("cp", ["-al", tree, tree2]);
for (let i = 0; i < 10; i++) {
  const p = join(tree2, `d${i}`, `e0`, `f${i}.txt`);
  if (!existsSync(p)) continue;
  const b = Buffer.from(readFileSync(p));
  unlinkSync(p);
  b[0] ^= 0xff;
  writeFileSync(p, b);
}
mkdirSync(join(tree2, "new"), { recursive: true });
writeFileSync(join(tree2, "new", "a"), pseudoRandom(200_000, 5));
writeFileSync(join(tree2, "new", "b"), "hello\n");
for (const n of [0, 7]) {
  const p = join(tree2, `large${n}.bin`);
  const b = readFileSync(p);
  unlinkSync(p);
  const mid = b.length >> 1;
  writeFileSync(p, Buffer.concat([b.subarray(0, mid), pseudoRandom(100, 77 + n), b.subarray(mid)]));
}
const before = du(root);
const store2 = openLocalStore(root);
const second = await time(async () => {
  const info = await ingestPath(store2, tree2, store2.storeDir);
  await store2.registerPath(info);
  return info;
});
await store2.close();
const grown = du(root) - before;
const s = store2.blobs.stats;
console.log(
  `dedup: version 2 (${(du(tree2) / 1e6).toFixed(0)} MB, 12 files changed/added, 2 large files edited) imported in ${second.ms.toFixed(0)} ms; ` +
    `new chunk bytes ${(s.bytesWritten / 1e6).toFixed(2)} MB (${((100 * s.bytesWritten) / treeBytes).toFixed(2)}% of the tree), ` +
    `store grew ${(grown / 1e6).toFixed(2)} MB (${((100 * grown) / treeBytes).toFixed(2)}%) including directories and path info`,
);
console.log(`store size on disk after both versions: ${(du(root) / 1e6).toFixed(0)} MB for ${(2 * treeBytes / 1e6).toFixed(0)} MB of trees`);

if (nixPath && have("nix-store")) spawnSync("nix-store", ["--delete", nixPath], { stdio: "ignore" });
rmSync(tree2, { recursive: true, force: true });
// removed now rather than at the start of the next run: ext4 scans recently
// deleted inodes when allocating new ones (measured 10-25% of an import that
// starts right after deleting the previous store)
rmSync(root, { recursive: true, force: true });
