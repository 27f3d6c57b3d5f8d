// The binary's program cache (the chunks it unpacks and loads, build.mjs):
// only a directory of the user's own with mode 0700 is used, each file is
// checked against its sha256 before loading, and a copy that fails (planted,
// truncated, foreign, group-writable) is written anew instead of run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./helpers";

const binary = join(repoRoot, "dist", "tvix");
const skip = existsSync(binary) ? false : "dist/tvix not built (node build.mjs)";
const uid = process.getuid!();

function run(env: Record<string, string | undefined>) {
  const clean: Record<string, string | undefined> = { ...process.env, HOME: undefined, XDG_CACHE_HOME: undefined, ...env };
  for (const k of Object.keys(clean)) if (clean[k] === undefined) delete clean[k];
  return spawnSync(binary, ["eval", "-E", "1 + 1"], { encoding: "utf8", env: clean as NodeJS.ProcessEnv, timeout: 60_000 });
}

/** A good copy of this build's files (its app-<hash> directory), made in a scratch cache. */
function goodCopy(work: string): { name: string; dir: string } {
  const r = run({ XDG_CACHE_HOME: join(work, "good") });
  assert.equal(r.stdout, "2\n", r.stderr);
  const base = join(work, "good", "tvix-ts");
  const name = readdirSync(base).find((d) => d.startsWith("app-"))!;
  return { name, dir: join(base, name) };
}

// (code that runs however the core is compiled: wrapped as a module or not)
const plantedCore = (marker: string) => `process.getBuiltinModule("node:fs").writeFileSync(${JSON.stringify(marker)}, "planted code ran"); process.stdout.write("2\\n");`;

test("program cache: another user's $TMPDIR/tvix-ts-<uid> with planted code is not loaded (HOME and XDG_CACHE_HOME unset)", { skip: skip || (uid !== 0 && "needs root to plant a directory owned by another user") }, () => {
  const work = mkdtempSync(join(tmpdir(), "tvix-progcache-"));
  try {
    const good = goodCopy(work);
    const tmp = join(work, "tmp");
    const marker = join(work, "pwned");
    // both the shared name older builds used and this user's own name, made first by another user
    for (const shared of [join(tmp, "tvix-ts"), join(tmp, `tvix-ts-${uid}`)]) {
      mkdirSync(shared, { recursive: true });
      const planted = join(shared, good.name);
      cpSync(good.dir, planted, { recursive: true });
      writeFileSync(join(planted, "core.cjs"), plantedCore(marker));
      rmSync(join(planted, ".verified"));
      for (const p of [shared, planted, ...readdirSync(planted).map((f) => join(planted, f))]) chownSync(p, 65534, 65534);
      chmodSync(shared, 0o777);
    }
    const r = run({ TMPDIR: tmp });
    assert.equal(r.stdout, "2\n", r.stderr);
    assert.ok(!existsSync(marker), "the planted core ran");
    assert.match(r.stderr, /belongs to another user/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("program cache: a group/world-writable cache directory is made private and its copy rewritten, not run", { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), "tvix-progcache-"));
  try {
    const good = goodCopy(work);
    const base = join(work, "cache", "tvix-ts");
    mkdirSync(base, { recursive: true });
    const copy = join(base, good.name);
    cpSync(good.dir, copy, { recursive: true });
    const marker = join(work, "pwned");
    writeFileSync(join(copy, "core.cjs"), plantedCore(marker));
    chmodSync(base, 0o777);
    chmodSync(copy, 0o777);
    const r = run({ XDG_CACHE_HOME: join(work, "cache") });
    assert.equal(r.stdout, "2\n", r.stderr);
    assert.ok(!existsSync(marker), "the planted core ran");
    assert.equal(statSync(base).mode & 0o777, 0o700);
    assert.equal(statSync(copy).mode & 0o777, 0o700);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("program cache: a file changed in a private copy fails its hash and the copy is rewritten", { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), "tvix-progcache-"));
  try {
    const good = goodCopy(work);
    const marker = join(work, "pwned");
    writeFileSync(join(good.dir, "core.cjs"), plantedCore(marker));
    const r = run({ XDG_CACHE_HOME: join(work, "good") });
    assert.equal(r.stdout, "2\n", r.stderr);
    assert.ok(!existsSync(marker), "the changed core ran");
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("program cache: a truncated file is rebuilt, not a crash on every run", { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), "tvix-progcache-"));
  try {
    const good = goodCopy(work);
    for (const f of ["core.cjs", "ink.mjs"]) {
      const size = statSync(join(good.dir, f)).size;
      truncateSync(join(good.dir, f), Math.floor(size / 2));
      const r = run({ XDG_CACHE_HOME: join(work, "good") });
      assert.equal(r.stdout, "2\n", `${f}: ${r.stderr}`);
      assert.equal(statSync(join(good.dir, f)).size, size, `${f} rewritten`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
