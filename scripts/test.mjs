#!/usr/bin/env node
// Runs every *.test.ts under the source folders with node's test runner
// (TypeScript through tsx). Usage: node scripts/test.mjs [--no-typecheck] [PATH_SUBSTRING...]
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const roots = ["core", "eval", "glue", "stores", "builders", "daemon", "cmd", "test", "fuzz"];
const args = process.argv.slice(2);
const typecheck = !args.includes("--no-typecheck");
const filters = args.filter((a) => !a.startsWith("--"));

function walk(dir) {
  let out = [];
  let entries;
  try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return out; }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== "node_modules" && e.name !== "fixtures") out = out.concat(walk(p));
    else if (e.isFile() && e.name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

const files = roots.flatMap(walk).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (files.length === 0) { console.error("no test files matched"); process.exit(1); }

if (typecheck) {
  const tc = spawnSync("npx", ["tsc", "--noEmit", "-p", "."], { stdio: "inherit" });
  if (tc.status !== 0) { console.error("typecheck failed"); process.exit(1); }
}
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
