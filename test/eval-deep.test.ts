// Deep recursion: `tvix eval` tries the main thread first and redoes the
// evaluation on a big-stack worker when that runs out of room (cmd/bigstack.ts), so Nix code recursing 100,000 frames deep, long folds
// and 10,000-deep source text must work (Nix 2.26 itself stops at
// max-call-depth = 10000 and at bison's parser stack of 10000).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTvix } from "./helpers";
import { parse, ParseError } from "../eval/parser";

const tmp = mkdtempSync(join(tmpdir(), "tvix-eval-deep-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

function tvixEval(args: string[]): { code: number | null; out: string; err: string } {
  const r = runTvix(["eval", ...args]);
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function evalFile(name: string, text: string, flags: string[] = []) {
  const f = join(tmp, name);
  writeFileSync(f, text);
  return tvixEval([...flags, f]);
}

// Several deep evaluations share one `tvix eval --strict` process (start-up
// from source costs ~2 s): a list of them, checked element by element.
const deepEvals: [string, string, string][] = [
  ["builtins.foldl' over 1,000,000 elements", "builtins.foldl' (acc: x: acc + x) 0 (builtins.genList (x: x) 1000000)", "499999500000"],
  ["100,000-deep non-tail recursion", "let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 100000", "100000"],
  [
    "100,000-deep recursion through list elements",
    "let xs = builtins.genList (x: 1) 100000; f = i: if i == builtins.length xs then 0 else builtins.elemAt xs i + f (i + 1); in f 0",
    "100000",
  ],
  ["a 100,000-deep chain of thunks forced at the end", "let f = n: acc: if n == 0 then acc else f (n - 1) (acc + 1); in f 100000 0", "100000"],
  ["a 10,000-deep nested list printed with --strict", "let f = n: if n == 0 then 1 else [ (f (n - 1)) ]; in f 10000", "[ ".repeat(10000) + "1" + " ]".repeat(10000)],
  ["a 10,000-deep nested attribute set printed with --strict", "let f = n: if n == 0 then 1 else { a = f (n - 1); }; in f 10000", "{ a = ".repeat(10000) + "1" + "; }".repeat(10000)],
];

test("deep evaluations (one tvix eval --strict process)", async (t) => {
  const r = tvixEval(["--strict", "-E", `[ ${deepEvals.map(([, e]) => `(${e})`).join(" ")} ]`]);
  assert.equal(r.err.slice(0, 500), "");
  let rest = r.out;
  assert.ok(rest.startsWith("[ "));
  rest = rest.slice(2);
  for (const [name, , want] of deepEvals) {
    await t.test(name, () => {
      assert.ok(rest.startsWith(want + " "), `${name}: got ${rest.slice(0, 100)}...`);
    });
    rest = rest.slice(want.length + 1);
  }
  assert.equal(rest, "]\n");
});

test("a 10,000-deep nested list as JSON", () => {
  const n = 10000;
  const r = tvixEval(["--strict", "--json", "-E", `let f = n: if n == 0 then 1 else [ (f (n - 1)) ]; in f ${n}`]);
  assert.equal(r.err, "");
  assert.ok(r.out === "[".repeat(n) + "1" + "]".repeat(n) + "\n", `unexpected output of ${r.out.length} chars`);
});

// The trial run on the main thread: when it runs out of stack or of its heap
// share, the big-stack worker redoes the evaluation, and what the trial
// already wrote (traces, the values of earlier -A paths) is not written twice.
test("a trial run out of stack is redone on the big-stack worker, each write made once", () => {
  const f = join(tmp, "trial.nix");
  writeFileSync(f, `{ a = builtins.trace "first" 1; b = builtins.trace "second" (let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 100000); }`);
  const r = runTvix(["eval", "-A", "a", "-A", "b", f], { env: { ...process.env, TVIX_DEBUG: "1" } });
  assert.equal(r.stdout, "1\n100000\n");
  assert.equal(r.stderr, "trace: first\ntrace: second\ntvix: evaluation needs more stack than a trial run on the main thread has; rerunning on the big-stack worker\n");
  assert.equal(r.status, 0);
});

test("a trace at every level of a recursion too deep for the trial run is printed once per level", () => {
  const r = runTvix(["eval", "-E", "let f = n: if n == 0 then 0 else builtins.trace n (1 + f (n - 1)); in f 20000"]);
  assert.equal(r.stdout, "20000\n");
  const want = Array.from({ length: 20000 }, (_, i) => `trace: ${20000 - i}\n`).join("");
  assert.ok(r.stderr === want, `stderr differs: ${r.stderr.split("\n").length - 1} lines, starting ${JSON.stringify(r.stderr.slice(0, 80))}`);
});

test("a trial run past its heap share is redone on the big-stack worker", () => {
  const expr = `builtins.trace "once" (builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) 100000))`;
  const r = runTvix(["eval", "-E", expr], { env: { ...process.env, TVIX_DEBUG: "1", TVIX_TRIAL_HEAP_MB: "1" } });
  assert.equal(r.stdout, "4999950000\n");
  assert.equal(r.stderr, "trace: once\ntvix: evaluation needs more heap than a trial run on the main thread has; rerunning on the big-stack worker\n");
  const worker = runTvix(["eval", "-E", expr], { env: { ...process.env, TVIX_EVAL_THREAD: "worker" } });
  assert.equal(worker.stdout, "4999950000\n");
  assert.equal(worker.stderr, "trace: once\n");
});

// toJSON (and derivation's __structuredAttrs, which uses it) and deepSeq
// descend as far as Nix 2.26's native stack lets them: toJSON converts 95,000
// nested lists and 90,000 nested sets, deepSeq goes through 80,000; 100,000
// nested sets and a cyclic set stop with Nix's error.
test("toJSON of 95,000 nested lists and of 90,000 nested sets, deepSeq of 80,000 nested sets", () => {
  const r = tvixEval([
    "--strict",
    "-E",
    "let lists = n: if n == 0 then [ ] else [ (lists (n - 1)) ]; sets = n: builtins.foldl' (tail: head: { inherit head tail; }) null (builtins.genList (x: x) n); in [ (builtins.stringLength (builtins.toJSON (lists 95000))) (builtins.stringLength (builtins.toJSON (sets 90000))) (builtins.deepSeq (sets 80000) true) ]",
  ]);
  assert.equal(r.err, "");
  assert.equal(r.out, "[ 190002 1968894 true ]\n");
});

test("deepSeq of 100,000 nested sets stops with Nix's stack overflow error", () => {
  const r = tvixEval(["--strict", "-E", "builtins.deepSeq (builtins.foldl' (tail: head: { inherit head tail; }) null (builtins.genList (x: x) 100000)) (abort \"not reached\")"]);
  assert.equal(r.err, "error: stack overflow (possible infinite recursion)\n");
  assert.equal(r.code, 1);
});

test("toJSON of a cyclic set stops with Nix's stack overflow error", () => {
  const r = tvixEval(["--strict", "-E", "let x = { a = [ x ]; }; in builtins.toJSON x"]);
  assert.equal(r.err, "error: stack overflow (possible infinite recursion)\n");
  assert.equal(r.code, 1);
});

test("a derivation with __structuredAttrs nested 100,000 deep stops with Nix's stack overflow error", () => {
  const r = evalFile(
    "structured-deep.nix",
    `derivation { name = "test"; system = "x86_64-linux"; builder = "/bin/sh"; __structuredAttrs = true;
      nested = builtins.foldl' (tail: head: { inherit head tail; }) null (builtins.genList (x: x) 100000); }`,
    ["--strict", "-A", "drvPath"],
  );
  assert.equal(r.err, "error: stack overflow (possible infinite recursion)\n");
  assert.equal(r.code, 1);
});

// (Unbounded recursion is not tested here: on the 1 GB worker stack it takes
// ~45 s to hit the overflow, where Nix stops at max-call-depth at once.)

// 10,000-deep source text: Nix 2.26 fails most of these with "memory exhausted"
// (bison's stack); the parser runs on the big-stack worker and must cope.
const N = 10000;
const deepSources: [string, string, string][] = [
  ["parentheses", "(".repeat(N) + "1" + ")".repeat(N), "1\n"],
  ["lists", "[".repeat(N) + "1" + "]".repeat(N), "(printed)"],
  ["attribute sets", "{a=".repeat(N) + "1" + ";}".repeat(N) + ".a".repeat(N), "1\n"],
  ["right-nested additions", "1 + (".repeat(N) + "1" + ")".repeat(N), `${N + 1}\n`],
  ["let", "let a = ".repeat(N) + "1" + "; in a".repeat(N), "1\n"],
  ["lambdas", "(x: ".repeat(N) + "x" + ")".repeat(N) + " 1".repeat(N), "1\n"],
  ["if", "if true then ".repeat(N) + "1" + " else 0".repeat(N), "1\n"],
  ["negations", "-".repeat(N) + "1", "1\n"],
  ["not", "!".repeat(N) + "true", "true\n"],
  ["string interpolation", '"${'.repeat(N) + '"x"' + '}"'.repeat(N), '"x"\n'],
  ["100,000 flat additions", Array(100000).fill("1").join(" + "), "100000\n"],
  ["100,000-element list", "builtins.length [ " + Array(100000).fill("1").join(" ") + " ]", "100000\n"],
];

test(`${N}-deep nested expressions in source text (tvix eval FILE)`, () => {
  // one file per shape, imported from one top-level file so that one process evaluates them all
  const top = deepSources.map((_, i) => {
    writeFileSync(join(tmp, `deep-${i}.nix`), deepSources[i][1]);
    return `(import ./deep-${i}.nix)`;
  });
  const r = evalFile("deep-all.nix", `[ ${top.join(" ")} ]`, ["--strict"]);
  assert.equal(r.err.slice(0, 500), "");
  const want = deepSources.map(([, , w]) => w.trim());
  // the list shape prints as a value, not as 1
  want[1] = "[ ".repeat(N) + "1" + " ]".repeat(N);
  assert.ok(r.out === `[ ${want.join(" ")} ]\n`, `unexpected output: ${r.out.slice(0, 200)}...`);
});

// parse() called directly on the main thread (a ~1 MB stack, as in the REPL
// helpers and in-process tools): deep input should be a ParseError, not a RangeError.
test("parse() on the main thread: 500-deep nesting parses", () => {
  const n = 500;
  for (const src of ["(".repeat(n) + "1" + ")".repeat(n), "[".repeat(n) + "1" + "]".repeat(n), "{a=".repeat(n) + "1" + ";}".repeat(n)]) parse(src, "", "/");
});

test(
  "parse() on the main thread: 10,000-deep nesting gives a value or a ParseError, never a RangeError",
  {},
  () => {
    for (const [name, src] of deepSources.slice(0, 10)) {
      try {
        parse(src, "", "/");
      } catch (e) {
        assert.ok(e instanceof ParseError, `${name}: ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
  },
);
