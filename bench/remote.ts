// Remote builds over ssh-ng:// on loopback (sshd on two ports stands for two
// machines, each running `tvix store daemon --stdio` on a store of its own),
// fresh derivations each run (a random salt), in one run:
//   - the examples' 61-derivation graph: local (-j 2), on one machine
//     (2 jobs, -j 0), on two machines (1 job each, -j 0): the same number
//     of builds at once in each case;
//   - the same graph with nix-build (Nix 2.8): local, and on one machine
//     running nix-daemon --stdio (2 jobs), ratios ours/theirs;
//   - the overhead of remote build steps (copy inputs, BuildDerivation,
//     copy outputs back): one trivial derivation end to end (which includes
//     connecting), and each further step (20 trivial derivations with one
//     job, minus one, / 19, over connections we keep open), on one machine
//     minus here; likewise for Nix (which opens an ssh connection per step).
// All machines share this host's cores: two machines are not faster than
// one here; what differs is the cost of the protocol and the copies.
// Ours is dist/tvix when built (node build.mjs), else the sources through tsx.
import { existsSync, mkdirSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { buildBenchSetup, have, ratioLine, timeShell } from "./util";
import { sshSkip, startMachine, writeSshConfig, nixRemoteProgram, type SshMachine } from "../test/ssh-harness";

const skip = sshSkip() || (!have("nix-build") && "nix-build not installed") || (["/bin/busybox", "/bin/bash-static"].some((p) => !existsSync(p)) && "/bin/busybox and /bin/bash-static are needed");
if (skip) {
  console.log(`skipping the remote-build benchmark: ${skip}`);
  process.exit(0);
}
const { root, examples, dist, built, tvix, work } = buildBenchSetup("remote");

const program = join(work, "tvix-remote");
writeFileSync(program, built ? `#!/bin/sh\nexec ${dist} "$@"\n` : `#!/bin/sh\ncd ${root} && exec ${process.execPath} --import tsx cmd/main.ts "$@"\n`);
chmodSync(program, 0o755);

const machines: SshMachine[] = [];
for (const name of ["m1", "m2"]) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "tvix.conf"), `real-store-dir = ${join(dir, "real-store")}\n`);
  machines.push(await startMachine(work, name, { TVIX_HOME: join(dir, "home"), TVIX_CONF_DIR: dir }));
}
const nixMachine = await startMachine(work, "nix-machine", {});
machines.push(nixMachine);
process.env.NIX_SSHOPTS = writeSshConfig(work, machines);

try {
  const uri = (m: string) => `ssh-ng://${m}?remote-program=${encodeURIComponent(`${program} store daemon`)}`;
  const nixUri = `ssh-ng://nix-machine?remote-program=${encodeURIComponent(nixRemoteProgram(work))}&remote-store=${encodeURIComponent(`local?root=${join(work, "nix-machine", "root")}`)}`;
  const home = join(work, "home");
  const ours = (args: string) => `TVIX_HOME=${home} TVIX_CONF_DIR=/nonexistent ${tvix} build ${args} --option real-store-dir ${work}/store --no-out-link --cores 1 >/dev/null 2>${work}/ours.err`;
  const theirs = (args: string) => `nix-build ${args} --no-out-link --cores 1 >/dev/null 2>${work}/theirs.err`;
  let n = 0;
  const salt = () => `bench-${process.pid}-${Date.now()}-${n++}`;
  const timed = (what: string, cmd: string): number | null => {
    const r = timeShell(cmd);
    if (!r.ok) {
      console.log(`${what}: failed (see ${work}/ours.err, ${work}/theirs.err)`);
      return null;
    }
    return r.ms;
  };
  const graph = (s: string) => `${examples} -A graph --argstr salt ${s}`;
  const oneRemote = `--builders '${uri("m1")} - - 2'`;
  const twoRemotes = `--builders '${uri("m1")} - - 1; ${uri("m2")} - - 1'`;

  // warm up: the bootstrap (tools) built here and present on every machine
  timeShell(ours(`${examples} -A tools`));
  timeShell(ours(`${graph("warm-1")} -j 0 ${twoRemotes}`));
  timeShell(theirs(`${examples} -A tools --option sandbox true`));
  timeShell(theirs(`${graph("warm-2")} -j 0 --builders '${nixUri} - - 2'`));

  const local = timed("graph, local", ours(`${graph(salt())} -j 2`));
  const one = timed("graph, one machine", ours(`${graph(salt())} -j 0 ${oneRemote}`));
  const two = timed("graph, two machines", ours(`${graph(salt())} -j 0 ${twoRemotes}`));
  const nixLocal = timed("graph, nix-build local", theirs(`${graph(salt())} -j 2 --option sandbox true`));
  const nixOne = timed("graph, nix-build on one machine", theirs(`${graph(salt())} -j 0 --builders '${nixUri} - - 2'`));
  if (local && one && two) console.log(`61-derivation graph, ours: local -j 2 ${local.toFixed(0)} ms, one machine ${one.toFixed(0)} ms (${(one / local).toFixed(2)}x), two machines ${two.toFixed(0)} ms (${(two / local).toFixed(2)}x)`);
  if (local && nixLocal) console.log(ratioLine("61-derivation graph, local -j 2", local, nixLocal));
  if (one && nixOne) console.log(ratioLine("61-derivation graph, one ssh-ng machine (2 jobs)", one, nixOne));

  // one trivial build end to end, then 20: the difference / 19 is one more build step
  // (here; on a machine over a connection kept open), the single one includes connecting
  const trivials = (count: number) => (s: string) => `-E 'let b = import ${examples}/bootstrap.nix {}; in builtins.genList (i: b.mkDerivation { name = "t-\${toString i}"; salt = "${s}"; buildCommand = "echo $salt > $out"; }) ${count}'`;
  const steps = (what: string, run: (args: string) => string, extra: string) => {
    const one = timed(`1 trivial, ${what}`, run(`${trivials(1)(salt())} ${extra}`));
    const twenty = timed(`20 trivial, ${what}`, run(`${trivials(20)(salt())} ${extra}`));
    return one && twenty ? { one, step: (twenty - one) / 19 } : null;
  };
  const oLocal = steps("local", ours, "-j 1");
  const oRemote = steps("one machine", ours, `-j 0 --builders '${uri("m1")} - - 1'`);
  const tLocal = steps("nix-build local", theirs, "-j 1 --option sandbox true");
  const tRemote = steps("nix-build on one machine", theirs, `-j 0 --builders '${nixUri} - - 1'`);
  if (oLocal && oRemote && tLocal && tRemote) {
    console.log(ratioLine("one trivial build on a machine, end to end (connecting included), minus here", oRemote.one - oLocal.one, tRemote.one - tLocal.one));
    console.log(ratioLine("each further build step on a machine (20 trivial builds, one job), minus here", oRemote.step - oLocal.step, tRemote.step - tLocal.step));
    console.log(`  (a build step here: ours ${oLocal.step.toFixed(0)} ms, theirs ${tLocal.step.toFixed(0)} ms)`);
  }
} finally {
  for (const m of machines) await m.stop();
}
