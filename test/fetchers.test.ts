// Fetchers against the Nix 2.26 oracle on local data: tarballs in every
// compression, plain files, and git repositories (clean, refs, revs, dirty).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nix226, runTvix } from "./helpers";

const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const work = mkdtempSync(join(tmpdir(), "tvix-fetch-"));
const env = { XDG_CACHE_HOME: join(work, "cache") };

function evalBoth(expr: string): { ours: string; theirs: string } {
  const o = runTvix(["eval", "--strict", "-E", expr], { env });
  assert.equal(o.status, 0, o.stderr);
  const t = nix226.run(["nix-instantiate", "--eval", "--strict", "-E", expr]);
  assert.equal(t.status, 0, t.stderr);
  return { ours: o.stdout, theirs: t.stdout };
}

function makeTree(root: string): void {
  mkdirSync(join(root, "pkg", "sub"), { recursive: true });
  writeFileSync(join(root, "pkg", "a"), "hello\n");
  writeFileSync(join(root, "pkg", "sub", "run"), "#!/bin/sh\n");
  chmodSync(join(root, "pkg", "sub", "run"), 0o755);
  writeFileSync(join(root, "pkg", "empty"), "");
  symlinkSync("a", join(root, "pkg", "link"));
  mkdirSync(join(root, "pkg", "emptydir"));
}

test("fetchTarball and fetchurl of file:// URLs give Nix 2.26's paths", { skip: nix226.skip || (!have("tar") && "tar missing") }, () => {
  const src = join(work, "src");
  makeTree(src);
  const archives: string[] = [];
  for (const [flag, ext] of [["-czf", "tar.gz"], ["-cJf", "tar.xz"], ["-cjf", "tar.bz2"], ["-cf", "tar"]] as const) {
    const f = join(work, `p.${ext}`);
    execFileSync("tar", ["-C", src, flag, f, "pkg"]);
    archives.push(f);
  }
  if (have("zip")) {
    execFileSync("zip", ["-qry", join(work, "p.zip"), "pkg"], { cwd: src });
    archives.push(join(work, "p.zip"));
  }
  const expr = `[ ${archives.map((a) => `(builtins.fetchTarball "file://${a}") (builtins.fetchurl "file://${a}")`).join(" ")} ]`;
  const { ours, theirs } = evalBoth(expr);
  assert.equal(ours, theirs);
});

test("fetchTarball with a wrong sha256 fails with a hash mismatch", () => {
  const f = join(work, "q.tar.gz");
  const src = join(work, "src2");
  mkdirSync(join(src, "d"), { recursive: true });
  writeFileSync(join(src, "d", "x"), "x");
  execFileSync("tar", ["-C", src, "-czf", f, "d"]);
  // read-only evaluation trusts a given hash; instantiate must check it
  const r = runTvix(["instantiate", "--store", "memory://", "-E", `builtins.derivation { name = "x"; system = "x"; builder = builtins.fetchTarball { url = "file://${f}"; sha256 = "${"0".repeat(52)}"; }; }`], { env });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /hash mismatch in file downloaded from/);
});

test("fetchGit of local repositories gives Nix 2.26's attributes", { skip: nix226.skip || (!have("git") && "git missing") }, () => {
  const repo = join(work, "repo");
  mkdirSync(join(repo, "d"), { recursive: true });
  const git = (...args: string[]) =>
    execFileSync("git", args, { cwd: repo, env: { ...process.env, GIT_AUTHOR_DATE: "2020-01-01T00:00:00Z", GIT_COMMITTER_DATE: "2020-01-01T00:00:00Z" } });
  git("init", "-q");
  git("config", "user.email", "t@example.org");
  git("config", "user.name", "t");
  writeFileSync(join(repo, "f"), "one\n");
  writeFileSync(join(repo, "d", "g"), "two\n");
  git("add", ".");
  git("commit", "-qm", "c1");
  git("branch", "old");
  writeFileSync(join(repo, "h"), "three\n");
  git("add", "h");
  git("commit", "-qm", "c2");
  const clean = `let a = builtins.fetchGit ${repo}; b = builtins.fetchGit { url = "file://${repo}"; ref = "old"; }; c = builtins.fetchGit { url = ${repo}; rev = b.rev; }; in [ a b c ]`;
  const r1 = evalBoth(clean);
  assert.equal(r1.ours, r1.theirs);
  writeFileSync(join(repo, "f"), "changed\n"); // a dirty working tree
  const r2 = evalBoth(`builtins.fetchGit ${repo}`);
  assert.equal(r2.ours, r2.theirs);
});

test("fetchGit with submodules = true gives Nix 2.26's attributes", { skip: nix226.skip || (!have("git") && "git missing") }, () => {
  const root = join(work, "sm");
  const env = { ...process.env, GIT_AUTHOR_DATE: "2020-01-01T00:00:00Z", GIT_COMMITTER_DATE: "2020-01-01T00:00:00Z" };
  const git = (cwd: string, ...args: string[]) => execFileSync("git", ["-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "protocol.file.allow=always", ...args], { cwd, env, stdio: "pipe" });
  mkdirSync(join(root, "sub"), { recursive: true });
  git(join(root, "sub"), "init", "-q");
  writeFileSync(join(root, "sub", "s"), "subfile\n");
  git(join(root, "sub"), "add", "s");
  git(join(root, "sub"), "commit", "-qm", "s");
  mkdirSync(join(root, "main"));
  git(join(root, "main"), "init", "-q");
  writeFileSync(join(root, "main", "t"), "top\n");
  git(join(root, "main"), "submodule", "add", "-q", "../sub", "deps/sub");
  git(join(root, "main"), "add", ".");
  git(join(root, "main"), "commit", "-qm", "m");
  const r = evalBoth(`builtins.fetchGit { url = ${join(root, "main")}; submodules = true; }`);
  assert.equal(r.ours, r.theirs);
});

test("fetchers refuse unknown arguments and non-string URLs", () => {
  for (const [expr, msg] of [
    [`builtins.fetchurl { url = "file:///dev/null"; hash = "x"; }`, /unsupported argument 'hash' to 'fetchurl'/],
    [`builtins.fetchTarball /dev/null`, /expected a string but found a path/],
    [`builtins.fetchTree { type = "hg"; url = "x"; }`, /not implemented: fetchTree type 'hg'/],
  ] as const) {
    const r = runTvix(["eval", "-E", expr], { env });
    assert.equal(r.status, 1, expr);
    assert.match(r.stderr, msg);
  }
});
