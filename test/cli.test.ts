import { test } from "node:test";
import assert from "node:assert/strict";
import { runTvix } from "./helpers";
import { TVIX_VERSION } from "../core/version";

test("--version prints the version", () => {
  const r = runTvix(["--version"]);
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim(), TVIX_VERSION);
});

test("unknown command: one-line error, exit 1", () => {
  const r = runTvix(["frobnicate"]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^error: unknown command 'frobnicate'/);
  assert.ok(!/\n\s+at /.test(r.stderr), "no JS stack trace");
});

test("bad flag: one-line error, exit 1", () => {
  const r = runTvix(["--no-such-flag"]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^error: unknown option '--no-such-flag'/);
});
