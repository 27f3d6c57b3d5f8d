// The program needs no compression tools: with PATH=/nonexistent it copies
// from xz-, zstd- and bzip2-compressed file:// binary caches and unpacks
// .tar.xz, .tar.zst, .tar.bz2 and .zip archives (fetchTarball). The caches
// and archives are made beforehand with the tools where they are installed
// (zstd compression and zip need none).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { runTvix } from "./helpers";
import { writeZip } from "./zip-writer";

const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
let work: string;
let tree: string;
let storePath: string;
let storeEnv: NodeJS.ProcessEnv;
const noTools = (extra: NodeJS.ProcessEnv = {}) => ({ PATH: "/nonexistent", XDG_CACHE_HOME: join(work, "cache"), ...extra });

function ok(args: string[], env: NodeJS.ProcessEnv = {}, what: "stdout" | "stderr" = "stdout"): string {
  const r = runTvix(args, { env });
  assert.equal(r.status, 0, `tvix ${args.join(" ")}: ${r.stderr}`);
  return r[what];
}

before(() => {
  work = mkdtempSync(join(tmpdir(), "tvix-selfcontained-"));
  tree = join(work, "src", "pkg");
  mkdirSync(join(tree, "sub"), { recursive: true });
  writeFileSync(join(tree, "a"), "hello\n");
  // compressible and incompressible parts, over one bzip2 block
  writeFileSync(join(tree, "sub", "text"), "the quick brown fox\n".repeat(60_000));
  writeFileSync(join(tree, "sub", "noise"), randomBytes(300_000));
  writeFileSync(join(tree, "sub", "run"), "#!/bin/sh\n");
  chmodSync(join(tree, "sub", "run"), 0o755);
  symlinkSync("a", join(tree, "link"));
  mkdirSync(join(tree, "emptydir"));
  storeEnv = { TVIX_STORE: `local://${join(work, "store")}` };
  storePath = ok(["store", "import", tree], storeEnv).trim();
});

after(() => rmSync(work, { recursive: true, force: true }));

for (const c of ["xz", "zstd", "bzip2"]) {
  const tool = c === "zstd" ? null : c; // zstd compresses in-process
  test(`copy from a ${c} file:// cache without any tools on PATH`, { skip: tool && !have(tool) ? `${tool} not installed (needed to make the cache)` : false }, () => {
    const cache = join(work, `cache-${c}`);
    ok(["copy", "--to", `file://${cache}?compression=${c}`, storePath], storeEnv);
    const out = join(work, `out-${c}`);
    const copied = ok(["copy", "--from", `file://${cache}`, "--to", `file://${out}?compression=none`, storePath], noTools(), "stderr");
    assert.match(copied, /copied 1 path/);
    const want = spawnSync(process.execPath, ["--import", "tsx", "cmd/main.ts", "store", "nar", storePath], { env: { ...process.env, ...storeEnv }, maxBuffer: 1 << 28 });
    const got = spawnSync(process.execPath, ["--import", "tsx", "cmd/main.ts", "store", "nar", "--store", `file://${out}`, storePath], { env: { ...process.env, ...noTools() }, maxBuffer: 1 << 28 });
    assert.equal(got.status, 0, got.stderr.toString());
    assert.ok(Buffer.compare(got.stdout, want.stdout) === 0, "the NAR read back differs");
  });
}

test("fetchTarball of .tar.xz, .tar.zst, .tar.bz2 and .zip without any tools on PATH", { skip: !have("tar") && "tar missing" }, () => {
  const src = join(work, "src");
  const archives: string[] = [];
  const tarball = (name: string, args: string[], tool: string | null) => {
    if (tool && !have(tool)) return;
    execFileSync("tar", ["-C", src, ...args, join(work, name), "pkg"]);
    archives.push(join(work, name));
  };
  tarball("p.tar", ["-cf"], null);
  tarball("p.tar.xz", ["-cJf"], "xz");
  tarball("p.tar.zst", ["--zstd", "-cf"], "zstd");
  tarball("p.tar.bz2", ["-cjf"], "bzip2");
  tarball("p.tar.gz", ["-czf"], null);
  writeZip(join(work, "p.zip"), src, "pkg");
  archives.push(join(work, "p.zip"));
  const expr = `map (f: builtins.fetchTarball "file://\${f}") [ ${archives.map((a) => JSON.stringify(a)).join(" ")} ]`;
  const out = ok(["eval", "--strict", "--json", "-E", expr], noTools());
  const paths: string[] = JSON.parse(out);
  assert.equal(paths.length, archives.length);
  // the same tree, however it was packed
  for (const [i, p] of paths.entries()) assert.equal(p, paths[0], `${archives[i]} unpacked differently`);
  // and it is the tree itself (the uncompressed tar's unpacking, as the store imported it)
  assert.equal(paths[0].slice(44), "source");
  const tvixTree = ok(["eval", "--json", "-E", `builtins.path { path = ${tree}; name = "source"; }`], noTools());
  assert.equal(JSON.parse(tvixTree), paths[0]);
});

test("writing an xz cache without the xz tool says what works without it", () => {
  const r = runTvix(["copy", "--to", `file://${join(work, "cache-xz-notool")}`, storePath], { env: { ...storeEnv, ...noTools() } });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /compressing with xz \(needs the xz tool; compression=zstd needs none\): 'xz' is not installed/);
  const z = runTvix(["copy", "--to", `file://${join(work, "cache-zstd-notool")}?compression=zstd`, storePath], { env: { ...storeEnv, ...noTools() } });
  assert.equal(z.status, 0, z.stderr);
});
