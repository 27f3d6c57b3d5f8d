// A real package set: the 217 packages of ../shared/corpora/aux-core (a
// nixpkgs-derived set whose package groups import files from source
// directories they interpolate) give Nix 2.26's .drv paths (expected.txt),
// through `tvix instantiate` and through a read-only `tvix eval` on an empty
// store (which reads the source directories it only computed paths for).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, sharedDir } from "./helpers";

const binary = join(repoRoot, "dist", "tvix");
const corpus = join(sharedDir, "corpora", "aux-core");
const skip = !existsSync(binary) ? "dist/tvix not built (node build.mjs)" : !existsSync(join(corpus, "expected.txt")) ? "../shared/corpora/aux-core not present" : false;

const expected = (): Map<string, string> =>
  new Map(readFileSync(join(corpus, "expected.txt"), "utf8").trim().split("\n").map((l) => l.split(" ") as [string, string]));

function run(args: string[], home: string) {
  return spawnSync(binary, args, { cwd: corpus, encoding: "utf8", env: { ...process.env, TVIX_HOME: home }, maxBuffer: 64 << 20 });
}

test("aux-core: tvix instantiate prints Nix 2.26's 217 .drv paths and writes them", { skip }, () => {
  const home = mkdtempSync(join(tmpdir(), "tvix-aux-"));
  try {
    const r = run(["instantiate", "packages.nix"], home);
    assert.equal(r.stderr, "");
    assert.equal(r.status, 0);
    const got = r.stdout.trim().split("\n").map((l) => l.replace(/!.*$/, ""));
    const want = [...expected().values()];
    assert.equal(want.length, 217);
    assert.deepEqual([...got].sort(), [...want].sort());
    // written: the store serves them back
    const drv = run(["store", "cat", want[0]], home);
    assert.match(drv.stdout, /^Derive\(\[/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test("aux-core: a read-only tvix eval on an empty store gives every drvPath", { skip }, () => {
  const home = mkdtempSync(join(tmpdir(), "tvix-aux-"));
  try {
    const r = run(["eval", "--strict", "--json", "-E", "builtins.mapAttrs (n: p: p.drvPath) (import ./packages.nix)"], home);
    assert.equal(r.stderr, "");
    const got = JSON.parse(r.stdout) as Record<string, string>;
    assert.deepEqual(new Map(Object.entries(got)), expected());
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
