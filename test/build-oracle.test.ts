// Against Nix 2.8's own sandbox: every output of examples/ (hello, the
// 61-derivation graph, the environment probes) built by
// `nix-build --option sandbox true --cores 1` and by `tvix build` with
// bubblewrap and with runc has the same NAR hash. The fixed-output probe is
// built with a wrong hash on purpose: the "got" hashes are compared.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, chmodSync } from "node:fs";
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

function tvix(args: string[], home: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "cmd/main.ts"), ...args], { cwd: examples, env: { ...process.env, TVIX_HOME: home, TVIX_CONF: "/dev/null" } });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c) => (stdout += c));
    p.stderr.on("data", (c) => (stderr += c));
    p.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

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
      const paths = (JSON.parse(info.stdout) as { path: string; narHash: string }[]).filter((p) => !p.path.endsWith("-bash") && !p.path.endsWith("-busybox"));
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
