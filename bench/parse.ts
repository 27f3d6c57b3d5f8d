// Scanner + parser speed on every .nix file of nixpkgs lib (the corpus
// `tvix eval lib/tests/misc.nix` reads). Reports:
//   - cold: one pass over all files in a fresh process (what a real run sees:
//     nothing is JIT-optimised yet), median of 5 processes;
//   - warm: best of 20 passes in each of those processes;
//   - against Nix: all files concatenated into one generated expression
//     `builtins.length [ (file1) (file2) ... ]`, run by `nix-instantiate
//     --eval` (parse + variable binding + a trivial eval) minus the time of
//     `builtins.length [ ]` (process start-up); ours is the parse of the same
//     generated file, cold and warm.
// The parser is bundled with esbuild as build.mjs does (dist/tvix runs that,
// not tsx's output); bench/scripts/parse-pass.ts is the measuring process.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { nixFiles } from "./scripts/parse-pass";

const here = dirname(fileURLToPath(import.meta.url));
const libDir = join(here, "..", "..", "shared", "corpora", "nixpkgs-lib", "lib");
const dir = mkdtempSync(join(tmpdir(), "tvix-bench-parse-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const bundle = join(dir, "parse-pass.mjs");
await build({
  entryPoints: [join(here, "scripts", "parse-pass.ts")],
  outfile: bundle,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  minifySyntax: true,
  logLevel: "warning",
});

/** ms: wall-clock time and CPU time (all threads: GC and JIT compilation count too). */
interface Run { cold: number; coldCpu: number; warm: number; warmCpu: number; errors: number }

function fresh(which: string, warmPasses: number): Run {
  const r = spawnSync(process.execPath, [bundle, which, String(warmPasses)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`parse-pass failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Run;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const mbps = (bytes: number, ms: number) => `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;

/** Cold: median over fresh processes; warm: best over all their passes. */
function measure(which: string): Run {
  const runs = Array.from({ length: 5 }, () => fresh(which, 20));
  return {
    cold: median(runs.map((r) => r.cold)),
    coldCpu: median(runs.map((r) => r.coldCpu)),
    warm: Math.min(...runs.map((r) => r.warm)),
    warmCpu: Math.min(...runs.map((r) => r.warmCpu)),
    errors: runs[0].errors,
  };
}

const files = nixFiles(libDir);
const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
const lib = measure(libDir);
console.log(`nixpkgs lib: ${files.length} files, ${(bytes / 1e6).toFixed(2)} MB${lib.errors ? ` (${lib.errors} parse errors)` : ""}`);
console.log(`  cold (first pass in a fresh process, median of 5): ${lib.cold.toFixed(1)} ms (${mbps(bytes, lib.cold)}), CPU ${lib.coldCpu.toFixed(1)} ms`);
console.log(`  warm (best of 20 passes x 5 processes):            ${lib.warm.toFixed(1)} ms (${mbps(bytes, lib.warm)}), CPU ${lib.warmCpu.toFixed(1)} ms`);

const oracle = join(here, "..", "..", "shared", "tools", "nix-oracle");
const nixes: [string, string[]][] = [];
if (existsSync(oracle) && existsSync("/opt/nix-oracle/usr/bin/nix")) nixes.push(["nix-instantiate 2.26", [oracle, "nix-instantiate"]]);
if (existsSync("/usr/bin/nix-instantiate")) nixes.push(["nix-instantiate 2.8", ["/usr/bin/nix-instantiate"]]);
if (nixes.length === 0) {
  console.log("no nix-instantiate installed: no comparison with Nix");
  process.exit(0);
}

const big = join(dir, "all.nix");
// "\n" before ")": a file may end in a # comment without a newline
writeFileSync(big, `builtins.length [\n${files.map((f) => `(${readFileSync(f, "utf8")}\n)`).join("\n")}\n]\n`);
const empty = join(dir, "empty.nix");
writeFileSync(empty, "builtins.length [ ]\n");
const bigBytes = statSync(big).size;

function bestOf5(argv: string[]): number {
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr.slice(0, 300)}`);
    best = Math.min(best, ms);
  }
  return best;
}

const ours = measure(big);
console.log(`generated all.nix (${(bigBytes / 1e6).toFixed(2)} MB): ours cold ${ours.cold.toFixed(1)} ms, warm ${ours.warm.toFixed(1)} ms`);
for (const [name, argv] of nixes) {
  const full = bestOf5([...argv, "--eval", big]);
  const base = bestOf5([...argv, "--eval", empty]);
  const theirs = Math.max(full - base, 0.1);
  console.log(
    `  ${name} --eval: ${full.toFixed(0)} ms - ${base.toFixed(0)} ms start-up = ${theirs.toFixed(1)} ms (${mbps(bigBytes, theirs)}); ` +
      `ours/theirs cold ${(ours.cold / theirs).toFixed(2)}, warm ${(ours.warm / theirs).toFixed(2)}`,
  );
}
