// The sandboxes, run for real (bwrap, and runc as root) with Debian's static
// busybox as the only input: the environment a build sees, what it may not
// do, output collection (canonicalised, ingested, scanned), limits.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openMemoryStore } from "../stores/memory";
import type { CastoreNode } from "../stores/types";
import { BuildError, type BuildRequest, type BuildService } from "./build-request";
import { BwrapBuildService, bwrapUnavailable } from "./bwrap";
import { RuncBuildService, runcUnavailable } from "./runc";
import { defaultSystemFeatures, hostSystem, settleRemovals } from "./sandbox";
import { releaseSpawners } from "./spawner";

const BUSYBOX = "/bin/busybox";
const noBusybox = existsSync(BUSYBOX) ? null : "no /bin/busybox (apt-get install busybox-static)";
const bwrapSkip = noBusybox ?? bwrapUnavailable() ?? false;
const runcSkip = noBusybox ?? runcUnavailable() ?? false;

let work: string;
let toolsDir: string;
const TOOLS = "00000000000000000000000000000001-tools";
const BB = "00000000000000000000000000000002-busybox";
const OUT_HASH = "11111111111111111111111111111111";
const out = `/nix/store/${OUT_HASH}-out`;
const dirNode = { type: "directory", name: new Uint8Array(), digest: new Uint8Array(32), size: 0n } as CastoreNode;
const fileNode = { type: "file", name: new Uint8Array(), digest: new Uint8Array(32), size: 0n, executable: true } as CastoreNode;

before(() => {
  work = mkdtempSync(join(tmpdir(), "tvix-sandbox-test-"));
  chmodSync(work, 0o755); // the build user reaches the tools through it
  toolsDir = join(work, "tools");
  mkdirSync(toolsDir);
  const list = spawnSync(BUSYBOX, ["--list"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
  for (const a of list) symlinkSync(`/nix/store/${BB}`, join(toolsDir, a));
});
after(() => rmSync(work, { recursive: true, force: true }));

type Kind = "bwrap" | "bwrap-direct" | "runc";

function service(kind: Kind, scratch = join(work, "scratch")) {
  const store = openMemoryStore();
  const opts = {
    services: store,
    provideInput: async (i: { name: string }) => (i.name === TOOLS ? toolsDir : BUSYBOX),
    tmpDir: scratch,
  };
  return { store, svc: (kind === "runc" ? new RuncBuildService(opts) : new BwrapBuildService(opts)) as BuildService };
}

function request(script: string, extra: Partial<BuildRequest> = {}): BuildRequest {
  return {
    command: [`/nix/store/${TOOLS}/sh`, "-c", script],
    workingDir: "/build",
    env: [
      ["HOME", "/homeless-shelter"],
      ["PATH", `/nix/store/${TOOLS}`],
      ["out", out],
    ],
    inputs: [
      { name: BB, node: fileNode },
      { name: TOOLS, node: dirNode },
    ],
    inputsDir: "/nix/store",
    outputs: [out],
    scratchPaths: ["/build", "/nix/store", "/tmp"],
    additionalFiles: [],
    constraints: { system: hostSystem(), networkAccess: false, requiredFeatures: [], availableRoPaths: [] },
    refscanNeedles: [BB.slice(0, 32), TOOLS.slice(0, 32), OUT_HASH],
    ...extra,
  };
}

async function run(kind: Kind, script: string, extra: Partial<BuildRequest> = {}, limits = {}, scratch?: string) {
  const { svc } = service(kind, scratch);
  // bwrap-direct: bwrap spawned by Node itself rather than by the helper shell
  if (kind === "bwrap-direct") process.env.TVIX_BWRAP_SPAWN = "direct";
  else delete process.env.TVIX_BWRAP_SPAWN;
  let log = "";
  try {
    const r = await svc.build(request(script, extra), { onLog: (c) => (log += Buffer.from(c).toString()) }, limits);
    return { r, log };
  } catch (e) {
    if (e instanceof BuildError) e.message += `\n${log}`;
    throw e;
  }
}

for (const kind of ["bwrap", "bwrap-direct", "runc"] as const) {
  const skip = kind === "runc" ? runcSkip : bwrapSkip;

  test(`${kind}: the build sees Nix's environment`, { skip }, async () => {
    const { r } = await run(
      kind,
      [
        "d=$(pwd); mkdir $out; cd $out; echo $d > cwd",
        "env | sort > env; id > id; hostname > hostname; echo $$ > pid",
        "ls -a / > root; ls -a /dev > dev; ls -a /nix/store > store; ls -a /etc > etc; cat /etc/passwd /etc/group /etc/hosts > etc-files",
        "grep -E '^(Uid|Gid|Groups|CapEff|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status > status",
        "ip addr | grep -E '^[0-9]+:|inet' | sed 's/ *$//' > interfaces",
      ].join("\n"),
    );
    const f = (n: string) => readFileSync(join(r.outputs[0].hostPath, n), "utf8");
    assert.equal(f("env"), `HOME=/homeless-shelter\nOLDPWD=/build\nPATH=/nix/store/${TOOLS}\nPWD=${out}\nSHLVL=1\nout=${out}\n`);
    assert.equal(f("id"), "uid=1000(nixbld) gid=100(nixbld)\n");
    assert.equal(f("hostname"), "localhost\n");
    assert.equal(f("pid"), "1\n");
    assert.equal(f("cwd"), "/build\n");
    assert.equal(f("root"), ".\n..\nbuild\ndev\netc\nnix\nproc\ntmp\n");
    const kvm = defaultSystemFeatures().includes("kvm") ? "kvm\n" : "";
    assert.equal(f("dev"), `.\n..\nfd\nfull\n${kvm}null\nptmx\npts\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\n`);
    assert.equal(f("store"), [".", "..", BB, TOOLS, `${OUT_HASH}-out`].sort().join("\n") + "\n");
    assert.equal(f("etc"), ".\n..\ngroup\nhosts\npasswd\n");
    assert.match(f("etc-files"), /^root:x:0:0:Nix build user:\/build:\/noshell\nnixbld:x:1000:100:Nix build user:\/build:\/noshell\n/);
    assert.match(f("etc-files"), /127\.0\.0\.1 localhost\n::1 localhost\n$/);
    assert.equal(f("status"), "Uid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\nGroups:\t \nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n");
    assert.equal(f("interfaces"), "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000\n    inet 127.0.0.1/8 scope host lo\n    inet6 ::1/128 scope host\n");
    await r.release();
  });

  test(`${kind}: writes outside scratch space, setuid bits, host files and the network are refused`, { skip }, async () => {
    const { r } = await run(
      kind,
      [
        "mkdir $out",
        "try() { if ( eval \"$1\" ) 2>/dev/null; then echo \"$1: yes\"; else echo \"$1: no\"; fi; }",
        "{ try 'echo x > /build/f'; try 'echo x > /tmp/f'; try 'echo x > /f'; try 'echo x > /etc/f'; try 'echo x > /nix/store/" + TOOLS + "/f';",
        "try 'chmod u+s /build/f'; try 'chmod g+s /build/f'; try 'chmod 700 /build/f'; try 'cat /etc/shadow'; try 'ls " + work + "';",
        "try 'nc -z -w 1 1.1.1.1 53'; try 'hostname foo'; } > $out/results",
      ].join("\n"),
    );
    assert.equal(
      readFileSync(join(r.outputs[0].hostPath, "results"), "utf8"),
      [
        "echo x > /build/f: yes",
        "echo x > /tmp/f: yes",
        "echo x > /f: no",
        "echo x > /etc/f: no",
        `echo x > /nix/store/${TOOLS}/f: no`,
        "chmod u+s /build/f: no",
        "chmod g+s /build/f: no",
        "chmod 700 /build/f: yes",
        "cat /etc/shadow: no",
        `ls ${work}: no`,
        "nc -z -w 1 1.1.1.1 53: no",
        "hostname foo: no",
        "",
      ].join("\n"),
    );
    await r.release();
  });

  test(`${kind}: outputs are canonicalised, ingested and scanned for references`, { skip }, async () => {
    const { r } = await run(kind, `mkdir -p $out/sub; echo /nix/store/${TOOLS} > $out/sub/ref; ln -s $out/sub $out/self; echo hi > $out/x; chmod 777 $out/x; chmod 700 $out/sub`);
    const o = r.outputs[0];
    assert.deepEqual(o.needles, [1, 2]); // tools and the output itself, not busybox
    assert.equal(o.node.type, "directory");
    assert.match(o.narHash, /^sha256:[0-9a-z]{52}$/);
    const modes = (p: string) => (lstatSync(p).mode & 0o7777).toString(8);
    assert.equal(modes(o.hostPath), "555");
    assert.equal(modes(join(o.hostPath, "sub")), "555");
    assert.equal(modes(join(o.hostPath, "x")), "555");
    assert.equal(modes(join(o.hostPath, "sub/ref")), "444");
    assert.equal(lstatSync(join(o.hostPath, "x")).mtimeMs, 1000);
    if ((process.getuid?.() ?? 1) === 0) assert.equal(lstatSync(join(o.hostPath, "x")).uid, 0);
    await r.release();
    await settleRemovals();
    assert.ok(!existsSync(o.hostPath));
  });

  test(`${kind}: a failing builder, a missing output and the silence limit are build errors`, { skip }, async () => {
    const scratch = join(work, `scratch-failures-${kind}`);
    await assert.rejects(run(kind, "echo dying; exit 7", {}, {}, scratch), (e: BuildError) => e.kind === "failed" && /exit code 7/.test(e.message));
    await assert.rejects(run(kind, "true", {}, {}, scratch), (e: BuildError) => /failed to produce output path/.test(e.message));
    const t0 = Date.now();
    await assert.rejects(run(kind, "sleep 20", {}, { maxSilentTime: 1 }, scratch), (e: BuildError) => e.kind === "silent");
    assert.ok(Date.now() - t0 < 10_000);
    if (kind === "bwrap") {
      // the helper has made the next build's FIFO ahead of time
      const spools = readdirSync(scratch).filter((n) => n.startsWith("fifos-"));
      assert.equal(spools.length, 1);
      assert.ok(readdirSync(join(scratch, spools[0])).some((f) => lstatSync(join(scratch, spools[0], f)).isFIFO()));
    }
    // nothing is left behind (once the process is done building)
    releaseSpawners();
    await settleRemovals();
    assert.deepEqual(readdirSync(scratch).filter((n) => !n.startsWith("runc-state") && !n.startsWith("root-")), []);
  });

  test(`${kind}: the command's arguments arrive byte for byte (quotes, $, backslashes, newlines, empty)`, { skip }, async () => {
    const args = ["it's", "$HOME `x` \\n", "", "two\nlines", "-e", "'", "\"q\""];
    const { r } = await run(kind, "", { command: [`/nix/store/${TOOLS}/sh`, "-c", 'for a in "$@"; do printf "[%s]" "$a"; done > $out', "sh", ...args] });
    assert.equal(readFileSync(r.outputs[0].hostPath, "utf8"), args.map((a) => `[${a}]`).join(""));
    await r.release();
  });

  test(`${kind}: passAsFile-style files land in the working directory`, { skip }, async () => {
    const { r } = await run(kind, "mkdir $out; cat /build/.attr-x > $out/x; stat -c %u /build/.attr-x > $out/owned", {
      additionalFiles: [{ path: "/build/.attr-x", contents: Buffer.from("value\n"), owner: "builder" }],
    });
    assert.equal(readFileSync(join(r.outputs[0].hostPath, "x"), "utf8"), "value\n");
    assert.equal(readFileSync(join(r.outputs[0].hostPath, "owned"), "utf8"), "1000\n");
    await r.release();
  });
}

test("requests the builder cannot satisfy are refused before anything runs", { skip: bwrapSkip }, async () => {
  const { svc } = service("bwrap");
  await assert.rejects(svc.build(request("true", { constraints: { ...request("").constraints, system: "riscv64-linux" } })), /a 'riscv64-linux' build is required/);
  await assert.rejects(svc.build(request("true", { constraints: { ...request("").constraints, requiredFeatures: ["cuda"] } })), /required system features 'cuda'/);
  await assert.rejects(svc.build(request("true", { outputs: ["/elsewhere/x"] })), /not directly inside/);
});
