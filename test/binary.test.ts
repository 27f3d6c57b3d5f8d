// The packaged binary (dist/tvix, see docs/packaging.md) on the paths that
// differ from running the sources: the CommonJS core run from its V8 code
// cache, the ES module chunks it imports (ink, the S3 backend), and the
// big-stack worker it starts. Each runs in a fresh cache directory, twice:
// once making the code cache, once using it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./helpers";

const binary = join(repoRoot, "dist", "tvix");
const skip = existsSync(binary) ? false : "dist/tvix not built (node build.mjs)";

function tvix(args: string[], env: Record<string, string>, input?: string) {
  return spawnSync(binary, args, { encoding: "utf8", env: { ...process.env, ...env }, input, timeout: 120_000 });
}

test("the binary runs from a fresh cache directory and from its code cache", { skip }, () => {
  const home = mkdtempSync(join(tmpdir(), "tvix-bin-"));
  const env = { XDG_CACHE_HOME: join(home, "cache"), TVIX_HOME: join(home, "store") };
  try {
    for (const round of ["making the code cache", "from the code cache"]) {
      const r = tvix(["eval", "-E", "builtins.foldl' (a: x: a + x) 0 (builtins.genList (x: x) 1000)"], env);
      assert.equal(r.stdout, "499500\n", `${round}: ${r.stderr}`);
      const app = readdirSync(join(home, "cache", "tvix-ts")).find((d) => d.startsWith("app-"))!;
      assert.ok(existsSync(join(home, "cache", "tvix-ts", app, "core.cache")), `${round}: core.cache written`);
    }
    // deep recursion: the trial run gives up, the big-stack worker (the core as a CommonJS file) takes over
    const deep = tvix(["eval", "-E", "let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 100000"], env);
    assert.equal(deep.stdout, "100000\n", deep.stderr);
    // the REPL runs on the worker too
    const repl = tvix(["repl"], env, "x = 20\nx + 1\n");
    assert.match(repl.stdout, /21/, repl.stderr);
    // a store command, and copy, which imports its progress module
    const src = join(home, "src");
    writeFileSync(src, "hello\n");
    const imp = tvix(["store", "import", src], env);
    assert.equal(imp.status, 0, imp.stderr);
    const path = imp.stdout.trim().split("\n").pop()!;
    assert.match(path, /^\/nix\/store\/[0-9a-z]{32}-src$/);
    const copy = tvix(["copy", "--to", `file://${join(home, "bc")}`, path], env);
    assert.equal(copy.status, 0, copy.stderr);
    assert.ok(readdirSync(join(home, "bc")).some((f) => f.endsWith(".narinfo")));
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test("the binary imports the ES module chunks (ink and React for the progress view, the S3 backend)", { skip }, () => {
  const home = mkdtempSync(join(tmpdir(), "tvix-bin-"));
  try {
    // s3:// to a server that is not there: the backend module loads, then its first request fails
    const r = tvix(["copy", "--to", "s3://bucket?endpoint=http://127.0.0.1:9&region=us-east-1", "/nix/store/00000000000000000000000000000000-x"], {
      XDG_CACHE_HOME: join(home, "cache"),
      TVIX_HOME: join(home, "store"),
      AWS_ACCESS_KEY_ID: "x",
      AWS_SECRET_ACCESS_KEY: "x",
      AWS_MAX_ATTEMPTS: "1",
    });
    assert.match(r.stderr, /error: S3 GET s3:\/\/bucket\/nix-cache-info: connect ECONNREFUSED/, r.stderr);
    assert.equal(r.status, 1);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
