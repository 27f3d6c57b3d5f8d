// The NAR hash streamed while walking the host (hashTreeNar over hostTree)
// equals the hash of the NAR built in memory (narFromTree of treeToNode), for
// trees with every kind of node, names that sort differently in UTF-16 and
// UTF-8, files larger than the encoder's buffer, and filters.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashTreeNar, hostTree } from "./host-tree";
import { narFromTree, treeToNode, type FileType } from "../core/nar";
import { hashBytes, type HashAlgo } from "../core/hash";

const hashPathNar = (p: string, filter: ((path: string, type: FileType) => boolean) | undefined, algo: HashAlgo) => hashTreeNar(hostTree, p, algo, filter).hash;
const readTree = (p: string, filter?: (path: string, type: FileType) => boolean) => treeToNode(hostTree, p, filter);

test("the streamed NAR hash of a path equals the hash of its NAR", () => {
  const root = mkdtempSync(join(tmpdir(), "tvix-narhash-"));
  try {
    const t = join(root, "tree");
    mkdirSync(join(t, "sub", "deeper"), { recursive: true });
    mkdirSync(join(t, "empty"));
    writeFileSync(join(t, "a.txt"), "hello\n");
    writeFileSync(join(t, "empty-file"), "");
    writeFileSync(join(t, "big.bin"), Buffer.alloc(200_000, 7));
    writeFileSync(join(t, "sub", "x"), "x".repeat(70_001));
    writeFileSync(join(t, "sub", "deeper", "run.sh"), "#!/bin/sh\n");
    chmodSync(join(t, "sub", "deeper", "run.sh"), 0o755);
    symlinkSync("a.txt", join(t, "link"));
    symlinkSync("../".repeat(40) + "n".repeat(300), join(t, "sub", "long-link"));
    writeFileSync(join(t, "\u{1F600}"), "astral");
    writeFileSync(join(t, "\uFFFD"), "bmp");
    writeFileSync(join(t, "n".repeat(200)), "long name");
    // made in an order that no file system lists as sorted both ways
    for (const n of ["zz", "b", "Y", "a0", "_", "aa", "0", "~", "é"]) writeFileSync(join(t, n), n);
    const want = (p: string, filter?: (path: string, type: FileType) => boolean) => hashBytes("sha256", narFromTree(readTree(p, filter))).format("nix32", false);
    for (const p of [t, join(t, "a.txt"), join(t, "link"), join(t, "empty"), join(t, "big.bin"), join(t, "sub")])
      assert.equal(hashPathNar(p, undefined, "sha256").format("nix32", false), want(p), p);
    const noText = (p: string, type: string) => !(type === "regular" && p.endsWith(".txt")) && type !== "symlink";
    assert.equal(hashPathNar(t, noText, "sha256").format("nix32", false), want(t, noText));
    assert.equal(hashPathNar(t, undefined, "sha512").format("base16", false), hashBytes("sha512", narFromTree(readTree(t))).format("base16", false));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
