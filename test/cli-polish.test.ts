// The everyday CLI: help with examples everywhere, Nix 2.26's JSON shapes,
// derivation show, --add-root, the drop-in's flags, completion scripts,
// colours only where wanted.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nix226, repoRoot, runTvix } from "./helpers";

const work = mkdtempSync(join(tmpdir(), "tvix-cli-polish-"));
const env = { TVIX_HOME: join(work, "home"), TVIX_STORE: "", NIX_CONFIG: "" };
const EXPR = `let a = derivation { name = "a"; system = "x"; builder = "/bin/sh"; outputs = [ "out" "dev" ]; };
  f = derivation { name = "f"; system = "x"; builder = "/bin/sh"; outputHash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; outputHashMode = "recursive"; };
in derivation { name = "x"; system = "x"; builder = "/bin/sh"; args = [ "-c" "echo" ]; dep = a.dev; inherit f; src = builtins.toFile "s" "s"; }`;

function ok(args: string[], extra: NodeJS.ProcessEnv = {}): string {
  const r = runTvix(args, { env: { ...env, ...extra } });
  assert.equal(r.status, 0, `tvix ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Runs the sources under the name nix-instantiate (a symlink), as the drop-in. */
function dropIn(args: string[], cwd = work) {
  const bin = join(work, "bin");
  mkdirSync(bin, { recursive: true });
  try {
    symlinkSync(join(repoRoot, "cmd/main.ts"), join(bin, "nix-instantiate"));
  } catch {
    /* made by an earlier call */
  }
  return spawnSync(process.execPath, ["--import", join(repoRoot, "node_modules/tsx/dist/loader.mjs"), join(bin, "nix-instantiate"), ...args], {
    encoding: "utf8",
    cwd,
    env: { ...process.env, ...env },
  });
}

test("every command's --help has examples; --arg and --argstr are listed", () => {
  const top = ok(["--help"]);
  assert.match(top, /Examples:/);
  const commands = [...top.matchAll(/^  ([a-z]+)(?: |\|)/gm)].map((m) => m[1]).filter((c) => c !== "help");
  assert.ok(commands.length >= 8, top);
  for (const c of commands) {
    const h = ok([c, "--help"]);
    const subs = [...h.matchAll(/^Commands:\n([\s\S]*?)(?:\n\n|$)/gm)].flatMap((m) => [...m[1].matchAll(/^  ([a-z-]+)/gm)].map((x) => x[1])).filter((x) => x !== "help");
    assert.match(h, /Examples:/, `tvix ${c} --help`);
    for (const s of subs) assert.match(ok([c, s, "--help"]), /Examples:/, `tvix ${c} ${s} --help`);
  }
  for (const c of ["eval", "instantiate"]) {
    const h = ok([c, "--help"]);
    assert.match(h, /--arg <name expr>/);
    assert.match(h, /--argstr <name string>/);
    assert.match(h, /-v, --verbose/);
  }
});

test("derivation show prints Nix 2.26's JSON", { skip: nix226.skip }, () => {
  const drv = ok(["instantiate", "-E", EXPR]).trim();
  const ours = ok(["derivation", "show", "-r", drv]);
  const theirsDrv = nix226.run(["nix-instantiate", "-E", EXPR], { cwd: work }).stdout.trim();
  assert.equal(theirsDrv, drv);
  const theirs = nix226.run(["nix", "derivation", "show", "-r", drv], { cwd: work });
  assert.equal(theirs.status, 0, theirs.stderr);
  assert.equal(ours, theirs.stdout);
  const bad = runTvix(["derivation", "show", "/nix/store/" + "0".repeat(32) + "-nope.drv"], { env });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /is not valid in store/);
});

test("store path-info: Nix 2.26's JSON object, -s, -S and -h", () => {
  const dir = join(work, "tree");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "f"), "x".repeat(5000));
  const p = ok(["store", "import", dir]).trim();
  const j = JSON.parse(ok(["store", "path-info", "--json", "-S", p]));
  assert.deepEqual(Object.keys(j[p]), ["ca", "closureSize", "deriver", "narHash", "narSize", "references", "signatures", "ultimate"]);
  assert.match(j[p].narHash, /^sha256-[A-Za-z0-9+/]{43}=$/);
  assert.equal(j[p].closureSize, j[p].narSize);
  const size = j[p].narSize as number;
  assert.equal(ok(["store", "path-info", "-s", p]), `${p}\t${String(size).padStart(11)}\n`);
  assert.equal(ok(["store", "path-info", "-sSh", p]), `${p}\t${((size / 1024).toFixed(1) + " KiB").padStart(10)}\t${((size / 1024).toFixed(1) + " KiB").padStart(10)}\n`);
});

test("instantiate --add-root, and the drop-in's --add-root and -v", () => {
  const two = `[ (derivation { name = "x"; system = "x"; builder = "/bin/sh"; }) (derivation { name = "y"; system = "x"; builder = "/bin/sh"; }) ]`;
  const out = ok(["instantiate", "--add-root", join(work, "root"), "-E", two]);
  assert.equal(out, `${join(work, "root")}\n${join(work, "root-2")}\n`);
  assert.equal(readlinkSync(join(work, "root")), "/nix/store/safnr1ywsblyl5qfbca0178m104hzxaw-x.drv");
  assert.equal(readlinkSync(join(work, "root-2")), "/nix/store/4kfl27mrd0pf74svb6a70r0wb7r3v845-y.drv");
  // the drop-in: a relative root, resolved against the working directory; -v takes no argument
  const r = dropIn(["-v", "--add-root", "./r", "-E", `derivation { name = "x"; system = "x"; builder = "/bin/sh"; }`]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${join(work, "r")}\n`);
  assert.ok(lstatSync(join(work, "r")).isSymbolicLink());
  const v = dropIn(["-v", "--eval", "-E", "1 + 1"]);
  assert.equal(v.stdout, "2\n", v.stderr);
  const vv = dropIn(["-vv", "--eval", "--strict", "-E", "[ 1 ]"]);
  assert.equal(vv.stdout, "[ 1 ]\n", vv.stderr);
});

test("completion scripts for bash, zsh and fish", () => {
  const bash = ok(["completion", "bash"]);
  const r = spawnSync("bash", ["-c", `${bash}\nCOMP_WORDS=(tvix store path-info --js); COMP_CWORD=3; _tvix; echo "\${COMPREPLY[@]}"; COMP_WORDS=(tvix de); COMP_CWORD=1; _tvix; echo "\${COMPREPLY[@]}"`], { encoding: "utf8" });
  assert.equal(r.stdout, "--json\nderivation\n", r.stderr);
  assert.match(ok(["completion", "zsh"]), /bashcompinit/);
  assert.match(ok(["completion", "fish"]), /complete -c tvix -n '__fish_seen_subcommand_from path-info' -l json/);
  assert.equal(runTvix(["completion", "tcsh"], { env }).status, 1);
});

test("errors: no colour codes into a pipe or with NO_COLOR; red on a terminal", () => {
  const piped = runTvix(["eval", "-E", "throw \"x\""], { env });
  assert.doesNotMatch(piped.stderr, /\x1b\[/);
  assert.match(piped.stderr, /^error:/m);
  const haveScript = spawnSync("sh", ["-c", "command -v script"]).status === 0;
  if (!haveScript) return;
  // a pseudo-terminal: script(1) runs the command with its stderr on a terminal
  const cmd = `${process.execPath} --import ${join(repoRoot, "node_modules/tsx/dist/loader.mjs")} ${join(repoRoot, "cmd/main.ts")} eval -E 'throw "x"'`;
  const tty = spawnSync("script", ["-qec", cmd, "/dev/null"], { encoding: "utf8", env: { ...process.env, ...env, NO_COLOR: "", TERM: "xterm" } });
  assert.match(tty.stdout, /\x1b\[31;1merror:\x1b\[0m/);
  const noColor = spawnSync("script", ["-qec", cmd, "/dev/null"], { encoding: "utf8", env: { ...process.env, ...env, NO_COLOR: "1", TERM: "xterm" } });
  assert.match(noColor.stdout, /error:/);
  assert.doesNotMatch(noColor.stdout, /\x1b\[31/);
});
