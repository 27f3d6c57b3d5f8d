#!/usr/bin/env node
// Runs the benchmarks under bench/ (all, or those named: `npm run bench -- core`).
// Benchmarks time us against real Nix on the same input and print ratios.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const names = process.argv.slice(2);
const all = readdirSync(join(root, "bench")).filter((f) => f.endsWith(".ts")).map((f) => f.slice(0, -3)).sort();
let failed = 0;
for (const b of names.length ? names : all) {
  if (!all.includes(b)) { console.error(`no benchmark bench/${b}.ts`); failed++; continue; }
  console.log(`\n== bench/${b}`);
  const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "bench", `${b}.ts`)], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
