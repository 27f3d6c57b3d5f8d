// The one configuration as every command loads it: the system file
// ($TVIX_CONF_DIR/tvix.conf), $TVIX_HOME/tvix.conf, NIX_CONFIG, --option;
// seen alike by evaluation, builds and the daemon.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTvix } from "./helpers";

const home = mkdtempSync(join(tmpdir(), "tvix-config-"));
const sysdir = join(home, "etc");
mkdirSync(sysdir);
const env = { TVIX_HOME: home, NIX_CONFIG: "", TVIX_STORE: "", TVIX_CONF_DIR: sysdir };

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
  assert.match(r.stderr, /^warning: unknown setting 'bogus'$/m);
  r = runTvix(["--option", "sandbox", "maybe", "config", "show"], { env });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^error: --option: invalid value 'maybe' for setting 'sandbox' \(true, false, relaxed, bwrap or runc\)$/m);
});

test("config: the system file comes first; includes, booleans as Nix, sandbox = runc", () => {
  writeFileSync(join(sysdir, "tvix.conf"), "cores = 7\nkeep-going = yes\ninclude sys-more.conf\n!include missing.conf\n");
  writeFileSync(join(sysdir, "sys-more.conf"), "substituters = file:///sys\ntimeout = 9\n");
  writeFileSync(join(home, "tvix.conf"), "timeout = 10\nextra-substituters = file:///user\nsandbox = runc\n");
  const r = runTvix(["config", "show", "--json"], { env });
  assert.equal(r.status, 0, r.stderr);
  const all = JSON.parse(r.stdout);
  assert.equal(all.cores, "7");
  assert.equal(all["keep-going"], "true");
  assert.equal(all.timeout, "10");
  assert.equal(all.substituters, "file:///sys file:///user");
  assert.equal(all.sandbox, "true");
  assert.equal(all["sandbox-backend"], "runc");
  writeFileSync(join(sysdir, "tvix.conf"), "include nowhere.conf\n");
  const bad = runTvix(["config", "show"], { env });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /tvix\.conf:1: included file 'nowhere\.conf' does not exist/);
  writeFileSync(join(sysdir, "tvix.conf"), "");
});

test("config: a build sees the file, NIX_CONFIG over it, --option over both", () => {
  // real-store-dir under a regular file cannot be created: the error names the one in force
  writeFileSync(join(home, "afile"), "");
  const dir = (n: string) => join(home, "afile", n);
  writeFileSync(join(home, "tvix.conf"), `real-store-dir = ${dir("from-file")}\n`);
  const drv = "/nix/store/00000000000000000000000000000000-x.drv";
  const run = (args: string[], nixConfig = "") => runTvix([...args, "build", drv], { env: { ...env, NIX_CONFIG: nixConfig } });
  let r = run([]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /from-file/);
  r = run([], `real-store-dir = ${dir("from-env")}`);
  assert.match(r.stderr, /from-env/);
  r = run(["--option", "real-store-dir", dir("from-option")], `real-store-dir = ${dir("from-env")}`);
  assert.match(r.stderr, /from-option/);
  writeFileSync(join(home, "tvix.conf"), "sandbox = false\n");
  r = run([]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not implemented: building without a sandbox/);
});

test("config: the daemon sees the file, NIX_CONFIG over it, --option over both", { skip: process.getuid?.() !== 0 || spawnSync("nix-store", ["--version"]).status !== 0 ? "needs root and nix-store (Nix 2.8)" : false }, async () => {
  const { startTvixDaemon, client } = await import("./daemon-harness");
  const dhome = mkdtempSync(join(tmpdir(), "tvix-config-daemon-"));
  mkdirSync(join(dhome, "home"), { recursive: true });
  // allowed-users decides whether a root client may connect at all
  writeFileSync(join(dhome, "home", "tvix.conf"), "allowed-users = nobody\n");
  const connects = async (name: string, extra: string[], nixConfig: string) => {
    const d = await startTvixDaemon(join(dhome, name), extra, { TVIX_HOME: join(dhome, "home"), NIX_CONFIG: nixConfig, TVIX_CONF_DIR: sysdir });
    try {
      const r = client(d, "nix-store", ["-q", "--hash", "/nix/store/00000000000000000000000000000000-x"]);
      return !/not allowed|refused|disconnected|end of file|error: cannot/i.test(r.stderr) || /is not valid/.test(r.stderr);
    } finally {
      await d.stop();
    }
  };
  assert.equal(await connects("a", [], ""), false, "the file's allowed-users was not applied");
  assert.equal(await connects("b", [], "allowed-users = *"), true, "NIX_CONFIG did not override the file");
  assert.equal(await connects("c", ["--option", "allowed-users", "nobody"], "allowed-users = *"), false, "--option did not override NIX_CONFIG");
});

test("config: the store setting is the default store; --store and $TVIX_STORE come first", () => {
  const tree = join(home, "tree");
  mkdirSync(tree, { recursive: true });
  writeFileSync(join(tree, "f"), "x");
  const configured = join(home, "configured-store");
  writeFileSync(join(home, "tvix.conf"), `store = local://${configured}\n`);
  const r = runTvix(["store", "import", tree], { env: { TVIX_HOME: home, NIX_CONFIG: "", TVIX_CONF_DIR: sysdir } });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(configured), "the configured store was not used");
  const other = join(home, "env-store");
  const r2 = runTvix(["store", "import", tree], { env: { TVIX_HOME: home, NIX_CONFIG: "", TVIX_STORE: `local://${other}`, TVIX_CONF_DIR: sysdir } });
  assert.equal(r2.status, 0, r2.stderr);
  assert.ok(existsSync(other), "$TVIX_STORE did not win over the setting");
});

test("config: evaluation sees the file, NIX_CONFIG over it, --option over both (max-call-depth)", () => {
  writeFileSync(join(home, "tvix.conf"), "max-call-depth = 50\n");
  const expr = ["eval", "-E", "let f = n: if n == 0 then 0 else f (n - 1); in f 200"];
  const r = runTvix(expr, { env });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /max-call-depth/);
  const viaEnv = runTvix(expr, { env: { ...env, NIX_CONFIG: "max-call-depth = 10000" } });
  assert.equal(viaEnv.stdout, "0\n", viaEnv.stderr);
  const viaOption = runTvix(["--option", "max-call-depth", "50", ...expr], { env: { ...env, NIX_CONFIG: "max-call-depth = 10000" } });
  assert.match(viaOption.stderr, /max-call-depth/);
  const ok = runTvix(["--option", "max-call-depth", "10000", ...expr], { env });
  assert.equal(ok.stdout, "0\n");
});
