// Differences from C++ Nix 2.26 found by a larger corpus of language tests,
// as in-process cases through runEval (like eval-unit.test.ts): legacy
// `__overrides`, strings with NUL bytes, numbers at the edges of fromJSON
// and fromTOML, errors that must stay errors, scoping, indented strings,
// printing, positions and flake references. Every expected string was
// produced by the Nix 2.26 oracle (`../shared/tools/nix-oracle
// nix-instantiate --eval FLAGS -E EXPR`, in test/fixtures/eval/compat),
// except group "flakeref-ours": Nix aborts on an assertion there.
import { test } from "node:test";
import { evalIn, assertOutcome } from "./fixtures/eval/harness";
import { COMPAT_DIR, compatCases } from "./fixtures/eval/compat-cases";

for (const c of compatCases) {
  const name = `${c.group}: ${c.expr.replace(/\n/g, "\\n")}${c.flags?.length ? "  [" + c.flags.join(" ") + "]" : ""}`;
  test(name, c.todo ? { todo: c.todo } : {}, () => {
    assertOutcome(evalIn(c.expr, c.flags ?? ["--strict"], COMPAT_DIR), c);
  });
}
