// A NAR refused by a local store (hash mismatch, malformed, wrong content
// address) leaves nothing behind: the NAR is checked whole before any blob
// is written, so the blob store holds as many objects after as before.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTvix } from "./helpers";

let work: string;
let path: string;
let other: string;
const env = () => ({ TVIX_HOME: join(work, "home"), NIX_CONFIG: "" });

function ok(args: string[]) {
  const r = runTvix(args, { env: env() });
  assert.equal(r.status, 0, `tvix ${args.join(" ")}:\n${r.stderr}`);
  return r;
}

/** Files under a store's object directories (packs, loose objects) and its tmp/. */
function objectFiles(store: string): string[] {
  const out: string[] = [];
  const todo = ["packs", "chunks", "manifests", "directories", "tmp"].map((d) => join(store, d)).filter((d) => existsSync(d));
  while (todo.length > 0) {
    const p = todo.pop()!;
    for (const e of readdirSync(p, { withFileTypes: true })) (e.isDirectory() ? todo : out).push(join(p, e.name));
  }
  return out.sort();
}

before(() => {
  work = mkdtempSync(join(tmpdir(), "tvix-refused-"));
  mkdirSync(join(work, "home"));
  for (const [name, n] of [["tree", 1], ["other", 2]] as const) {
    const tree = join(work, name);
    mkdirSync(join(tree, "sub"), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(join(tree, "sub", `f${i}`), `file ${i} of tree ${n}\n`.repeat(100 * (i + 1)));
  }
  path = ok(["store", "import", join(work, "tree"), "--store", `local://${join(work, "src")}`]).stdout.trim();
  other = ok(["store", "import", join(work, "other"), "--store", `local://${join(work, "src")}`]).stdout.trim();
});

test("a NAR refused for its hash leaves no objects in the target store (tvix copy --no-check-sigs)", () => {
  const cache = join(work, "cache");
  ok(["copy", "--from", `local://${join(work, "src")}`, "--to", `file://${cache}`, path, other]);
  const dst = join(work, "dst");
  // the target holds one path already
  ok(["copy", "--no-check-sigs", "--from", `file://${cache}`, "--to", `local://${dst}`, other]);
  const before = objectFiles(dst);
  assert.ok(before.length > 0);
  // the other path's narinfo now claims the first path's NAR hash
  const infos = readdirSync(cache).filter((n) => n.endsWith(".narinfo")).map((n) => join(cache, n));
  const narHashOf = (f: string) => /^NarHash: (.*)$/m.exec(readFileSync(f, "utf8"))![1];
  const [target] = infos.filter((f) => readFileSync(f, "utf8").includes(`StorePath: ${path}\n`));
  const [donor] = infos.filter((f) => f !== target);
  writeFileSync(target, readFileSync(target, "utf8").replace(/^NarHash: .*$/m, `NarHash: ${narHashOf(donor)}`).replace(/^CA: .*\n/m, ""));
  const r = runTvix(["copy", "--no-check-sigs", "--from", `file://${cache}`, "--to", `local://${dst}`, path], { env: env() });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /hash mismatch/i);
  assert.deepEqual(objectFiles(dst), before);
  assert.equal(readdirSync(join(dst, "pathinfo")).length, 1);
});
