// --option pure-eval true and --option restrict-eval true (and allowed-uris):
// what evaluation may read, with Nix 2.26's messages. Each case's expected
// line is Nix 2.26's (the last line of its error, or its output); with the
// oracle installed, the cases are also run through it.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runEval, type EvalRequest } from "../eval/driver";
import { makeEvalHost } from "../glue";
import { nix226, runTvix } from "./helpers";

let dir: string;
const PURE = "in pure evaluation mode (use '--impure' to override)";
const RESTRICTED = "in restricted mode";

before(() => {
  dir = mkdtempSync(join(tmpdir(), "tvix-restrict-"));
  writeFileSync(join(dir, "f"), "hi\n");
  symlinkSync("/etc/hostname", join(dir, "l")); // a link out of the allowed tree
  mkdirSync(join(dir, "d"));
  symlinkSync("/etc", join(dir, "d", "e"));
  writeFileSync(join(dir, "p.nix"), "builtins.readFile ./f");
});

type Mode = "pure-eval" | "restrict-eval";
const CASES: [Mode, string, string][] = [
  ["pure-eval", "builtins.readFile /etc/hostname", `error: access to absolute path '/etc' is forbidden ${PURE}`],
  ["restrict-eval", "builtins.readFile /etc/hostname", `error: access to absolute path '/etc' is forbidden ${RESTRICTED}`],
  ["pure-eval", 'builtins.getEnv "HOME"', '""'],
  ["restrict-eval", 'builtins.getEnv "HOME"', '""'],
  ["pure-eval", "builtins ? currentTime", "false"],
  ["pure-eval", "builtins ? currentSystem", "false"],
  ["restrict-eval", "builtins.currentSystem", '"x86_64-linux"'],
  ["pure-eval", "import /etc/x.nix", `error: access to absolute path '/etc' is forbidden ${PURE}`],
  ["pure-eval", "builtins.pathExists /etc/hostname", "false"],
  ["restrict-eval", "builtins.readDir /etc", `error: access to absolute path '/etc' is forbidden ${RESTRICTED}`],
  ["pure-eval", "<nixpkgs>", `error: cannot look up '<nixpkgs>' ${PURE}`],
  ["pure-eval", "builtins.readFile <x/f>", `error: cannot look up '<x/f>' ${PURE}`],
  ["restrict-eval", "builtins.readFile <x/f>", '"hi\\n"'],
  ["restrict-eval", "builtins.readFile <x/l>", `error: access to absolute path '/etc' is forbidden ${RESTRICTED}`],
  ["restrict-eval", "builtins.readFile <x/d/e/hostname>", `error: access to absolute path '/etc' is forbidden ${RESTRICTED}`],
  ["restrict-eval", "builtins.pathExists <x/l>", "false"],
  ["pure-eval", 'builtins.readFile (builtins.toFile "a" "b")', '"b"'],
  ["restrict-eval", "builtins.readFile /nix/store/g76zcpqc540lrc8i6g7xy6ip0npn2hnp-a", `error: access to absolute path '/nix' is forbidden ${RESTRICTED}`],
  ["pure-eval", 'builtins.hashFile "sha256" /etc/hostname', `error: access to absolute path '/etc' is forbidden ${PURE}`],
  ["restrict-eval", '"${/etc/hostname}"', `error: access to absolute path '/etc' is forbidden ${RESTRICTED}`],
  ["pure-eval", "builtins.readFileType /etc/hostname", `error: access to absolute path '/etc/hostname' is forbidden ${PURE}`],
  ["restrict-eval", "builtins.path { path = /etc/hostname; }", `error: access to absolute path '/etc' is forbidden ${RESTRICTED}`],
  ["pure-eval", "builtins.filterSource (p: t: true) /etc", `error: access to absolute path '/etc' is forbidden ${PURE}`],
  ["pure-eval", '(import <nix/fetchurl.nix>) ? outPath', "false"],
  ["pure-eval", 'builtins.fetchurl "http://127.0.0.1:1/x"', "error: in pure evaluation mode, 'fetchurl' requires a 'sha256' argument"],
  ["restrict-eval", 'builtins.fetchTarball "http://127.0.0.1:10/x"', "error: access to URI 'http://127.0.0.1:10/x' is forbidden in restricted mode"],
  ["restrict-eval", 'builtins.fetchGit { url = "/tmp"; rev = "0000000000000000000000000000000000000000"; }', "error: access to URI 'git+file:///tmp?exportIgnore=1&rev=0000000000000000000000000000000000000000' is forbidden in restricted mode"],
  ["pure-eval", 'builtins.fetchGit "/tmp"', "error: in pure evaluation mode, 'fetchGit' will not fetch unlocked input 'git+file:///tmp?exportIgnore=1'"],
  ["pure-eval", 'builtins.findFile [] "x"', `error: cannot look up '<x>' ${PURE}`],
];
// allowed-uris http://127.0.0.1:1 lets http://127.0.0.1:1/x through (to a failed download), not http://127.0.0.1:10/x
const OPTS = (mode: Mode) => ({ [mode]: "true", "allowed-uris": "http://127.0.0.1:1" });

function lastLine(out: string, err: string): string {
  const errLines = err.split("\n").filter((l) => /error:/.test(l));
  return (errLines.length ? errLines[errLines.length - 1] : out.trim().split("\n").pop()!).trim();
}

function ours(mode: Mode, expr: string): string {
  const req: EvalRequest = {
    expr, attrPaths: [], args: [], nixPath: [`x=${dir}`], strict: false, output: "nix", location: true,
    showTrace: false, parseOnly: false, cwd: dir, options: OPTS(mode),
  };
  let out = "";
  let err = "";
  runEval(req, { out: (s) => (out += s), err: (s) => (err += s) }, makeEvalHost().host);
  return lastLine(out, err);
}

test("pure-eval and restrict-eval: reads, environment, lookups and fetchers as Nix 2.26", () => {
  const wrong: string[] = [];
  for (const [mode, expr, want] of CASES) {
    const got = ours(mode, expr);
    if (got !== want) wrong.push(`${mode} ${expr}\n  want: ${want}\n  got:  ${got}`);
  }
  assert.deepEqual(wrong, []);
});

test("restrict-eval: allowed-uris lets a prefix through at a '/' boundary only", async () => {
  const { isAllowedURI } = await import("../glue/fetchers");
  assert.ok(isAllowedURI("http://127.0.0.1:1/x", ["http://127.0.0.1:1"]));
  assert.ok(!isAllowedURI("http://127.0.0.1:10/x", ["http://127.0.0.1:1"]));
  assert.ok(isAllowedURI("github:NixOS/nix", ["github:"]));
  assert.ok(isAllowedURI("https://a.org/b/c", ["https://a.org/b/"]));
  assert.ok(!isAllowedURI("https://a.org/bc", ["https://a.org/b"]));
  // let through to the download (which has no server here)
  assert.doesNotMatch(ours("restrict-eval", 'builtins.fetchurl "http://127.0.0.1:1/x"'), /forbidden/);
});

test("the CLI honours --option pure-eval/restrict-eval and the --pure-eval/--restrict-eval flags (a file given is refused, as Nix)", () => {
  for (const args of [["--option", "restrict-eval", "true"], ["--restrict-eval"], ["--pure-eval"]]) {
    const r = runTvix(["eval", ...args, join(dir, "p.nix")]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /access to absolute path '\/tmp' is forbidden in (restricted mode|pure evaluation mode)/);
  }
  const env = runTvix(["eval", "-E", 'builtins.getEnv "HOME"'], { env: { NIX_CONFIG: "restrict-eval = true" } });
  assert.equal(env.stdout, '""\n', env.stderr);
});

test("the expected lines are Nix 2.26's", { skip: nix226.skip }, () => {
  const wrong: string[] = [];
  for (const [mode, expr, want] of CASES) {
    // read-write: Nix's read-only --eval cannot read a toFile path it has not written; ours reads what the evaluation added
    const r = nix226.run(["nix-instantiate", "--eval", "--read-write-mode", "--option", mode, "true", "--option", "allowed-uris", "http://127.0.0.1:1", "-I", `x=${dir}`, "-E", expr], { cwd: dir });
    const got = lastLine(r.stdout, r.stderr);
    if (got !== want) wrong.push(`${mode} ${expr}\n  want: ${want}\n  nix:  ${got}`);
  }
  assert.deepEqual(wrong, []);
});
