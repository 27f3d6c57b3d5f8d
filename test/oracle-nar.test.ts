// Differential tests: our NAR writer/reader against `nix-store --dump/--restore`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync, symlinkSync, chmodSync, readFileSync, lstatSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { narFromTree, parseNarToTree } from "../core/nar";
import { dumpPath } from "../stores/host-tree";
import { nix28 } from "./helpers";

function makeTree(): string {
  const root = mkdtempSync(join(tmpdir(), "tvix-nar-"));
  const d = join(root, "tree");
  mkdirSync(join(d, "sub/deeper/deepest"), { recursive: true });
  mkdirSync(join(d, "empty"));
  writeFileSync(join(d, "regular"), "hello\n");
  writeFileSync(join(d, "empty-file"), "");
  writeFileSync(join(d, "exec"), "#!/bin/sh\necho hi\n");
  chmodSync(join(d, "exec"), 0o755);
  writeFileSync(join(d, "large"), randomBytes(3 * 1024 * 1024 + 13));
  writeFileSync(join(d, "sub/deeper/deepest/f"), "deep");
  symlinkSync("regular", join(d, "link"));
  symlinkSync("/does/not/exist", join(d, "dangling"));
  for (const n of ["ü", "Ü", "\u{1F600}", "\uFF5E", "a b", "Z", "z", "-dash"]) writeFileSync(join(d, n), n);
  let p = d;
  for (let i = 0; i < 40; i++) {
    p = join(p, "n");
    mkdirSync(p);
  }
  writeFileSync(join(p, "leaf"), "leaf");
  return d;
}

async function ourDump(path: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of dumpPath(path)) chunks.push(c);
  return Buffer.concat(chunks);
}

test("dumpPath is byte-identical to nix-store --dump", { skip: nix28.skip }, async () => {
  const d = makeTree();
  for (const p of [d, join(d, "regular"), join(d, "exec"), join(d, "empty-file"), join(d, "link"), join(d, "empty"), join(d, "large")]) {
    const theirs = spawnSync("nix-store", ["--dump", p], { maxBuffer: 1 << 30 });
    assert.equal(theirs.status, 0, theirs.stderr?.toString());
    const ours = await ourDump(p);
    assert.ok(Buffer.compare(ours, theirs.stdout) === 0, `NAR differs for ${p}`);
    // and our reader reconstructs a tree that serialises to the same bytes
    assert.ok(Buffer.compare(Buffer.from(narFromTree(await parseNarToTree(theirs.stdout))), theirs.stdout) === 0);
  }
});

test("nix-store --restore accepts our NARs", { skip: nix28.skip }, async () => {
  const d = makeTree();
  const nar = await ourDump(d);
  const out = join(mkdtempSync(join(tmpdir(), "tvix-restore-")), "out");
  const r = spawnSync("nix-store", ["--restore", out], { input: nar });
  assert.equal(r.status, 0, r.stderr?.toString());
  assert.equal(readFileSync(join(out, "regular"), "utf8"), "hello\n");
  assert.ok((lstatSync(join(out, "exec")).mode & 0o100) !== 0);
  assert.equal(readlinkSync(join(out, "dangling")), "/does/not/exist");
  const again = spawnSync("nix-store", ["--dump", out], { maxBuffer: 1 << 30 });
  assert.ok(Buffer.compare(again.stdout, nar) === 0);
});
