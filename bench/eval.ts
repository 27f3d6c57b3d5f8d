// `tvix eval` (the built binary, dist/tvix) against `nix-instantiate --eval`
// of the Nix 2.26 oracle (../shared/tools/nix-oracle) on the same
// expressions; wall-clock runs of each side alternating (below), start-up
// included. The oracle runs inside bubblewrap, which adds a few ms to its
// times.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
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

interface Case {
  name: string;
  args: string[];
}
const cases: Case[] = [
  { name: "nixpkgs lib/tests/misc.nix --strict", args: ["--strict", join(sharedDir, "corpora", "nixpkgs-lib", "lib", "tests", "misc.nix")] },
  { name: "fib 27", args: [file("fib.nix", "let fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2); in fib 27")] },
  {
    name: "attrset merge of 100k keys",
    args: [
      file(
        "merge.nix",
        `let
  mk = p: builtins.listToAttrs (builtins.genList (i: { name = "\${p}\${toString i}"; value = i; }) 100000);
  m = mk "k" // mk "j" // builtins.mapAttrs (n: v: v + 1) (mk "k");
in builtins.length (builtins.attrNames m) + m.k99999`,
      ),
    ],
  },
  { name: "foldl' over 1M", args: [file("foldl.nix", "builtins.foldl' (acc: x: acc + x) 0 (builtins.genList (x: x) 1000000)")] },
  {
    name: "string concatenation of 20k pieces",
    args: [file("concat.nix", `builtins.stringLength (builtins.foldl' (acc: i: acc + "piece\${toString i};") "" (builtins.genList (x: x) 20000))`)],
  },
];

interface Run {
  ms: number[];
  out: string;
  ok: boolean;
  err: string;
}

function once(cmd: string, args: string[], into: Run): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    into.ok = false;
    into.err = r.stderr.slice(0, 300);
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
const rows: string[] = [];
for (const c of cases) {
  const ours: Run = { ms: [], out: "", ok: true, err: "" };
  const theirs: Run = { ms: [], out: "", ok: true, err: "" };
  once(tvix, ["eval", ...c.args], { ms: [], out: "", ok: true, err: "" });
  if (haveOracle) once(oracle, ["nix-instantiate", "--eval", ...c.args], { ms: [], out: "", ok: true, err: "" });
  const pairs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const a = once(tvix, ["eval", ...c.args], ours);
    if (haveOracle) pairs.push(a / once(oracle, ["nix-instantiate", "--eval", ...c.args], theirs));
  }
  if (!ours.ok) console.log(`${c.name}: tvix failed: ${ours.err}`);
  const ob = Math.min(...ours.ms);
  if (haveOracle) {
    const tb = Math.min(...theirs.ms);
    const same = ours.out === theirs.out ? "" : `  OUTPUT DIFFERS (ours ${JSON.stringify(ours.out.slice(0, 60))}, nix ${JSON.stringify(theirs.out.slice(0, 60))})`;
    console.log(`${ratioLine(c.name, ob, tb)}; side by side: median ratio ${median(pairs).toFixed(2)}${same}`);
    rows.push(`| ${c.name} | ${ob.toFixed(0)} | ${tb.toFixed(0)} | ${(ob / tb).toFixed(2)} | ${median(pairs).toFixed(2)} |`);
  } else {
    console.log(`${c.name}: ours ${ob.toFixed(0)} ms`);
    rows.push(`| ${c.name} | ${ob.toFixed(0)} | - | - | - |`);
  }
}
console.log(
  `\n| benchmark | tvix eval, best of ${ROUNDS} (ms) | nix-instantiate 2.26, best of ${ROUNDS} (ms) | ours/nix | median ratio side by side |\n| --- | ---: | ---: | ---: | ---: |\n` + rows.join("\n"),
);
