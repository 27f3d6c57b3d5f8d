// Differential test: the expressions in fixtures/eval/oracle-exprs.txt are
// evaluated with --strict by our evaluator (in-process, one by one) and by
// the Nix 2.26 oracle (all at once, as one list with separators, so the
// oracle starts only once). An element that differs is re-evaluated by the
// oracle on its own before it counts as a failure.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { nix226, repoRoot } from "./helpers";
import { errorLine, evalIn, evalOracle } from "./fixtures/eval/harness";

const FIX = join(repoRoot, "test", "fixtures", "eval");
const SEP = "@@tvix-oracle-separator@@";

interface Item {
  expr: string;
  todo?: string;
}

function loadItems(): Item[] {
  const items: Item[] = [];
  let todo: string | undefined;
  for (const line of readFileSync(join(FIX, "oracle-exprs.txt"), "utf8").split("\n")) {
    if (line.trim() === "") continue;
    const m = /^# todo: (.*)$/.exec(line);
    if (m) todo = m[1];
    else if (line.startsWith("#")) continue;
    else if (/^\s/.test(line) && items.length) items[items.length - 1].expr += "\n" + line;
    else {
      items.push({ expr: line, todo });
      todo = undefined;
    }
  }
  return items;
}

const items = loadItems();
/** The oracle's printed form of each item, from the batch (undefined where the batch failed). */
let batch: (string | undefined)[] = [];

before(() => {
  if (!nix226.available) return;
  const list = "[\n" + items.map((it) => `(${it.expr}\n)\n"${SEP}"\n`).join("") + "]";
  const r = evalOracle(list, ["--strict"], FIX);
  if (r.code !== 0) {
    // an element failed under --strict: every item asks the oracle on its own
    console.log(`# oracle batch failed, evaluating one by one: ${r.err.split("\n").filter((l) => l.includes("error:")).pop()}`);
    return;
  }
  const body = r.out.trim().replace(/^\[ /, "").replace(/ \]$/, "");
  const parts = body.split(` "${SEP}"`).map((p) => p.trim());
  parts.pop(); // after the last separator
  if (parts.length === items.length) batch = parts.map((p) => p + "\n");
});

test("the expression list is big enough", () => {
  assert.ok(items.length >= 80, `${items.length} expressions`);
});

for (const it of items) {
  const opts = !nix226.available ? { skip: nix226.skip as string } : it.todo ? { todo: it.todo } : {};
  test(it.expr.replace(/\n\s*/g, " ").slice(0, 120), opts, () => {
    const ours = evalIn(it.expr, ["--strict"], FIX);
    const idx = items.indexOf(it);
    if (batch[idx] !== undefined && ours.code === 0 && ours.out === batch[idx]) return;
    // differs from the batch (or no batch): ask the oracle about this expression alone
    const theirs = evalOracle(it.expr, ["--strict"], FIX);
    assert.equal(ours.code, theirs.code, `exit code; ours stderr: ${ours.err}; nix stderr: ${theirs.err}`);
    assert.equal(ours.out, theirs.out);
  });
}

// Without --strict: what is still a thunk prints as <CODE>, and --json stops
// at it with "cannot convert a thunk to JSON" (literals, paths included, are
// values, not thunks, in both).
const nonStrict: [string, string[]][] = [
  ["{ a = ./.; b = \"x${\"y\"}\"; c = 1.5; d = -1; e = \"p\"; f = [ 1 ]; g = ./a/${\"b\"}; }", []],
  ["{ a = 1; b = \"x\"; c = ./.; }", ["--json"]],
  ["{ a = 1; b = \"x\"; c = [ 1 2 ]; }", ["--json"]],
  ["[ (1 + 1) ]", ["--json"]],
  ["let x = 1 + 1; in builtins.seq x { a = x; }", ["--json"]],
  // lists of 32 and more elements made by genList and map start pending (eval/value.ts): what has been read prints
  ["let l = builtins.genList (x: x * 2) 40; in builtins.seq (builtins.elemAt l 3) l", []],
  ["let l = builtins.map (x: x + 1) (builtins.genList (x: x) 40); in builtins.seq (builtins.foldl' (a: x: x) 0 l) l", []],
  ["let l = builtins.genList (x: x) 40; in builtins.seq (builtins.length l) l", []],
  ["let l = builtins.genList (x: [ x ]) 40; in builtins.seq (builtins.elemAt l 39) l", []],
  ["let l = builtins.genList (x: x) 40; in builtins.seq (builtins.elemAt l 1) l", ["--json"]],
  // builtins' applications are "function application" values, other thunks "thunks"
  ["builtins.mapAttrs (n: v: v) { a = 1; }", ["--json"]],
  ["builtins.zipAttrsWith (n: vs: vs) [ { a = 1; } ]", ["--json"]],
  ["builtins.map (x: x) [ 1 ]", ["--json"]],
  ["builtins.genList (x: x) 2", ["--json"]],
];
for (const [expr, flags] of nonStrict) {
  test(`without --strict: ${flags.join(" ")} ${expr}`, !nix226.available ? { skip: nix226.skip as string } : {}, () => {
    const ours = evalIn(expr, flags, FIX);
    const theirs = evalOracle(expr, flags, FIX);
    assert.equal(ours.code, theirs.code, `ours: ${ours.err}`);
    if (theirs.code === 0) assert.equal(ours.out, theirs.out);
    else assert.equal(errorLine(ours.err), errorLine(theirs.err));
  });
}
