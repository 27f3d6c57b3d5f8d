// `tvix repl` fed from a pipe: bindings persist, commands work, errors are
// reported and the session goes on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runTvix } from "./helpers";

test("repl: expressions, persistent bindings, :t, :p, :a, errors", () => {
  const input = ["1 + 2", "x = 10", "y = x * 2", "y", "{ a = 1 + 1; b = [ x y ]; }", ":t y", ":p { a.b = [ 1 ]; }", ":a { q = 5; }", "q", "nope", "map (z: z + x) [ 1 2 ]", ":q", "99"].join("\n") + "\n";
  const r = runTvix(["repl"], { input });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      "3",
      "20",
      "{ a = 2; b = [ 10 20 ]; }",
      "an integer",
      "{ a = { b = [ 1 ]; }; }",
      "Added 1 variables.",
      "5",
      "error: undefined variable 'nope'",
      "       at «string»:1:1:",
      "            1| nope",
      "             | ^",
      "[ 11 12 ]",
      "",
    ].join("\n"),
  );
});

test("repl: bindings shadow builtins without changing imported code", () => {
  const r = runTvix(["repl"], { input: 'map = 1\nmap\nbuiltins.map (x: x) [ 3 ]\n' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "1\n[ 3 ]\n");
});
