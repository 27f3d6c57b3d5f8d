// Remote builds over ssh-ng://, on loopback: sshd on two ports stands for
// two machines (test/ssh-harness.ts), one running Nix 2.8's `nix-daemon
// --stdio`, the other `tvix store daemon --stdio`, each with its own store.
//   - tvix build dispatches the examples' graph to both (-j 0), outputs
//     identical to local builds;
//   - stock nix-build (Nix 2.8 and 2.26) dispatches to tvix store daemon;
//   - a machine vanishing mid-run: its builds go to the other one, nothing
//     invalid is registered anywhere.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { repoRoot, nix28, nix226, oracleScript } from "./helpers";
import { bwrapUnavailable } from "../builders/bwrap";
import { sshSkip, startMachine, writeSshConfig, tvixRemoteProgram, nixRemoteProgram, type SshMachine } from "./ssh-harness";
import "../stores/backends";
import { openStore } from "../stores/url";
import { verifyStore } from "../stores/verify";
import type { CastoreNixStore } from "../stores/castore-store";

const examples = join(repoRoot, "examples");
const missing = ["/bin/busybox", "/bin/bash-static"].filter((p) => !existsSync(p));
const skip = sshSkip() || (missing.length ? `missing ${missing.join(", ")}` : false) || (bwrapUnavailable() ?? false);

let work: string;
let sshOpts: string;
let tvixMachine: SshMachine;
let nixMachine: SshMachine;
let tvixMachine2: SshMachine;
let doomedMachine: SshMachine;
let tvixProgram: string;
const machines: SshMachine[] = [];

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), "tvix-remote-test-"));
  chmodSync(work, 0o755);
  tvixProgram = tvixRemoteProgram(work);
  tvixMachine = await startMachine(work, "tvix-machine", { TVIX_HOME: join(work, "tvix-machine", "home"), TVIX_CONF_DIR: join(work, "tvix-machine") });
  machines.push(tvixMachine);
  nixMachine = await startMachine(work, "nix-machine", {});
  machines.push(nixMachine);
  tvixMachine2 = await startMachine(work, "tvix-machine-2", { TVIX_HOME: join(work, "tvix-machine-2", "home"), TVIX_CONF_DIR: join(work, "tvix-machine-2") });
  machines.push(tvixMachine2);
  // the machine that vanishes mid-run (the other tests keep theirs)
  doomedMachine = await startMachine(work, "tvix-doomed", { TVIX_HOME: join(work, "tvix-doomed", "home"), TVIX_CONF_DIR: join(work, "tvix-doomed") });
  machines.push(doomedMachine);
  for (const m of [tvixMachine, tvixMachine2, doomedMachine]) require_conf(m);
  sshOpts = writeSshConfig(work, machines);
});

function require_conf(m: SshMachine): void {
  // the machine's builds write their outputs out under a directory of its own
  spawnSync("sh", ["-c", `printf 'real-store-dir = %s\\n' ${join(m.dir, "real-store")} > ${join(m.dir, "tvix.conf")}`]);
}

after(async () => {
  for (const m of machines) await m.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `tvix ARGS` from source with its own TVIX_HOME (async: the test keeps running meanwhile). */
function tvix(args: string[], home: string, onStderr?: (text: string) => void, env: Record<string, string> = {}): Promise<Run> {
  const full = args[0] === "build" ? [...args, "--option", "real-store-dir", join(home, "real-store"), "--no-out-link"] : args;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "cmd/main.ts"), ...full], {
      cwd: repoRoot,
      env: { ...process.env, TVIX_HOME: home, TVIX_CONF_DIR: "/nonexistent", CI: "1", NIX_SSHOPTS: sshOpts, ...env },
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c) => (stdout += c));
    p.stderr.on("data", (c) => {
      stderr += c;
      onStderr?.(stderr);
    });
    p.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

const tvixUri = (m: SshMachine) => `ssh-ng://${m.name}?remote-program=${encodeURIComponent(`${tvixProgram} store daemon`)}`;

/** Every path of a local store is intact and its references are valid. */
async function checkStore(url: string): Promise<number> {
  const s = (await openStore(url)) as CastoreNixStore;
  try {
    const r = await verifyStore(s, () => {});
    assert.deepEqual(r.problems, [], `${url}: ${r.problems.join("\n")}`);
    for await (const p of s.listPaths()) for (const ref of (await s.queryPathInfo(p))!.references) assert.ok(await s.queryPathInfo(ref), `${url}: '${p}' refers to '${ref}', which is not valid`);
    return r.paths;
  } finally {
    await s.close();
  }
}

test("tvix build -j 0 sends the examples' graph to two ssh-ng machines (nix-daemon 2.8 and tvix store daemon): all built remotely, on both, identical to local builds", { skip: skip || nix28.skip }, async (t) => {
  const home = join(work, "dispatcher");
  const nixRoot = join(work, "nix-machine", "root");
  // the Nix machine by its address, port and key in the URL, its host key from the machines line
  const nixUri = `ssh-ng://root@127.0.0.1:${nixMachine.port}?ssh-key=${encodeURIComponent(join(work, "client_key"))}&remote-program=${encodeURIComponent(nixRemoteProgram(work))}&remote-store=${encodeURIComponent(`local?root=${nixRoot}`)}`;
  const builders = [`${tvixUri(tvixMachine)} x86_64-linux - 2 1`, `${nixUri} x86_64-linux - 2 1 - - ${Buffer.from(nixMachine.hostKey).toString("base64")}`].join(" ; ");
  const t0 = Date.now();
  const r = await tvix(["build", examples, "-A", "graph", "-j", "0", "--builders", builders], home);
  assert.equal(r.status, 0, r.stderr);
  const t1 = Date.now();
  const planned = [...r.stderr.matchAll(/^ {2}(\/nix\/store\/\S+\.drv)$/gm)].map((m) => m[1]);
  assert.ok(planned.length >= 61, r.stderr);
  const started = [...r.stderr.matchAll(/^building '(\/nix\/store\/\S+\.drv)'(?: on '([^']+)')?\.\.\.$/gm)];
  assert.equal(new Set(started.map((m) => m[1])).size, planned.length, r.stderr); // a step handed over after a failure starts twice
  assert.ok(started.every((m) => m[2]), "every build ran remotely");
  const on = (prefix: string) => started.filter((m) => m[2].startsWith(prefix)).length;
  t.diagnostic(`${started.length} builds in ${t1 - t0} ms: ${on("ssh-ng://tvix-machine")} on tvix store daemon, ${on("ssh-ng://root@127.0.0.1")} on nix-daemon`);
  assert.ok(on("ssh-ng://tvix-machine") > 0 && on("ssh-ng://root@127.0.0.1") > 0, `both machines built: ${on("ssh-ng://tvix-machine")} and ${on("ssh-ng://root@127.0.0.1")}`);
  assert.match(r.stderr, /^copying path '\/nix\/store\/\S+-tools' from 'ssh-ng:\/\/(tvix-machine|root@127\.0\.0\.1:\d+)'\.\.\.$/m);

  // a local rebuild of every derivation gives the same NARs (--check compares them)
  const check = await tvix(["build", ...planned, "--check", "-j", "2"], home);
  assert.equal(check.status, 0, check.stderr);
  assert.equal((check.stderr.match(/^building '/gm) ?? []).length, planned.length, check.stderr);
  t.diagnostic(`local --check of all: ${Date.now() - t1} ms`);
  assert.equal(await checkStore(`local://${home}/store`) >= 62, true);
});

/** `nix-store -q --hash` of a path in a chroot store, through Nix 2.8 or the 2.26 oracle. */
function narHash(path: string, store: string, oracle = false): string {
  const args = ["--store", store, "-q", "--hash", path];
  const r = oracle ? spawnSync(oracleScript, ["nix-store", ...args], { encoding: "utf8" }) : spawnSync("nix-store", args, { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test("nix-build (Nix 2.8 and 2.26) -j 0 builds the examples on tvix store daemon --stdio over ssh-ng, outputs identical to nix-build's own", { skip: skip || nix28.skip }, async (t) => {
  const env = { ...process.env, NIX_CONFIG: "substituters =\n", NIX_SSHOPTS: sshOpts };
  // each dispatcher gets a fresh store on the machine (remote-store), so that everything is built there
  const builders = (store: string) => `${tvixUri(tvixMachine)}&remote-store=${encodeURIComponent(`local://${join(tvixMachine.dir, store)}?fsync=false`)} x86_64-linux`;

  // the reference: Nix 2.8's own sandboxed build
  const local = join(work, "nix-local");
  const ref = spawnSync("nix-build", [examples, "-A", "hello", "--store", local, "--option", "sandbox", "true", "--no-out-link"], { encoding: "utf8", env });
  assert.equal(ref.status, 0, ref.stderr);
  const out = ref.stdout.trim();

  const t0 = Date.now();
  const root28 = join(work, "nix28-dispatcher");
  const r = spawnSync("nix-build", [examples, "-A", "hello", "--store", root28, "-j", "0", "--builders", builders("store-28"), "--no-out-link"], { encoding: "utf8", env });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), out);
  assert.equal((r.stderr.match(/^building '\S+\.drv' on 'ssh-ng:\/\/tvix-machine/gm) ?? []).length, 3, r.stderr);
  assert.equal(narHash(out, root28), narHash(out, local));
  t.diagnostic(`Nix 2.8 dispatching hello (3 builds): ${Date.now() - t0} ms`);

  if (!nix226.available) {
    t.diagnostic(`Nix 2.26: skipped (${nix226.skip})`);
    return;
  }
  // the oracle has no ssh of its own: the host's runs there (its libraries are in the oracle's root)
  const bin = join(work, "oracle-bin");
  spawnSync("sh", ["-c", `mkdir -p ${bin} && cp /usr/bin/ssh ${bin}/ssh`]);
  const drv = spawnSync("nix-instantiate", [examples, "-A", "hello", "--store", root28], { encoding: "utf8", env }).stdout.trim();
  const closure = spawnSync("nix-store", ["--store", root28, "-qR", drv], { encoding: "utf8" }).stdout.trim().split("\n");
  const exported = join(work, "hello-drvs.export");
  assert.equal(spawnSync("sh", ["-c", `nix-store --store ${root28} --export ${closure.join(" ")} > ${exported}`]).status, 0);
  const root226 = join(work, "nix226-dispatcher");
  const imp = spawnSync("sh", ["-c", `${oracleScript} nix-store --store ${root226} --import < ${exported}`], { encoding: "utf8" });
  assert.equal(imp.status, 0, imp.stderr);
  const t1 = Date.now();
  const r2 = spawnSync(
    oracleScript,
    ["env", `PATH=${bin}:/usr/bin:/bin`, `NIX_SSHOPTS=${sshOpts}`, "nix-build", "--store", root226, drv, "-j", "0", "--option", "substituters", "", "--builders", builders("store-226"), "--no-out-link"],
    { encoding: "utf8" },
  );
  assert.equal(r2.status, 0, r2.stderr);
  assert.equal(r2.stdout.trim(), out);
  assert.equal((r2.stderr.match(/^building '\S+\.drv' on 'ssh-ng:\/\/tvix-machine/gm) ?? []).length, 3, r2.stderr);
  assert.equal(narHash(out, root226, true), narHash(out, local));
  t.diagnostic(`Nix 2.26 dispatching hello (3 builds): ${Date.now() - t1} ms`);
});

test("a machine vanishing mid-run (builders from NIX_CONFIG): its builds go to the other machine, the build completes, nothing invalid is registered anywhere", { skip }, async (t) => {
  const home = join(work, "vanish");
  const graph = `(import ${examples}/graph.nix { boot = import ${examples}/bootstrap.nix {}; width = 4; depth = 4; salt = "vanish-${process.pid}"; }).graph`;
  const builders = `${tvixUri(tvixMachine)} x86_64-linux - 2; ${tvixUri(doomedMachine)} x86_64-linux - 2`;
  let killedAt = -1;
  // the machines from the configuration (NIX_CONFIG), as a farm's users set them
  const r = await tvix(["build", "-E", graph, "-j", "0"], home, (err) => {
    // once the second machine has built something and is busy with more, it goes
    if (killedAt < 0 && /from 'ssh-ng:\/\/tvix-doomed'/.test(err) && (err.match(/on 'ssh-ng:\/\/tvix-doomed'/g) ?? []).length >= 3) {
      killedAt = err.length;
      doomedMachine.vanish();
    }
  }, { NIX_CONFIG: `builders = ${builders}\n` });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(killedAt > 0, `the machine was not killed:\n${r.stderr}`);
  const noticed = /^warning: cannot build '\/nix\/store\/\S+\.drv' on 'ssh-ng:\/\/tvix-doomed': /m.exec(r.stderr);
  assert.ok(noticed, r.stderr);
  // a build may start there between the kill and the first failed request (nothing tells of it sooner); none after
  const after = r.stderr.slice(noticed.index);
  assert.doesNotMatch(after, /^building '.*' on 'ssh-ng:\/\/tvix-doomed'/m, "no build goes to the vanished machine once it failed");
  assert.match(after, /^building '.*' on 'ssh-ng:\/\/tvix-machine'\.\.\.$/m);
  const started = (r.stderr.match(/^building '/gm) ?? []).length;
  t.diagnostic(r.stderr.split("\n").filter((l) => l.startsWith("warning")).join("\n"));
  t.diagnostic(`${started} build starts, ${(r.stderr.slice(0, killedAt).match(/on 'ssh-ng:\/\/tvix-doomed'/g) ?? []).length} on the vanished machine before it went`);
  // every store involved holds only intact paths with valid references
  assert.ok((await checkStore(`local://${home}/store`)) >= 18);
  await checkStore(`local://${join(tvixMachine.dir, "home", "store")}`);
  await checkStore(`local://${join(doomedMachine.dir, "home", "store")}`);
});

/** The `tvix store daemon` processes serving a machine's store. */
function daemonsServing(m: SshMachine): number[] {
  return processesWith("store\0daemon").filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`TVIX_HOME=${join(m.dir, "home")}`);
    } catch {
      return false;
    }
  });
}

test("an unreachable machine (builders = @FILE in tvix.conf): a clear error with -j 0; fallback builds here", { skip }, async () => {
  const home = join(work, "unreachable");
  const expr = `(import ${examples} { salt = "unreachable-${process.pid}"; }).trivial`;
  // the machine from $TVIX_HOME/tvix.conf, through a machines file (@FILE)
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, "machines"), "# one machine, never up\nssh-ng://127.0.0.1:1 x86_64-linux\n");
  writeFileSync(join(home, "tvix.conf"), `builders = @${join(home, "machines")}\n`);
  const r = await tvix(["build", "-E", expr, "-j", "0"], home);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^warning: cannot build '\/nix\/store\/\S+-tools\.drv' on 'ssh-ng:\/\/127\.0\.0\.1:1': cannot connect to 'ssh-ng:\/\/127\.0\.0\.1:1': ssh: connect to host 127\.0\.0\.1 port 1: Connection refused/m);
  assert.match(r.stderr, /error: cannot build '\/nix\/store\/\S+-tools\.drv': every machine that could has failed \(ssh-ng:\/\/127\.0\.0\.1:1: cannot connect[^)]*\), and local builds are off/);
  const f = await tvix(["build", "-E", expr, "-j", "0", "--option", "fallback", "true"], home);
  assert.equal(f.status, 0, f.stderr);
  assert.match(f.stderr, /^building '\/nix\/store\/\S+-trivial\.drv'\.\.\.$/m);
  await checkStore(`local://${home}/store`);
});

/** Pids of processes whose command line contains `text`. */
function processesWith(text: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").includes(text)) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

test("a build failing on a machine fails as here (the message, the log, no retry), and the other machine stops the build it was given", { skip }, async () => {
  const home = join(work, "failing");
  const marker = `abandoned-${process.pid}`;
  // the failing build (fixed-output, so it may reach loopback) waits until the slow one runs on its machine
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const server = createServer((_req, res) => void gate.then(() => res.end("go\n")));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  try {
    const failing = `b.mkDerivation { name = "failing"; outputHashMode = "flat"; outputHashAlgo = "sha256"; outputHash = "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="; buildCommand = "wget -q -O /dev/null http://127.0.0.1:${port}/; for i in $(seq 1 15); do echo line $i; done; exit 3"; }`;
    const expr = `let b = import ${examples}/bootstrap.nix {}; in [ (${failing}) (b.mkDerivation { name = "slow"; buildCommand = "echo ${marker}; sleep 60; mkdir $out"; }) ]`;
    let slowRan = false;
    const r = await tvix(["build", "-E", expr, "-j", "0", "-L", "--builders", `${tvixUri(tvixMachine)} - - 1; ${tvixUri(tvixMachine2)} - - 1`], home, (err) => {
      if (!slowRan && err.includes(`slow> ${marker}`)) {
        slowRan = true;
        release();
      }
    });
    assert.ok(slowRan, r.stderr);
    assert.equal(r.status, 1, r.stderr);
    const drv = /builder for '(\/nix\/store\/[0-9a-z]{32}-failing\.drv)' failed with exit code 3/.exec(r.stderr)?.[1];
    assert.ok(drv, r.stderr);
    assert.match(r.stderr, /^failing> line 15$/m);
    assert.doesNotMatch(r.stderr, /^warning: cannot build/m, "a failed build is not the machine's fault");
    const log = await tvix(["log", drv!], home);
    assert.equal(log.stdout, Array.from({ length: 15 }, (_, i) => `line ${i + 1}\n`).join(""));
    // the machine notices that the dispatcher went away and kills the slow build
    for (let i = 0; i < 100 && processesWith(marker).length > 0; i++) await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual(processesWith(marker), [], "the abandoned build still runs on its machine");
    // and its daemon ends with the ssh session (a --stdio daemon does not outlive its client)
    for (let i = 0; i < 300 && daemonsServing(tvixMachine2).length > 0; i++) await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual(daemonsServing(tvixMachine2), [], "the machine's daemon outlives the dispatcher");
  } finally {
    release();
    server.close();
  }
});
