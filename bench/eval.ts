// `tvix eval` and `tvix instantiate` (the built binary, dist/tvix) against
// `nix-instantiate` of the Nix 2.26 oracle (../shared/tools/nix-oracle) on the
// same inputs: a real package set (aux-core), the module system at scale,
// nixpkgs lib's tests and small workloads. Wall-clock runs of each side
// alternate (below), start-up included; peak RSS from GNU time. The oracle
// runs inside bubblewrap, which adds a few ms to its times.
// BENCH_ROUNDS=N runs, BENCH_ONLY=TEXT only the cases whose name has TEXT.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, sharedDir } from "../test/helpers";
import { ratioLine } from "./util";

const tvix = join(repoRoot, "dist", "tvix");
const oracle = join(sharedDir, "tools", "nix-oracle");
const haveOracle = existsSync(oracle) && existsSync("/opt/nix-oracle/usr/bin/nix");

if (!existsSync(tvix)) {
  console.log("dist/tvix missing: building it (node build.mjs)");
  const b = spawnSync(process.execPath, [join(repoRoot, "build.mjs")], { stdio: "inherit", cwd: repoRoot });
  if (b.status !== 0) process.exit(1);
} else {
  const newest = readdirSync(join(repoRoot, "eval"), { recursive: true })
    .map((f) => statSync(join(repoRoot, "eval", String(f))).mtimeMs)
    .reduce((a, b) => Math.max(a, b), 0);
  if (newest > statSync(tvix).mtimeMs) console.log("note: dist/tvix is older than eval/ sources (node build.mjs to rebuild)");
}
if (!haveOracle) console.log("Nix 2.26 oracle not installed (../shared/tools/install-nix-oracle.sh): only our numbers are printed");

const dir = mkdtempSync(join(tmpdir(), "tvix-bench-eval-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const auxCore = join(sharedDir, "corpora", "aux-core");
const nixpkgsLib = join(sharedDir, "corpora", "nixpkgs-lib", "lib");
// the instantiations write into a store of their own (warm after the first run, as Nix's)
const home = join(dir, "tvix-home");

// lib.evalModules over 6,000 small modules declaring 2,000 options: what
// every NixOS evaluation runs, at scale
const modules = file(
  "modules.nix",
  `let
  lib = import ${nixpkgsLib};
  inherit (lib) mkOption mkDefault mkAfter types;
  decl = i: { options."opt\${toString i}" = mkOption { type = types.listOf types.str; default = [ ]; description = "option \${toString i}"; }; };
  defs = j: { config."opt\${toString (lib.mod j 2000)}" = if lib.mod j 3 == 0 then mkDefault [ "d\${toString j}" ] else if lib.mod j 3 == 1 then mkAfter [ "a\${toString j}" ] else [ "v\${toString j}" ]; };
  result = lib.evalModules { modules = builtins.genList decl 2000 ++ builtins.genList defs 4000; };
in builtins.foldl' (acc: n: acc + builtins.length result.config.\${n}) 0 (builtins.attrNames result.config)
`,
);

interface Case {
  name: string;
  /** tvix's arguments, and nix-instantiate's (default: --eval and the same). */
  ours: string[];
  theirs?: string[];
  cwd?: string;
}
const evalCase = (name: string, args: string[], cwd?: string): Case => ({ name, ours: ["eval", ...args], theirs: ["--eval", ...args], cwd });
const auxDrvPaths = ["--strict", "--json", "-E", "builtins.mapAttrs (n: p: p.drvPath) (import ./packages.nix)"];
const cases: Case[] = [
  { name: "aux-core: instantiate 217 packages", ours: ["instantiate", "packages.nix"], theirs: ["packages.nix"], cwd: auxCore },
  { name: "aux-core: eval their drvPaths", ours: ["eval", ...auxDrvPaths], theirs: ["--eval", "--read-write-mode", ...auxDrvPaths], cwd: auxCore },
  evalCase("module system: 6,000 modules, 2,000 options", [modules]),
  evalCase("nixpkgs lib/tests/misc.nix --strict", ["--strict", join(nixpkgsLib, "tests", "misc.nix")]),
  evalCase("fib 27", [file("fib.nix", "let fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2); in fib 27")]),
  evalCase("attrset merge of 100k keys", [
    file(
      "merge.nix",
      `let
  mk = p: builtins.listToAttrs (builtins.genList (i: { name = "\${p}\${toString i}"; value = i; }) 100000);
  m = mk "k" // mk "j" // builtins.mapAttrs (n: v: v + 1) (mk "k");
in builtins.length (builtins.attrNames m) + m.k99999`,
    ),
  ]),
  evalCase("foldl' over 1M", [file("foldl.nix", "builtins.foldl' (acc: x: acc + x) 0 (builtins.genList (x: x) 1000000)")]),
  evalCase("string concatenation of 20k pieces", [file("concat.nix", `builtins.stringLength (builtins.foldl' (acc: i: acc + "piece\${toString i};") "" (builtins.genList (x: x) 20000))`)]),
  evalCase("100k replaceStrings + concatStringsSep", [
    file(
      "replace.nix",
      `builtins.stringLength (builtins.concatStringsSep "," (builtins.genList (i: builtins.replaceStrings [ "a" "-" "." ] [ "A" "_" "" ] "a-b.c-\${toString i}.a") 100000))`,
    ),
  ]),
];

interface Run {
  ms: number[];
  rssKb: number[];
  /** user + system CPU seconds (GNU time): steadier than wall time on a loaded machine */
  cpu: number[];
  out: string;
  ok: boolean;
  err: string;
}
const newRun = (): Run => ({ ms: [], rssKb: [], cpu: [], out: "", ok: true, err: "" });

// GNU time reports the peak RSS of the command (of its largest process: for
// the oracle, nix-instantiate inside bubblewrap)
const gnuTime = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;

function once(cmd: string, args: string[], cwd: string | undefined, into: Run): number {
  const argv = gnuTime ? [gnuTime, "-f", "%M %U %S", cmd, ...args] : [cmd, ...args];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", maxBuffer: 1 << 30, cwd, env: { ...process.env, TVIX_HOME: home } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let stderr = r.stderr;
  if (gnuTime) {
    const lines = stderr.trimEnd().split("\n");
    const [rss, user, sys] = lines.pop()!.split(" ").map(Number);
    into.rssKb.push(rss);
    into.cpu.push(user + sys);
    stderr = lines.join("\n");
  }
  if (r.status !== 0) {
    into.ok = false;
    into.err = stderr.slice(0, 300);
  }
  into.out = r.stdout;
  into.ms.push(ms);
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// Ours and Nix's runs alternate (the machine's load drifts: runs of one
// side in a row can land in a quiet or a busy stretch); the first run of
// each is a warm-up (caches). Printed: the best of ROUNDS runs of each, and
// the median of the ratios of the runs made side by side.
const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const only = process.env.BENCH_ONLY;
const rows: string[] = [];
for (const c of cases) {
  if (only && !c.name.includes(only)) continue;
  const theirsArgs = ["nix-instantiate", ...(c.theirs ?? c.ours)];
  const ours = newRun();
  const theirs = newRun();
  once(tvix, c.ours, c.cwd, newRun());
  if (haveOracle) once(oracle, theirsArgs, c.cwd, newRun());
  const pairs: number[] = [];
  const loads: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    loads.push(loadavg()[0]);
    const a = once(tvix, c.ours, c.cwd, ours);
    if (haveOracle) pairs.push(a / once(oracle, theirsArgs, c.cwd, theirs));
  }
  const load = median(loads).toFixed(1);
  const cpuRatio = haveOracle && ours.cpu.length && theirs.cpu.length ? (median(ours.cpu) / median(theirs.cpu)).toFixed(2) : "-";
  if (!ours.ok) console.log(`${c.name}: tvix failed: ${ours.err}`);
  const ob = Math.min(...ours.ms);
  const orss = ours.rssKb.length ? median(ours.rssKb) / 1024 : NaN;
  if (haveOracle) {
    if (!theirs.ok) console.log(`${c.name}: nix failed: ${theirs.err}`);
    const tb = Math.min(...theirs.ms);
    const trss = theirs.rssKb.length ? median(theirs.rssKb) / 1024 : NaN;
    const same = ours.out === theirs.out ? "" : `  OUTPUT DIFFERS (ours ${JSON.stringify(ours.out.slice(0, 60))}, nix ${JSON.stringify(theirs.out.slice(0, 60))})`;
    console.log(`${ratioLine(c.name, ob, tb)}; side by side: median ratio ${median(pairs).toFixed(2)}; CPU time ratio ${cpuRatio}; load ${load}; peak RSS ${orss.toFixed(0)} / ${trss.toFixed(0)} MB = ${(orss / trss).toFixed(2)}${same}`);
    rows.push(`| ${c.name} | ${ob.toFixed(0)} | ${tb.toFixed(0)} | ${(ob / tb).toFixed(2)} | ${median(pairs).toFixed(2)} | ${cpuRatio} | ${orss.toFixed(0)} | ${trss.toFixed(0)} | ${(orss / trss).toFixed(2)} | ${load} |`);
  } else {
    console.log(`${c.name}: ours ${ob.toFixed(0)} ms, peak RSS ${orss.toFixed(0)} MB`);
    rows.push(`| ${c.name} | ${ob.toFixed(0)} | - | - | - | - | ${orss.toFixed(0)} | - | - | ${load} |`);
  }
}
console.log(
  `\n| benchmark | tvix, best of ${ROUNDS} (ms) | Nix 2.26, best of ${ROUNDS} (ms) | ours/nix | median ratio side by side | CPU time ratio (medians) | tvix peak RSS (MB, median) | Nix peak RSS (MB) | RSS ours/nix | load (1 min, median) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n` + rows.join("\n"),
);
