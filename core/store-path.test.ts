import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashBytes, Hash } from "./hash";
import { StorePath, makeFixedOutputPath, makeTextPath, makeOutputPath, validateStorePathName } from "./store-path";
import { nix28 } from "../test/helpers";

test("StorePath parses and prints", () => {
  const p = StorePath.parseAbsolute("/nix/store/qa1w9gdfrba6jl2r57mb3c43863gqywp-hello.txt");
  assert.equal(p.name, "hello.txt");
  assert.equal(p.hashPart, "qa1w9gdfrba6jl2r57mb3c43863gqywp");
  assert.equal(p.toAbsolute(), "/nix/store/qa1w9gdfrba6jl2r57mb3c43863gqywp-hello.txt");
  assert.throws(() => StorePath.parseAbsolute("/nix/store/qa1w9gdfrba6jl2r57mb3c43863gqywp-hello.txt/x"), /inside/);
  assert.throws(() => StorePath.parseAbsolute("/tmp/qa1w9gdfrba6jl2r57mb3c43863gqywp-x"), /not in the Nix store/);
  assert.throws(() => StorePath.parse("ea1w9gdfrba6jl2r57mb3c43863gqywp-x"), /invalid hash part/);
});

test("store path names follow Nix's rules", () => {
  for (const ok of ["a", "hello-2.12.1", "a+b=c?d_e.f", ".a", "..a", "x".repeat(211)]) validateStorePathName(ok);
  for (const bad of ["", ".", "..", ".-a", "..-a", "a b", "a/b", "ü", "x".repeat(212)]) assert.throws(() => validateStorePathName(bad), bad);
});

test("known paths (values printed by Nix 2.8)", () => {
  const h = hashBytes("sha256", "hello\n");
  assert.equal(makeFixedOutputPath("hello.txt", h, false).toAbsolute(), "/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt");
  assert.equal(makeTextPath("hello.txt", h, []).toAbsolute(), "/nix/store/qa1w9gdfrba6jl2r57mb3c43863gqywp-hello.txt");
  assert.equal(makeOutputPath("dev", h, "x").name, "x-dev");
  assert.throws(() => makeFixedOutputPath("x", h, false, ["/nix/store/qa1w9gdfrba6jl2r57mb3c43863gqywp-hello.txt"]), /references/);
});

test("oracle: nix-store --add-fixed and nix-hash agree with us", { skip: nix28.skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "tvix-sp-"));
  const file = join(dir, "data.bin");
  writeFileSync(file, "some content\n\u0000\u00ff");
  const tree = join(dir, "tree");
  mkdirSync(tree);
  writeFileSync(join(tree, "a"), "a");
  for (const algo of ["md5", "sha1", "sha256", "sha512"] as const) {
    const flat = spawnSync("nix-store", ["--add-fixed", algo, file], { encoding: "utf8" });
    assert.equal(flat.status, 0, flat.stderr);
    const hex = spawnSync("nix-hash", ["--type", algo, "--flat", file], { encoding: "utf8" }).stdout.trim();
    const h = Hash.parse(hex, algo);
    assert.equal(makeFixedOutputPath("data.bin", h, false).toAbsolute(), flat.stdout.trim(), `flat ${algo}`);
    for (const enc of ["--to-base32", "--to-base16"]) {
      const conv = spawnSync("nix-hash", ["--type", algo, enc, hex], { encoding: "utf8" }).stdout.trim();
      assert.equal(conv, enc === "--to-base32" ? h.toNixBase32() : h.toBase16());
    }
    const rec = spawnSync("nix-store", ["--add-fixed", "--recursive", algo, tree], { encoding: "utf8" });
    assert.equal(rec.status, 0, rec.stderr);
    const rhex = spawnSync("nix-hash", ["--type", algo, tree], { encoding: "utf8" }).stdout.trim();
    assert.equal(makeFixedOutputPath("tree", Hash.parse(rhex, algo), true).toAbsolute(), rec.stdout.trim(), `recursive ${algo}`);
  }
  // text paths with references: toFile referring to another toFile
  const r = spawnSync("nix-instantiate", ["--eval", "--strict", "--read-write-mode", "-E",
    'let a = builtins.toFile "a" "x"; in [ a (builtins.toFile "b" "ref ${a}") ]'], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const [a, b] = [...r.stdout.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  assert.equal(makeTextPath("a", hashBytes("sha256", "x"), []).toAbsolute(), a);
  assert.equal(makeTextPath("b", hashBytes("sha256", `ref ${a}`), [a]).toAbsolute(), b);
});
