// `tvix build -A hello` in examples/ writes hello's closure to /nix/store
// and ./result/bin/hello greets (here, not in build.test.ts: nix-build
// below writes the same paths, so the two must not run at once). Then,
// against Nix 2.8's own sandbox: every output of examples/ (hello, the
// 61-derivation graph, the environment probes) built by
// `nix-build --option sandbox true --cores 1` and by `tvix build` with
// bubblewrap and with runc has the same NAR hash. The fixed-output probe is
// built with a wrong hash on purpose: the "got" hashes are compared.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Hash } from "../core/hash";
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, readlinkSync, rmSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nix28, repoRoot } from "./helpers";
import { bwrapUnavailable } from "../builders/bwrap";
import { runcUnavailable } from "../builders/runc";

const examples = join(repoRoot, "examples");
const NIX_ENV = { ...process.env, NIX_CONFIG: "substituters =\n" };
const missing = ["/bin/busybox", "/bin/bash-static"].filter((p) => !existsSync(p));
const baseSkip = nix28.skip || (missing.length ? `missing ${missing.join(", ")}` : false) || ((process.getuid?.() ?? 1) !== 0 && "nix-build's sandbox needs root here");
const ATTRS = ["hello", "graph", "probes.sandbox", "probes.permissions", "probes.passAsFile", "probes.structuredAttrs", "probes.multipleOutputs", "probes.multipleOutputs.dev"];

function nixBuild(attrs: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync("nix-build", ["--option", "sandbox", "true", "--cores", "1", "-j", "2", "--no-out-link", ...attrs.flatMap((a) => ["-A", a])], {
    cwd: examples,
    encoding: "utf8",
    env: NIX_ENV,
    maxBuffer: 1 << 26,
  });
}

function tvix(args: string[], home: string | { home: string; cwd?: string }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const o = typeof home === "string" ? { home } : home;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "cmd/main.ts"), ...args], { cwd: o.cwd ?? examples, env: { ...process.env, TVIX_HOME: o.home, TVIX_CONF: "/dev/null" } });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c) => (stdout += c));
    p.stderr.on("data", (c) => (stderr += c));
    p.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

const storeWritable = (() => {
  try {
    accessSync("/nix/store", constants.W_OK);
    return true;
  } catch {
    return false;
  }
})();
const helloSkip = (missing.length ? `missing ${missing.join(", ")}` : false) || bwrapUnavailable() || (!storeWritable && "/nix/store is not writable") || false;

test("tvix build -A hello in examples/: ./result/bin/hello greets", { skip: helloSkip }, async () => {
  const home = mkdtempSync(join(tmpdir(), "tvix-hello-"));
  rmSync(join(examples, "result"), { force: true });
  try {
    const r = await tvix(["build", "-A", "hello"], { home, cwd: examples });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\/nix\/store\/[0-9a-z]{32}-hello-2\.12\.1\n$/);
    assert.equal(readlinkSync(join(examples, "result")), r.stdout.trim());
    const run = spawnSync(join(examples, "result", "bin", "hello"), [], { encoding: "utf8" });
    assert.equal(run.stdout, "Hello, world!\n");
    // already valid: nothing to do the second time
    const again = await tvix(["build", "-A", "hello", "--no-out-link"], { home, cwd: examples });
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /building/);
    assert.equal(again.stdout, r.stdout);
  } finally {
    rmSync(join(examples, "result"), { force: true });
    rmSync(home, { recursive: true, force: true });
  }
});

const gotHash = (stderr: string) => /got: {4}(sha256-\S+)/.exec(stderr)?.[1];

for (const sandbox of ["bwrap", "runc"] as const) {
  const skip = baseSkip || (sandbox === "bwrap" ? bwrapUnavailable() : runcUnavailable()) || false;
  test(`examples built with ${sandbox}: every NAR hash equals nix-build's`, { skip }, async () => {
    const built = nixBuild(ATTRS);
    assert.equal(built.status, 0, built.stderr);
    const work = mkdtempSync(join(tmpdir(), `tvix-oracle-${sandbox}-`));
    chmodSync(work, 0o755);
    try {
      const attrs = sandbox === "bwrap" ? [...ATTRS, "probes.stdio"] : ATTRS;
      const ours = await tvix(["build", ...attrs.flatMap((a) => ["-A", a]), "--sandbox", sandbox, "--cores", "1", "-j", "2", "--no-out-link", "--option", "real-store-dir", join(work, "store")], join(work, "home"));
      assert.equal(ours.status, 0, ours.stderr);
      const outs = ours.stdout.trim().split("\n");
      assert.equal(outs.length, attrs.length);
      const info = await tvix(["store", "path-info", "--json", "-r", ...outs], join(work, "home"));
      assert.equal(info.status, 0, info.stderr);
      // Nix 2.26's shape: path -> info, with SRI hashes; nix-store -q --hash gives nix32
      const paths = Object.entries(JSON.parse(info.stdout) as Record<string, { narHash: string }>)
        .map(([path, i]) => ({ path, narHash: Hash.parse(i.narHash).format("nix32", true) }))
        .filter((p) => !p.path.endsWith("-bash") && !p.path.endsWith("-busybox"));
      assert.ok(paths.length >= 70, `only ${paths.length} paths`);
      if (sandbox === "bwrap") assert.ok(nixBuild(["probes.stdio"]).status === 0);
      const theirs = spawnSync("nix-store", ["-q", "--hash", ...paths.map((p) => p.path)], { encoding: "utf8", env: NIX_ENV });
      assert.equal(theirs.status, 0, theirs.stderr);
      const differ = paths.filter((p, i) => theirs.stdout.split("\n")[i] !== p.narHash).map((p) => p.path);
      assert.deepEqual(differ, []);

      // the fixed-output probe: both fail with the same "got" hash
      const nixFod = spawnSync("nix-build", ["--option", "sandbox", "true", "--cores", "1", "--no-out-link", "-A", "probes.fixedOutput"], { cwd: examples, encoding: "utf8", env: NIX_ENV });
      const ourFod = await tvix(["build", "-A", "probes.fixedOutput", "--sandbox", sandbox, "--cores", "1", "--no-out-link", "--option", "real-store-dir", join(work, "store")], join(work, "home"));
      assert.equal(nixFod.status, 102, nixFod.stderr);
      assert.equal(ourFod.status, 102, ourFod.stderr);
      assert.ok(gotHash(nixFod.stderr));
      assert.equal(gotHash(ourFod.stderr), gotHash(nixFod.stderr));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
}

test("a .drv written by nix-instantiate builds (the .drv files and sources are imported from /nix/store)", { skip: baseSkip || bwrapUnavailable() || false }, async () => {
  const drv = spawnSync("nix-instantiate", ["-A", "hello-src"], { cwd: examples, encoding: "utf8", env: NIX_ENV });
  assert.equal(drv.status, 0, drv.stderr);
  const work = mkdtempSync(join(tmpdir(), "tvix-drv-"));
  chmodSync(work, 0o755);
  try {
    const r = await tvix(["build", drv.stdout.trim(), "--no-out-link", "--option", "real-store-dir", join(work, "store")], join(work, "home"));
    assert.equal(r.status, 0, r.stderr);
    const nix = nixBuild(["hello-src"]);
    assert.equal(r.stdout, nix.stdout);
    const info = await tvix(["store", "path-info", "--json", r.stdout.trim()], join(work, "home"));
    const hash = spawnSync("nix-store", ["-q", "--hash", r.stdout.trim()], { encoding: "utf8", env: NIX_ENV }).stdout.trim();
    assert.equal(Hash.parse((Object.values(JSON.parse(info.stdout))[0] as { narHash: string }).narHash).format("nix32", true), hash);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
