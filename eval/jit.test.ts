// The second tier (jit.ts) must give exactly what the closures give: every
// expression here is evaluated with the JIT off and with every lambda body
// compiled on its first call, and the outputs and errors (with traces) must
// be the same. The conformance corpus also runs with TVIX_JIT_AT=1
// (test/conformance.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { evalIn } from "../test/fixtures/eval/harness";
import { setJitAt } from "./jit";

// Operands for every binary operator: the operation is the lambda's body, so
// the JIT inlines it (list elements and arguments stay with the closures).
const operands = "[ (f 7 2) (f 2 7) (f 3 3) (f (-4) (-4)) (f 2.5 1) (f 1 2.5) (f 9007199254740991 1) (f 9007199254740991 (-9007199254740991)) (f (-9007199254740991) 1) ]";
const binops = ["+", "-", "*", "/", "<", ">", "<=", ">=", "==", "!="].map((op) => `let f = a: b: a ${op} b; in ${operands}`);

const exprs = [
  ...binops,
  "let f = a: a + 1; in f 9223372036854775807",
  "let f = a: -a - 9223372036854775807; in f 2",
  "let f = a: b: a / b; in f 1 0",
  "let f = a: b: a + b; in [ (f \"x\" \"y\") (f ./. \"/a\") (f \"a\" ./.) ]",
  "let f = a: b: a + b; in f 1 \"x\"",
  "let f = a: b: a < b; in [ (f \"a\" \"b\") (f [ 1 ] [ 1 2 ]) (f 1 2.5) ]",
  "let f = a: b: a < b; in f { } 1",
  "let f = a: b: a == b; in [ (f \"a\" \"a\") (f 1 1.0) (f [ 1 ] [ 1 ]) (f { a = 1; } { a = 1; }) (f null null) (f f f) ]",
  ...["&&", "||", "->"].map((op) => `let f = a: b: a ${op} b; in [ (f true true) (f true false) (f false true) (f false false) ]`),
  "let f = x: !x; in [ (f true) (f false) ]",
  "let f = x: !x; in f 1",
  "let f = x: x && true; in f 1",
  "let f = x: false || x; in f \"s\"",
  "let f = x: true -> x; in f null",
  // if, assert, select, let, calls
  "let f = x: if x then 1 else 2; in [ (f true) (f false) ]",
  "let f = x: if x then 1 else 2; in f 3",
  "let f = x: assert x > 1; x; in f 2",
  "let f = x: assert x == 1; x; in f 2",
  "let f = x: assert x; x; in f 3",
  "let f = s: s.a + s.b.c; in f { a = 1; b.c = 2; }",
  "let f = s: s.a; in f { a = 1; }",
  "let f = s: s.a; in f { b = 1; }",
  "let f = s: s.a; in f 1",
  "let f = s: s.a.b or 5; in [ (f { }) (f { a.b = 1; }) ]",
  "let f = x: let y = x + 1; z = y * 2; in y + z; in f 1",
  "let f = x: (let y = x + 1; in y * 2) + 1; in f 1",
  "let f = x: let a = b; b = x; in a; in f 3",
  "let g = a: b: c: a + b + c; f = x: g x 1 2; in f 3",
  "let f = x: builtins.elemAt x 1; in f [ 1 2 ]",
  "let f = x: builtins.foldl' (a: b: a + b) x [ 1 2 3 ]; in f 0",
  "let f = x: (y: y * 2) x; in f 4",
  "let f = x: x 1; in f 2",
  "let f = { a, b ? a + 1, ... }@args: [ a b (args ? c) ]; in f { a = 1; c = 3; }",
  "let f = { a }: a; in f { b = 1; }",
  "let f = x: with { y = x; }; y + 1; in f 1",
  "let f = x: \"${x}-${toString (x == \"a\")}\"; in f \"a\"",
  "let f = x: [ x ./. 1.5 \"s\" { inherit x; } (x: x) ]; in builtins.length (f 1)",
  "let f = x: builtins.length [ x x ]; in f 1",
  "let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 3000",
  "let f = x: __curPos.line; in f 1",
  "let f = x: throw \"boom ${toString x}\"; in f 1",
  "let f = x: builtins.tryEval (assert x; 1); in f false",
  // a second call of a lambda while one is running: directly, through a
  // thunk it forces, and through a builtin that calls back
  "let k = a: b: (if a == 0 then b else k b a) + a; in k 3 0",
  "let k = a: b: (if a == 0 then b else k b a) + a; in builtins.genList (i: k i (i + 1)) 4",
  "let f = x: if x == 0 then 0 else x + f y; y = f 0; in [ (f 2) y ]",
  "let f = x: g x + x; g = x: if x > 3 then 0 else f (h x); h = x: x + 1; in f 1",
  "let c = a: b: a < b; in builtins.sort c [ 5 1 4 2 3 ]",
  "let p = x: builtins.any (y: p2 y) [ x ] && x > 0; p2 = x: x < 10; in builtins.filter p [ 1 20 3 ]",
  "let f = x: builtins.foldl' (acc: e: acc + e * x) 0 (builtins.genList (i: f2 i) 5); f2 = i: if i > 2 then f 0 else i; in f 2",
];

function run(expr: string, flags: string[]): string {
  const r = evalIn(expr, flags);
  return `${r.code}\n${r.out}\n${r.err}`;
}

for (const e of exprs) {
  test(e.slice(0, 100), () => {
    for (const flags of [["--strict"], ["--strict", "--show-trace"]]) {
      setJitAt(0);
      const closures = run(e, flags);
      setJitAt(1);
      const jitted = run(e, flags);
      setJitAt(400);
      assert.equal(jitted, closures);
    }
  });
}
