// `tvix repl` fed from a pipe: bindings persist, commands work, errors are
// reported and the session goes on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nix226, runTvix } from "./helpers";

test("repl: expressions, persistent bindings, :t, :p, :a, errors", () => {
  const input = ["1 + 2", "x = 10", "y = x * 2", "y", "{ a = 1 + 1; b = [ x y ]; }", ":t y", ":p { a.b = [ 1 ]; }", ":a { q = 5; }", "q", "nope", "map (z: z + x) [ 1 2 ]", ":q", "99"].join("\n") + "\n";
  const r = runTvix(["repl"], { input });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, ["Added 1 variables.", "error: undefined variable 'nope'", "       at «string»:1:1:", "            1| nope", "             | ^", ""].join("\n"));
  assert.equal(
    r.stdout,
    [
      "3",
      "20",
      "{",
      "  a = 2;",
      "  b = [ ... ];",
      "}",
      "an integer",
      "{",
      "  a = {",
      "    b = [ 1 ];",
      "  };",
      "}",
      "5",
      "[",
      "  11",
      "  12",
      "]",
      "",
    ].join("\n"),
  );
});

test("repl: bindings shadow builtins without changing imported code", () => {
  const r = runTvix(["repl"], { input: 'map = 1\nmap\nbuiltins.map (x: x) [ 3 ]\n' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "1\n[ 3 ]\n");
});

// inputs whose output nix repl 2.26 and tvix repl print alike
const PRINTING = [
  "{ a = 1; b = { c = [ 1 2 { d = 3; } ]; e = \"x\"; }; f = x: x; }",
  ":p { a = 1; b = { c = [ 1 2 { d = 3; } ]; }; s = \"a\\nb\"; }",
  ":p \"a\\nb\"",
  "derivation { name = \"x\"; system = \"x\"; builder = \"/bin/sh\"; }",
  "[ (derivation { name = \"z\"; system = \"x\"; builder = \"/bin/sh\"; }) ]",
  "{ q = { r = derivation { name = \"y\"; system = \"x\"; builder = \"/bin/sh\"; }; }; }",
  "[ 1 2 3 ]",
  "{ }",
  "[ ]",
  "[ [ 1 ] [ 2 3 ] { } ]",
  "{ l = [ 1 ]; }",
  "let x = 1; in { inherit x; y = throw \"no\"; }",
  "let a = { b = 1; }; in [ a a ]",
  ":p let a = { b = 1; }; in [ a a ]",
  ":p rec { a = { b = a; }; }",
  "builtins.map",
  "map (x: x)",
  "(x: x)",
  "{ f = { x ? 1 }: x; }",
  ":t builtins.map",
  ":t (x: x)",
  ":t {}",
  "null",
  "1.5",
  "x = 5",
  "x",
  ":a { z = 1; }",
  "z",
];

test("repl: printing as nix repl 2.26", { skip: nix226.skip }, () => {
  const input = PRINTING.join("\n") + "\n";
  const ours = runTvix(["repl"], { input });
  assert.equal(ours.status, 0, ours.stderr);
  const theirs = nix226.run(["nix", "repl"], { input });
  // Nix echoes each prompt and input and leaves a blank line after each output; it colours even into a pipe
  const norm = (s: string) =>
    s
      .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "")
      .replace(/\r/g, "")
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("nix-repl> ") && !/^Nix \d|^Type :\? for help/.test(l))
      .join("\n");
  assert.equal(norm(ours.stdout), norm(theirs.stdout));
});

test("repl: :doc, :r, :te, :b, incomplete input and function files", () => {
  const dir = mkdtempSync(join(tmpdir(), "tvix-repl-"));
  const lib = join(dir, "lib.nix");
  writeFileSync(lib, `{ n ? 1 }: {\n  /** Doubles a number.\n\n     Example: double 2 == 4 */\n  double = x: x * 2;\n  value = n;\n}\n`);
  const input = [`:l ${lib}`, "value", ":doc double", ":doc builtins.map", ":te", "throw \"t\"", ":b 1", "[ 1", "2 ]", `:r`, "double 21", ":doc 1"].join("\n") + "\n";
  const r = runTvix(["repl"], { input });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^1\n/);
  assert.match(r.stdout, /Function defined at .*lib\.nix:5:12\n\nDoubles a number\.\n\nExample: double 2 == 4\n/);
  assert.match(r.stdout, /Synopsis: builtins\.map f list\n/);
  assert.match(r.stdout, /showing error traces\n/);
  assert.match(r.stderr, /^Added 2 variables\.\nerror:\n       … while calling the 'throw' builtin/);
  assert.match(r.stderr, /error: expression does not evaluate to a derivation, so I can't build it\nAdded 2 variables\.\n/);
  assert.match(r.stdout, /\[\n  1\n  2\n\]\n/);
  assert.match(r.stdout, /\n42\n$/);
  assert.match(r.stderr, /error: value does not have documentation\n$/);
  assert.doesNotMatch(r.stdout, /^error/m);
  rmSync(dir, { recursive: true, force: true });
});

// nix repl 2.26 fed from a pipe: values on stdout; errors (of evaluation and
// of commands), traces and notes on stderr; exit status 0 at the end of the
// input, even after errors
const STREAMS = ["1 + 2", "nope", "builtins.trace \"hi\" 4", "throw \"boom\"", ":doc 1", ":te foo", ":zz", "5", "(1"];

test("repl: errors and traces go to stderr, values to stdout, exit 0 (as nix repl)", () => {
  const r = runTvix(["repl"], { input: STREAMS.join("\n") + "\n" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "3\n4\n5\n");
  const errors = r.stderr.split("\n").filter((l) => /^(error|trace):/.test(l));
  assert.deepEqual(errors, [
    "error: undefined variable 'nope'",
    "trace: hi",
    "error:",
    "error: value does not have documentation",
    "error: unexpected argument 'foo' to :te",
    "error: unknown command ':zz'",
    "error: the input ended inside an open bracket, string or 'let'",
  ]);
  assert.match(r.stderr, /\n       error: boom\n/);
});

test("repl: the same streams and exit status as nix repl 2.26", { skip: nix226.skip }, () => {
  const theirs = nix226.run(["nix", "repl"], { input: STREAMS.join("\n") + "\n" });
  assert.equal(theirs.status, 0);
  const clean = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
  // Nix echoes the prompts and inputs on stdout; its values are the same
  const values = clean(theirs.stdout).split("\n").filter((l) => l.trim() !== "" && !l.startsWith("nix-repl> ") && !/^ +\(1$/.test(l));
  assert.deepEqual(values, ["3", "4", "5"]);
  const errors = clean(theirs.stderr).split("\n").filter((l) => /^(error|trace):/.test(l));
  // Nix says nothing about the input left open at the end
  assert.deepEqual(errors, ["error: undefined variable 'nope'", "trace: hi", "error:", "error: value does not have documentation", "error: unexpected argument 'foo' to :te", "error: unknown command ':zz'"]);
});
