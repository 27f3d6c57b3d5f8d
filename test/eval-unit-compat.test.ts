// Differences from C++ Nix 2.26 found by a larger corpus of language tests,
// as in-process cases through runEval (like eval-unit.test.ts): legacy
// `__overrides`, strings with NUL bytes, numbers at the edges of fromJSON
// and fromTOML, errors that must stay errors, scoping, indented strings,
// printing, positions and flake references. Every expected string was
// produced by the Nix 2.26 oracle (`../shared/tools/nix-oracle
// nix-instantiate --eval FLAGS -E EXPR`, in test/fixtures/eval/compat).
import { test } from "node:test";
import assert from "node:assert/strict";
import { evalIn, errorLine, looksLikeJsCrash } from "./fixtures/eval/harness";
import { COMPAT_DIR, compatCases } from "./fixtures/eval/compat-cases";

for (const c of compatCases) {
  const name = `${c.group}: ${c.expr.replace(/\n/g, "\\n")}${c.flags?.length ? "  [" + c.flags.join(" ") + "]" : ""}`;
  test(name, c.todo ? { todo: c.todo } : {}, () => {
    const r = evalIn(c.expr, c.flags ?? ["--strict"], COMPAT_DIR);
    if (c.out !== undefined) {
      assert.equal(r.err, c.stderr ?? "", "diagnostics");
      assert.equal(r.code, 0);
      assert.equal(r.out, c.out);
    } else {
      assert.equal(r.code, 1, `exit code (stdout ${JSON.stringify(r.out)})`);
      assert.equal(r.out, "");
      assert.ok(r.err.startsWith("error:"), `stderr starts with "error:": ${JSON.stringify(r.err)}`);
      assert.ok(!looksLikeJsCrash(r.err), `no JS stack trace or JS error class: ${r.err}`);
      const line = errorLine(r.err);
      if (c.err instanceof RegExp) assert.match(line, c.err);
      else assert.equal(line, c.err);
      for (const t of c.trace ?? []) assert.ok(r.err.includes(t), `trace has ${JSON.stringify(t)}: ${r.err}`);
    }
  });
}
