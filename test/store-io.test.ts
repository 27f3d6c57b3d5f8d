// Evaluation reads store paths through the store-aware EvalIO (glue/store-io.ts):
// paths the same evaluation added (read-only `eval`, `instantiate`, with and
// without a writable store directory), and paths that only the configured
// store has. Results are compared with Nix 2.26 (--read-write-mode, so that
// it can read what it added) where the oracle is installed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nix226, repoRoot } from "./helpers";
import { evalIn } from "./fixtures/eval/harness";

const binary = join(repoRoot, "dist", "tvix");
const skipBinary = existsSync(binary) ? false : "dist/tvix not built (node build.mjs)";

function tvix(args: string[], env: NodeJS.ProcessEnv, cwd: string) {
  return spawnSync(binary, args, { encoding: "utf8", env: { ...process.env, ...env }, cwd, maxBuffer: 64 << 20 });
}

/** A source tree the expressions add to the store and read back. */
function sourceTree(): string {
  const root = mkdtempSync(join(tmpdir(), "tvix-storeio-"));
  const d = join(root, "dir");
  mkdirSync(join(d, "sub", "deeper"), { recursive: true });
  writeFileSync(join(d, "file.nix"), "{ x = 6 * 7; more = import ./sub/more.nix; }\n");
  writeFileSync(join(d, "sub", "more.nix"), '"from a nested import"\n');
  writeFileSync(join(d, "data"), "some data\n");
  writeFileSync(join(d, "sub", "deeper", "x"), "x\n");
  symlinkSync("data", join(d, "link"));
  symlinkSync("sub/deeper", join(d, "dirlink"));
  symlinkSync("../../data", join(d, "sub", "deeper", "up"));
  return root;
}

// Everything below reads from "${./dir}" and builtins.path results, never from ./dir itself.
const READS = `
let
  d = "\${./dir}";
  f = builtins.path { path = ./dir; name = "filtered"; filter = p: t: baseNameOf p != "data" && baseNameOf p != "up"; };
  flat = builtins.path { path = ./dir/data; recursive = false; };
  t = builtins.toFile "hello.txt" "hello";
in {
  imported = import "\${d}/file.nix";
  text = builtins.readFile "\${d}/data";
  viaLink = builtins.readFile "\${d}/link";
  viaDirLink = builtins.readFile "\${d}/dirlink/x";
  upLink = builtins.readFile "\${d}/sub/deeper/up";
  dir = builtins.readDir d;
  sub = builtins.readDir "\${d}/sub";
  types = map builtins.readFileType [ "\${d}/data" "\${d}/link" "\${d}/sub" ];
  exists = map builtins.pathExists [ "\${d}/sub/deeper/x" "\${d}/nope" "\${d}/data/" "\${d}/sub/" "\${f}/data" "\${f}/link" ];
  filtered = builtins.readDir f;
  flatText = builtins.readFile flat;
  hash = builtins.hashFile "sha256" "\${d}/sub/deeper/x";
  nested = builtins.readDir (builtins.path { path = "\${d}/sub"; name = "again"; });
  toFile = builtins.readFile t;
  toFileExists = builtins.pathExists t;
}`;

test("store paths added by the evaluation read back in-process, as Nix 2.26 reads them", () => {
  const root = sourceTree();
  try {
    const ours = evalIn(READS, ["--strict"], root);
    assert.equal(ours.err, "");
    assert.equal(ours.code, 0);
    assert.match(ours.out, /imported = \{ more = "from a nested import"; x = 42; \}/);
    assert.match(ours.out, /filtered = \{ dirlink = "symlink"; "file\.nix" = "regular"; link = "symlink"; sub = "directory"; \}/);
    assert.match(ours.out, /exists = \[ true false false true false true \]/);
    if (nix226.available) {
      const theirs = nix226.run(["nix-instantiate", "--eval", "--strict", "--read-write-mode", "-E", READS], { cwd: root });
      assert.equal(theirs.stderr, "");
      assert.equal(ours.out, theirs.stdout);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("tvix eval and instantiate read what they added, with and without a writable store directory", { skip: skipBinary }, () => {
  const root = sourceTree();
  try {
    const want = evalIn(READS, ["--strict"], root).out;
    const drv = `derivation { name = "uses-reads"; builder = "/bin/sh"; system = "x86_64-linux"; reads = builtins.toJSON (${READS}); }`;
    for (const storeDir of [join(root, "store"), "/nonexistent/tvix-store"]) {
      if (!storeDir.startsWith("/nonexistent")) mkdirSync(storeDir);
      const env = { TVIX_HOME: join(root, `home-${readdirSync(root).length}`) };
      const flags = ["--store-dir", storeDir];
      const e = tvix(["eval", "--strict", ...flags, "-E", READS], env, root);
      assert.equal(e.stderr, "", `eval with store dir ${storeDir}`);
      assert.equal(e.stdout, want, `eval with store dir ${storeDir}`);
      const i = tvix(["instantiate", ...flags, "-E", drv], env, root);
      assert.equal(i.stderr, "", `instantiate with store dir ${storeDir}`);
      assert.match(i.stdout, new RegExp(`^${storeDir}/[0-9a-z]{32}-uses-reads\\.drv\\n$`));
      // --read-write-mode materialises into a writable store directory only
      const rw = tvix(["eval", "--read-write-mode", ...flags, "-E", `builtins.readFile "\${./dir}/data"`], env, root);
      assert.equal(rw.stderr, "");
      assert.equal(rw.stdout, '"some data\\n"\n');
    }
    assert.ok(readdirSync(join(root, "store")).some((n) => n.endsWith("-dir")), "materialised under the writable store directory");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("store paths that only the configured store has are read during evaluation", { skip: skipBinary }, () => {
  const root = sourceTree();
  try {
    const home = join(root, "home");
    const storeUrl = `local://${join(root, "castore")}`;
    const imp = tvix(["store", "import", "--store", storeUrl, join(root, "dir")], { TVIX_HOME: home }, root);
    assert.equal(imp.stderr, "");
    const sp = imp.stdout.trim();
    assert.match(sp, /^\/nix\/store\/[0-9a-z]{32}-dir$/);
    assert.equal(existsSync(sp), false, "not on the host");
    const expr = `{ i = import ${sp}/file.nix; t = builtins.readFile ${sp}/link; d = builtins.readDir ${sp}/sub; e = builtins.pathExists ${sp}/nope; }`;
    const r = tvix(["eval", "--strict", "--store", storeUrl, "-E", expr], { TVIX_HOME: home }, root);
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, '{ d = { deeper = "directory"; "more.nix" = "regular"; }; e = false; i = { more = "from a nested import"; x = 42; }; t = "some data\\n"; }\n');
    // without that store, the path does not exist
    const other = tvix(["eval", "--store", `local://${join(root, "empty")}`, "-E", `builtins.readFile ${sp}/data`], { TVIX_HOME: home }, root);
    assert.equal(other.status, 1);
    assert.match(other.stderr, /No such file or directory/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("eval/ is the language only: no file system, process, store or CLI imports", () => {
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")) {
        const src = readFileSync(p, "utf8");
        for (const m of src.matchAll(/from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|lazyModule<[^>]*>\(\s*["']([^"']+)["']/g)) {
          const spec = m[1] ?? m[2] ?? m[3];
          if (/^(node:)?(fs|fs\/promises|child_process)$/.test(spec) || /^(\.\.\/)+(cmd|stores|glue|builders|daemon)\//.test(spec)) offenders.push(`${p}: ${spec}`);
        }
      }
    }
  };
  walk(join(repoRoot, "eval"));
  assert.deepEqual(offenders, []);
});

test("devices read as Nix reads them: up to their reported size (/dev/zero is empty, at once)", () => {
  const r = evalIn(`[ (builtins.readFile /dev/zero) (builtins.hashFile "sha256" /dev/zero) (builtins.readFile /dev/null) ]`, ["--strict"]);
  assert.equal(r.err, "");
  assert.equal(r.out, '[ "" "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "" ]\n');
});

test("a .drv that lists itself among its inputs is an error, not a hang", { skip: skipBinary }, () => {
  const root = mkdtempSync(join(tmpdir(), "tvix-selfdrv-"));
  try {
    const store = join(root, "store");
    mkdirSync(store);
    const drv = `${store}/${"a".repeat(32)}-self.drv`;
    writeFileSync(drv, `Derive([("out","${store}/${"b".repeat(32)}-self","","")],[("${drv}",["out"])],[],"x86_64-linux","/bin/sh",[],[("out","${store}/${"b".repeat(32)}-self")])`);
    const expr = `derivation { name = "uses"; builder = "/bin/sh"; system = "x86_64-linux"; dep = builtins.appendContext "" { "${drv}" = { outputs = [ "out" ]; }; }; }`;
    const t = spawnSync(binary, ["eval", "--store-dir", store, "-E", `(${expr}).drvPath`], { encoding: "utf8", cwd: root, timeout: 20_000, env: { ...process.env, TVIX_HOME: join(root, "home") } });
    assert.equal(t.status, 1);
    assert.match(t.stderr, /depends on itself/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
