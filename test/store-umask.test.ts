// Store directories and files get their modes explicitly, whatever the
// process umask (as Nix): at umask 000 nothing in the store, its var
// directories or a materialised output is group- or world-writable.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./helpers";

function runAtUmask000(args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync("sh", ["-c", 'umask 000 && exec "$@"', "sh", process.execPath, "--import", "tsx", join(repoRoot, "cmd/main.ts"), ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    cwd: repoRoot,
  });
  assert.equal(r.status, 0, `tvix ${args.join(" ")}:\n${r.stderr}`);
  return r.stdout;
}

/** Every directory and file below `root` (itself included) whose mode lets the group or others write. */
function writableByOthers(root: string): string[] {
  const bad: string[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const p = todo.pop()!;
    const st = lstatSync(p);
    if (st.isSymbolicLink()) continue;
    if (st.mode & 0o022) bad.push(`${p} ${(st.mode & 0o7777).toString(8)}`);
    if (st.isDirectory()) for (const n of readdirSync(p)) todo.push(join(p, n));
  }
  return bad;
}

test("at umask 000: store, var and materialised directories and files are not group/world-writable", () => {
  const work = mkdtempSync(join(tmpdir(), "tvix-umask-"));
  const tree = join(work, "tree");
  mkdirSync(join(tree, "sub"), { recursive: true });
  writeFileSync(join(tree, "sub", "a"), "payload\n");
  writeFileSync(join(tree, "run"), "#!/bin/sh\n", { mode: 0o755 });
  const env = { TVIX_HOME: join(work, "home"), NIX_CONFIG: "" };
  const path = runAtUmask000(["store", "import", tree], env).trim();
  const out = join(work, "out", "nix", "store");
  runAtUmask000(["store", "materialise", "--to", out, path], env);
  runAtUmask000(["store", "gc", "--print-live"], env); // makes the var directories (gc roots, temp roots)
  assert.deepEqual(writableByOthers(join(work, "home")), []);
  assert.deepEqual(writableByOthers(join(work, "out")), []);
  const mat = join(out, path.slice(path.lastIndexOf("/") + 1));
  assert.equal(lstatSync(mat).mode & 0o777, 0o555);
  assert.equal(lstatSync(join(mat, "sub", "a")).mode & 0o777, 0o444);
  assert.equal(lstatSync(join(mat, "run")).mode & 0o777, 0o555);
});
