// The configuration as the CLI loads it: $TVIX_HOME/tvix.conf, NIX_CONFIG, --option.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTvix } from "./helpers";

const home = mkdtempSync(join(tmpdir(), "tvix-config-"));
const env = { TVIX_HOME: home, NIX_CONFIG: "", TVIX_STORE: "" };

test("config: tvix.conf, then NIX_CONFIG, then --option", () => {
  writeFileSync(join(home, "tvix.conf"), "cores = 3\nmax-jobs = 2\nsubstituters = file:///a\n");
  let r = runTvix(["config", "show", "--json"], { env });
  assert.equal(r.status, 0, r.stderr);
  const all = JSON.parse(r.stdout);
  assert.equal(all.cores, "3");
  assert.equal(all["max-jobs"], "2");
  assert.equal(all.sandbox, "true"); // a default
  r = runTvix(["--option", "cores", "5", "config", "show", "cores"], { env: { ...env, NIX_CONFIG: "cores = 4\nextra-substituters = file:///b" } });
  assert.equal(r.stdout, "5\n");
  r = runTvix(["config", "show", "substituters"], { env: { ...env, NIX_CONFIG: "cores = 4\nextra-substituters = file:///b" } });
  assert.equal(r.stdout, "file:///a file:///b\n");
  r = runTvix(["config", "show"], { env: { ...env, NIX_CONFIG: "bogus = 1" } });
  assert.equal(r.status, 0);
  assert.match(r.stderr, /^warning: unknown setting 'bogus' \(NIX_CONFIG:1\)$/m);
  r = runTvix(["--option", "sandbox", "maybe", "config", "show"], { env });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^error: --option: invalid value 'maybe' for setting 'sandbox' \(true, false or relaxed\)$/m);
});

test("config: the store setting is the default store; --store and $TVIX_STORE come first", () => {
  const tree = join(home, "tree");
  mkdirSync(tree, { recursive: true });
  writeFileSync(join(tree, "f"), "x");
  const configured = join(home, "configured-store");
  writeFileSync(join(home, "tvix.conf"), `store = local://${configured}\n`);
  const r = runTvix(["store", "import", tree], { env: { TVIX_HOME: home, NIX_CONFIG: "" } });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(configured), "the configured store was not used");
  const other = join(home, "env-store");
  const r2 = runTvix(["store", "import", tree], { env: { TVIX_HOME: home, NIX_CONFIG: "", TVIX_STORE: `local://${other}` } });
  assert.equal(r2.status, 0, r2.stderr);
  assert.ok(existsSync(other), "$TVIX_STORE did not win over the setting");
});

test("config: evaluation settings reach the evaluator (max-call-depth)", () => {
  writeFileSync(join(home, "tvix.conf"), "max-call-depth = 50\n");
  const r = runTvix(["eval", "-E", "let f = n: if n == 0 then 0 else f (n - 1); in f 200"], { env });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /max-call-depth/);
  const ok = runTvix(["--option", "max-call-depth", "10000", "eval", "-E", "let f = n: if n == 0 then 0 else f (n - 1); in f 200"], { env });
  assert.equal(ok.stdout, "0\n");
});
