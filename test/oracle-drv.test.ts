// Differential tests: .drv files written by real Nix (2.8 and the 2.26
// oracle) are parsed, re-printed byte-identically, and their drv and output
// paths recomputed by us.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import {
  parseDerivation, printDerivation, derivationStorePath, computeOutputPaths, drvNameFromPath, Derivation, moduloHashes,
} from "../core/derivation";
import { nix28, nix226, repoRoot } from "./helpers";

const fixture = join(repoRoot, "test/fixtures/derivations.nix");

function checkAll(drvPaths: string[], storeRoot: string): number {
  const read = (p: string) => readFileSync(storeRoot + p, "utf8");
  const load = (p: string) => parseDerivation(read(p));
  let checked = 0;
  const seen = new Set<string>();
  const visit = (drvPath: string) => {
    if (seen.has(drvPath)) return;
    seen.add(drvPath);
    const text = read(drvPath);
    const drv = parseDerivation(text);
    assert.equal(printDerivation(drv), text, `re-print of ${drvPath}`);
    const name = drvNameFromPath(drvPath);
    assert.equal(derivationStorePath(drv, name).toAbsolute(), drvPath, `drv path of ${drvPath}`);
    // recompute the output paths from scratch
    const fresh: Derivation = parseDerivation(text);
    const expected = new Map([...fresh.outputs].map(([k, v]) => [k, v.path]));
    for (const o of fresh.outputs.values()) if (o.hash === "") o.path = "";
    for (const k of fresh.outputs.keys()) if (fresh.env.has(k)) fresh.env.set(k, "");
    computeOutputPaths(fresh, name, moduloHashes(load));
    for (const [k, p] of expected) assert.equal(fresh.outputs.get(k)!.path, p, `output ${k} of ${drvPath}`);
    assert.equal(printDerivation(fresh), text, `recomputed ${drvPath}`);
    checked++;
    for (const input of drv.inputDrvs.keys()) visit(input);
  };
  for (const p of drvPaths) visit(p);
  return checked;
}

test("Nix 2.8: .drv files round-trip and their paths are recomputed", { skip: nix28.skip }, () => {
  const r = spawnSync("nix-instantiate", [fixture], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const paths = r.stdout.trim().split("\n");
  assert.ok(paths.length >= 16);
  assert.ok(checkAll(paths, "") >= 16);
});

test("Nix 2.26: .drv files round-trip and their paths are recomputed", { skip: nix226.skip }, () => {
  const r = nix226.run(["nix-instantiate", fixture]);
  assert.equal(r.status, 0, r.stderr);
  const paths = r.stdout.trim().split("\n");
  assert.ok(paths.length >= 16);
  assert.ok(checkAll(paths, "/opt/nix-oracle") >= 16);
});

test("FOD inputs collapse: derivations differing only in how a FOD is fetched get the same outputs", { skip: nix28.skip }, () => {
  const r = spawnSync("nix-instantiate", ["--eval", "--strict", "--json", "-E",
    `let d = import ${fixture}; in [ d.onFod.outPath d.onFod2.outPath d.onFod.drvPath d.onFod2.drvPath ]`], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const [o1, o2, d1, d2] = JSON.parse(r.stdout);
  assert.equal(o1, o2);
  assert.notEqual(d1, d2);
  const load = (p: string) => parseDerivation(readFileSync(p, "utf8"));
  const a = load(d1);
  computeOutputPaths(a, "on-fod", moduloHashes(load));
  assert.equal(a.outputs.get("out")!.path, o1);
});
