// tvix copy against real Nix 2.8: `nix copy` fills a binary cache, tvix copies
// it through file://, s3:// and a real nix-daemon, `nix copy` reads the result
// back into a fresh store with signature checks on; NARs stay byte-identical.
// Corrupt inputs fail clearly and leave the target unchanged.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, truncateSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { nix28, runTvix } from "./helpers";

const skip = nix28.skip;
const NIX_ENV = { NIX_CONFIG: "substituters =\nexperimental-features = nix-command\nsandbox = false\n" };
let work: string;
let roots: string[] = []; // [textWithRefs, inputAddressed]
let tree: string;
let pk: string;
let sk: string;
let cacheX: string;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, ...NIX_ENV, ...env }, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} failed:\n${r.stderr}`);
  return r.stdout.trim();
}

function dump(path: string, store?: string): Buffer {
  const args = store ? ["--store", store, "store", "dump-path", path] : ["store", "dump-path", path];
  const r = spawnSync("nix", args, { env: { ...process.env, ...NIX_ENV }, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout;
}

function tvix(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runTvix(args, { env: { ...NIX_ENV, ...env } });
}

function tvixOk(args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = tvix(args, env);
  assert.equal(r.status, 0, `tvix ${args.join(" ")} failed:\n${r.stderr}`);
  return r.stderr;
}

const closure = () => run("nix-store", ["-qR", ...roots]).split("\n").sort();
const narinfoCount = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".narinfo")).length : 0);

function assertSameNars(store: string) {
  for (const p of closure()) assert.ok(dump(p, store).equals(dump(p)), `NAR of ${p} differs in ${store}`);
}

before(() => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), "tvix-copy-nix-"));
  const tag = randomBytes(4).toString("hex");
  tree = join(work, "tree");
  mkdirSync(join(tree, "sub"), { recursive: true });
  writeFileSync(join(tree, "a"), `hello ${tag}\n`);
  writeFileSync(join(tree, "sub", "big"), randomBytes(300_000));
  writeFileSync(join(tree, "sub", "run.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  spawnSync("ln", ["-s", "a", join(tree, "link")]);
  run("nix-store", ["--add", tree]);
  const text = run("nix-instantiate", ["--eval", "--read-write-mode", "-E", `builtins.toFile "t-${tag}" "uses \${${tree}} \${builtins.toFile "u-${tag}" "x"}"`]).replace(/"/g, "");
  const ia = run("nix-build", ["--no-out-link", "-E",
    `derivation { name = "ia-${tag}"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" "echo \${${tree}} > $out"]; }`]);
  roots = [text, ia];
  run("nix-store", ["--generate-binary-cache-key", `test-${tag}`, join(work, "sk"), join(work, "pk")]);
  sk = join(work, "sk");
  pk = readFileSync(join(work, "pk"), "utf8").trim();
  cacheX = join(work, "X");
  run("nix", ["copy", "--to", `file://${cacheX}`, ...roots]);
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test("nix copy -> tvix copy file:// -> file:// (signing) -> nix copy into a fresh store", { skip }, () => {
  const Y = join(work, "Y");
  const out = tvixOk(["copy", "--from", `file://${cacheX}`, "--to", `file://${Y}?secret-key=${sk}&compression=zstd`, ...roots]);
  assert.match(out, /copied 4 paths/);
  assert.equal(narinfoCount(Y), 4);
  // a second run copies nothing
  assert.match(tvixOk(["copy", "--from", `file://${cacheX}`, "--to", `file://${Y}`, ...roots]), /copied 0 paths .* 4 already present/);
  // our signatures verify with our own check, and Nix accepts them
  tvixOk(["copy", "--from", `file://${Y}`, "--to", `file://${join(work, "Y2")}`, "--trusted-public-keys", pk, ...roots]);
  const fresh = join(work, "fresh");
  run("nix", ["copy", "--from", `file://${Y}`, "--store", fresh, "--option", "trusted-public-keys", pk, ...roots]);
  assertSameNars(fresh);
  // Nix really checks: a wrong key fails for the input-addressed path
  const other = join(work, "fresh-other");
  const r = spawnSync("nix", ["copy", "--from", `file://${Y}`, "--store", other, "--option", "trusted-public-keys", "other:" + Buffer.alloc(32).toString("base64"), roots[1]], { encoding: "utf8", env: { ...process.env, ...NIX_ENV } });
  assert.notEqual(r.status, 0);
});

test("file:// -> s3:// -> file:// through s3rver, then nix copy", { skip }, async () => {
  const require = createRequire(import.meta.url);
  const S3rver = require("s3rver");
  const dir = join(work, "s3rver");
  mkdirSync(dir);
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: dir, configureBuckets: [{ name: "nixcache", configs: [] }] });
  const addr: AddressInfo = await server.run();
  try {
    const s3 = `s3://nixcache/cache?endpoint=http://127.0.0.1:${addr.port}&region=us-east-1`;
    const env = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" };
    const runAsync = (args: string[]) =>
      new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "..", "cmd/main.ts"), ...args], { env: { ...process.env, ...NIX_ENV, ...env } });
        let stderr = "";
        c.stderr.on("data", (d) => (stderr += d));
        c.on("close", (status) => resolve({ status, stderr }));
      });
    let r = await runAsync(["copy", "--from", `file://${cacheX}`, "--to", `${s3}&secret-key=${sk}`, ...roots]);
    assert.equal(r.status, 0, r.stderr);
    const Z = join(work, "Z");
    r = await runAsync(["copy", "--from", `${s3}&trusted-public-keys=${encodeURIComponent(pk)}`, "--to", `file://${Z}?compression=xz`, "--all"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(narinfoCount(Z), 4);
    const fresh = join(work, "fresh-s3");
    run("nix", ["copy", "--from", `file://${Z}`, "--store", fresh, "--option", "trusted-public-keys", pk, ...roots]);
    assertSameNars(fresh);
  } finally {
    await server.close();
  }
});

test("file:// -> real nix-daemon (unix://) -> file://", { skip: skip || (process.getuid?.() !== 0 && "needs root to run nix-daemon") }, async () => {
  const sock = join(work, "daemon.sock");
  const root = join(work, "daemon-root");
  const daemon: ChildProcess = spawn("nix-daemon", ["--option", "store", root, "--option", "trusted-public-keys", pk], {
    env: { ...process.env, ...NIX_ENV, NIX_DAEMON_SOCKET_PATH: sock },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  daemon.stderr!.on("data", (d) => (log += d));
  try {
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(existsSync(sock), `nix-daemon did not start: ${log}`);
    const Y = join(work, "Y");
    if (narinfoCount(Y) === 0) tvixOk(["copy", "--from", `file://${cacheX}`, "--to", `file://${Y}?secret-key=${sk}`, ...roots]);
    const unix = `unix://${sock}`;
    tvixOk(["copy", "--from", `file://${Y}`, "--to", unix, ...roots]);
    for (const p of closure()) {
      const r = spawnSync("nix-store", ["--dump", p], { env: { ...process.env, ...NIX_ENV, NIX_REMOTE: unix }, maxBuffer: 1 << 28 });
      assert.equal(r.status, 0, r.stderr?.toString());
      assert.ok(r.stdout.equals(dump(p)), `daemon NAR of ${p} differs`);
    }
    const W = join(work, "W");
    tvixOk(["copy", "--from", unix, "--to", `file://${W}`, "--all"]);
    assert.equal(narinfoCount(W), 4);
    const fresh = join(work, "fresh-daemon");
    run("nix", ["copy", "--from", `file://${W}`, "--store", fresh, "--option", "trusted-public-keys", pk, ...roots]);
    assertSameNars(fresh);
  } finally {
    daemon.kill("SIGTERM");
  }
});

test("corrupt caches: bad NAR, truncated NAR, wrong signature, mismatched narinfo", { skip }, () => {
  const C = join(work, "C");
  tvixOk(["copy", "--from", `file://${cacheX}`, "--to", `file://${C}?compression=none&secret-key=${sk}`, ...roots]);
  const treePath = closure().find((p) => !roots.includes(p) && /-tree$/.test(p))!;
  const hp = treePath.slice(11, 43);
  const ni = readFileSync(join(C, `${hp}.narinfo`), "utf8");
  const narFile = join(C, /URL: (.*)/.exec(ni)![1]);
  const good = readFileSync(narFile);
  const fresh = (name: string) => join(work, name);
  const copyFails = (from: string, target: string, extra: string[], re: RegExp) => {
    const r = tvix(["copy", "--from", from, "--to", `file://${target}`, ...extra, treePath]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /    at /); // no JS stack
    assert.equal(narinfoCount(target), 0);
    assert.deepEqual(existsSync(join(target, "nar")) ? readdirSync(join(target, "nar")) : [], []);
  };
  // flipped byte in the NAR (FileHash removed so that the NAR hash check is what catches it)
  writeFileSync(join(C, `${hp}.narinfo`), ni.replace(/FileHash.*\n/, "").replace(/FileSize.*\n/, ""));
  const bad = Buffer.from(good);
  bad[bad.length - 100] ^= 1;
  writeFileSync(narFile, bad);
  copyFails(`file://${C}`, fresh("T1"), [], /hash mismatch/);
  // truncated NAR
  writeFileSync(narFile, good);
  truncateSync(narFile, good.length - 64);
  copyFails(`file://${C}`, fresh("T2"), [], /size mismatch|truncated/);
  writeFileSync(narFile, good);
  writeFileSync(join(C, `${hp}.narinfo`), ni);
  // wrong signature: the path is content-addressed, so drop the CA to force the signature check
  writeFileSync(join(C, `${hp}.narinfo`), ni.replace(/CA: .*\n/, "").replace(/Sig: test-[^:]*:/, "Sig: test-x:"));
  copyFails(`file://${C}`, fresh("T3"), ["--trusted-public-keys", pk], /lacks a signature by a trusted key/);
  copyFails(`file://${C}?trusted-public-keys=${encodeURIComponent(pk)}`, fresh("T3b"), [], /no valid signature by a trusted key/);
  // a narinfo for another path
  const other = closure().find((p) => p !== treePath)!;
  writeFileSync(join(C, `${hp}.narinfo`), readFileSync(join(C, `${other.slice(11, 43)}.narinfo`)));
  copyFails(`file://${C}`, fresh("T4"), [], /describes .* not the requested/);
  writeFileSync(join(C, `${hp}.narinfo`), ni);
  // and the intact cache still copies
  tvixOk(["copy", "--from", `file://${C}`, "--to", `file://${fresh("T5")}`, treePath]);
});
