import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "./parser";

// found by fuzz/parser: every identifier of `x.a.a.a...` looked ahead to the end of the
// run of path characters for a '/', so a 16 KB attribute path took seconds (quadratic)
test("a long attribute path lexes in one pass", { timeout: 10_000 }, () => {
  const e = parse("x" + ".a".repeat(50_000), "/f.nix", "/");
  assert.equal(e.kind, "select");
  assert.equal((e as { path: unknown[] }).path.length, 50_000);
});

test("paths are still told from selections", () => {
  assert.equal(parse("a.b.c/d", "/f.nix", "/").kind, "path");
  assert.equal(parse("x.a.b", "/f.nix", "/").kind, "select");
  assert.equal(parse("x.a.b/c", "/f.nix", "/").kind, "path");
});
