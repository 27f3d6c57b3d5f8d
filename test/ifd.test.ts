// Import from derivation: reading an output path that is not valid yet
// builds it (through builders/, as tvix build), in eval, instantiate and
// build alike; allow-import-from-derivation = false refuses as Nix 2.26;
// the value is Nix 2.8's (nix-instantiate --read-write-mode --eval, sandboxed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nix28, repoRoot, runTvix } from "./helpers";

const canBuild = spawnSync("sh", ["-c", "command -v bwrap && test -x /bin/bash-static && test -x /bin/busybox"]).status === 0;
const skip = canBuild ? false : "building needs bwrap, /bin/bash-static and /bin/busybox";
const work = mkdtempSync(join(tmpdir(), "tvix-ifd-"));
const salt = `ifd-${process.pid}-${Date.now()}`;
const file = join(work, "ifd.nix");
writeFileSync(
  file,
  `let
  boot = import ${join(repoRoot, "examples/bootstrap.nix")} { system = builtins.currentSystem; };
  gen = boot.mkDerivation { name = "ifd-gen"; salt = "${salt}"; buildCommand = "mkdir $out; echo '{ x = 40 + 2; }' > $out/default.nix; echo hello > $out/file"; };
  imported = import gen;
in {
  v = imported.x;
  s = builtins.readFile "\${gen}/file";
  e = builtins.pathExists "\${gen}/nope";
  use = boot.mkDerivation { name = "ifd-use"; buildCommand = "echo \${toString imported.x} > $out"; };
}
`,
);
const env = (home: string) => ({ TVIX_HOME: join(work, home), TVIX_CONF_DIR: "/nonexistent", NIX_CONFIG: "", TVIX_STORE: "" });
const expr = `let r = import ${file}; in { inherit (r) v s e; }`;

test("IFD: eval builds what it imports and reads; the value is Nix 2.8's", { skip, timeout: 240_000 }, () => {
  const r = runTvix(["eval", "--strict", "-E", expr], { env: env("eval") });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '{ e = false; s = "hello\\n"; v = 42; }\n');
  if (nix28.available) {
    const n = spawnSync("nix-instantiate", ["--read-write-mode", "--option", "sandbox", "true", "--option", "substituters", "", "--eval", "--strict", "-E", expr], { encoding: "utf8" });
    assert.equal(n.status, 0, n.stderr);
    assert.equal(r.stdout, n.stdout);
  }
});

test("IFD: allow-import-from-derivation = false gives Nix 2.26's error", { skip, timeout: 120_000 }, () => {
  const r = runTvix(["--option", "allow-import-from-derivation", "false", "eval", "--strict", "-E", expr], { env: env("off") });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /error: cannot build '\/nix\/store\/[a-z0-9]{32}-ifd-gen\.drv\^out' during evaluation because the option 'allow-import-from-derivation' is disabled/);
  const cannot = runTvix(["eval", "--store", `file://${join(work, "cache")}`, "--strict", "-E", expr], { env: env("cache") });
  assert.equal(cannot.status, 1);
  assert.match(cannot.stderr, /cannot build '\/nix\/store\/[a-z0-9]{32}-ifd-gen\.drv' during evaluation: not implemented: building into 'file:/);
});

test("IFD: tvix instantiate and tvix build of a derivation that depends on an imported value", { skip, timeout: 240_000 }, () => {
  const home = env("build");
  const i = runTvix(["instantiate", file, "-A", "use"], { env: home });
  assert.equal(i.status, 0, i.stderr);
  assert.match(i.stdout, /^\/nix\/store\/[a-z0-9]{32}-ifd-use\.drv\n$/);
  const b = runTvix(["build", file, "-A", "use", "--out-link", join(work, "result")], { env: home });
  assert.equal(b.status, 0, b.stderr);
  assert.equal(readFileSync(join(work, "result"), "utf8"), "42\n");
});
