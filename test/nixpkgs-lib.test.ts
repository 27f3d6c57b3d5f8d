// nixpkgs' own library tests, run against the built binary: the Nix-file
// tests through `tvix eval`, the shell tests with the binary as
// `nix-instantiate` first on PATH (the drop-in). modules.sh and network.sh
// take minutes: scripts/nixpkgs-lib-tests.sh runs modules.sh.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { accessSync, constants, copyFileSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, sharedDir } from "./helpers";

const binary = join(repoRoot, "dist", "tvix");
const tests = join(sharedDir, "corpora", "nixpkgs-lib", "lib", "tests");
const skip = !existsSync(binary) ? "dist/tvix not built (node build.mjs)" : !existsSync(tests) ? "../shared/corpora/nixpkgs-lib not present" : false;

for (const file of ["misc.nix", "systems.nix", "fetchers.nix"]) {
  test(`nixpkgs lib/tests/${file} evaluates to [ ]`, { skip, timeout: 120_000 }, () => {
    const r = spawnSync(binary, ["eval", "--strict", join(tests, file)], { encoding: "utf8", maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "[ ]\n");
  });
}

// sources.sh reads the paths it gets back: they must exist under /nix/store
function storeWritable(): boolean {
  try {
    accessSync("/nix/store", constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

for (const script of ["debug.sh", "filesystem.sh", "sources.sh"]) {
  const why = skip || (script === "sources.sh" && !storeWritable() ? "/nix/store is not writable (paths cannot be materialised)" : false);
  test(`nixpkgs lib/tests/${script} passes with tvix as nix-instantiate`, { skip: why, timeout: 300_000 }, () => {
    const bin = mkdtempSync(join(tmpdir(), "tvix-dropin-"));
    copyFileSync(binary, join(bin, "nix-instantiate"));
    const r = spawnSync("bash", [script], {
      cwd: tests,
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      maxBuffer: 64 << 20,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`.slice(-2000));
    assert.match(r.stdout + r.stderr, /tests ok/);
  });
}
