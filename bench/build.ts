// `tvix build` vs `nix-build` (Nix 2.8, --option sandbox true), fresh
// derivations each run (a random salt), in one run:
//   - the 61-derivation graph of examples/ with -j 2;
//   - one trivial derivation, end to end (evaluation, sandbox, registration);
//   - the sandbox's cost per build: 20 independent trivial derivations with
//     -j 1, minus one, divided by 19.
// Ours is dist/tvix when built (node build.mjs), else the sources through tsx.
import { existsSync } from "node:fs";
import { buildBenchSetup, have, ratioLine, timeShell } from "./util";

if (!have("nix-build") || !existsSync("/bin/busybox") || !existsSync("/bin/bash-static") || (process.getuid?.() ?? 1) !== 0) {
  console.log("nix-build, /bin/busybox, /bin/bash-static and root are needed: skipping the build benchmark");
  process.exit(0);
}
const { examples, tvix, work } = buildBenchSetup("build");
const env = `TVIX_HOME=${work}/home TVIX_CONF_DIR=/nonexistent`;
const ours = (args: string) => `${env} ${tvix} build ${args} --option real-store-dir ${work}/store --no-out-link --cores 1 >/dev/null 2>${work}/ours.err`;
const theirs = (args: string) => `nix-build --option sandbox true ${args} --no-out-link --cores 1 >/dev/null 2>${work}/theirs.err`;

let n = 0;
const salt = () => `bench-${process.pid}-${Date.now()}-${n++}`;
const run = (what: string, ourArgs: (s: string) => string, theirArgs: (s: string) => string, reps = 3) => {
  const o: number[] = [];
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const a = timeShell(ours(ourArgs(salt())));
    const b = timeShell(theirs(theirArgs(salt())));
    if (!a.ok || !b.ok) {
      console.log(`${what}: failed (ours ok: ${a.ok}, theirs ok: ${b.ok})`);
      return null;
    }
    o.push(a.ms);
    t.push(b.ms);
  }
  const med = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
  return { ours: med(o), theirs: med(t) };
};

// warm both stores: the bootstrap (tools) is built once and shared
timeShell(ours(`${examples} -A tools`));
timeShell(theirs(`${examples} -A tools`));

const graph = run("graph", (s) => `${examples} -A graph --argstr salt ${s} -j 2`, (s) => `${examples} -A graph --argstr salt ${s} -j 2`, 1);
if (graph) console.log(ratioLine("61-derivation graph, -j 2", graph.ours, graph.theirs));

const trivial = run("trivial", (s) => `${examples} -A trivial --argstr salt ${s}`, (s) => `${examples} -A trivial --argstr salt ${s}`, 5);
if (trivial) console.log(ratioLine("one trivial derivation, end to end", trivial.ours, trivial.theirs));

const many = (s: string) => `-E 'let b = import ${examples}/bootstrap.nix {}; in builtins.genList (i: b.mkDerivation { name = "t-\${toString i}"; salt = "${s}"; buildCommand = "echo $salt > $out"; }) 20' -j 1`;
const twenty = run("20 trivial", many, many, 1);
if (trivial && twenty) {
  const o = (twenty.ours - trivial.ours) / 19;
  const t = (twenty.theirs - trivial.theirs) / 19;
  console.log(ratioLine("sandbox cost per build (20 trivial builds, -j 1)", o, t));
}
