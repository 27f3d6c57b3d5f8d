// The sandbox's root templates: kept for later processes, one per shape,
// and never used when what is in their place is not one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BuildRequest } from "./build-request";
import { ETC_HOSTS, forgetTemplates, hostBuildIds, prepareLayout, sandboxDevices } from "./sandbox-layout";

function request(extra: Partial<BuildRequest["constraints"]> = {}): BuildRequest {
  return {
    command: ["/bin/sh"],
    workingDir: "/build",
    env: [],
    inputs: [],
    inputsDir: "/nix/store",
    outputs: ["/nix/store/00000000000000000000000000000000-x"],
    scratchPaths: ["/build", "/nix/store", "/tmp"],
    additionalFiles: [],
    constraints: { system: "x86_64-linux", networkAccess: false, requiredFeatures: [], availableRoPaths: [], ...extra },
    refscanNeedles: [],
  };
}

const templatesIn = (dir: string) => readdirSync(dir).filter((n) => n.startsWith("root-"));

test("a root template outlives the process's builds and serves the next ones with the same shape", () => {
  const base = mkdtempSync(join(tmpdir(), "tvix-layout-"));
  try {
    const ids = hostBuildIds();
    const a = prepareLayout(request(), new Map(), base, ids, "a");
    assert.deepEqual(readdirSync(a.root).sort(), ["build", "dev", "etc", "nix", "proc", "tmp"]);
    assert.equal(lstatSync(a.root).mode & 0o7777, 0o750);
    assert.equal(readFileSync(join(a.root, "etc/hosts"), "utf8"), ETC_HOSTS);
    forgetTemplates(); // as a session's end, or another process
    const b = prepareLayout(request(), new Map(), base, ids, "b");
    assert.equal(b.root, a.root);
    assert.notEqual(b.dir, a.dir);
    // another shape: another template, with the network's files
    const net = prepareLayout(request({ networkAccess: true }), new Map(), base, ids, "c");
    assert.notEqual(net.root, a.root);
    assert.ok(existsSync(join(net.root, "etc/nsswitch.conf")));
    assert.ok(!existsSync(join(a.root, "etc/nsswitch.conf")));
    // no temp template is left
    assert.deepEqual(templatesIn(base).sort(), [a.root, net.root].map((r) => r.slice(base.length + 1)).sort());
  } finally {
    forgetTemplates();
    rmSync(base, { recursive: true, force: true });
  }
});

test("what is in a template's place but is not one (a file, another mode) is replaced", () => {
  const base = mkdtempSync(join(tmpdir(), "tvix-layout-"));
  try {
    const ids = hostBuildIds();
    const root = prepareLayout(request(), new Map(), base, ids, "a").root;
    forgetTemplates();
    rmSync(root, { recursive: true });
    writeFileSync(root, "not a directory");
    assert.equal(prepareLayout(request(), new Map(), base, ids, "b").root, root);
    assert.ok(lstatSync(root).isDirectory());
    assert.deepEqual(readdirSync(root).sort(), ["build", "dev", "etc", "nix", "proc", "tmp"]);
    forgetTemplates();
    rmSync(root, { recursive: true });
    mkdirSync(root);
    chmodSync(root, 0o777);
    prepareLayout(request(), new Map(), base, ids, "c");
    assert.equal(lstatSync(root).mode & 0o7777, 0o750);
    assert.deepEqual(readdirSync(root).sort(), ["build", "dev", "etc", "nix", "proc", "tmp"]);
  } finally {
    forgetTemplates();
    rmSync(base, { recursive: true, force: true });
  }
});

test("/dev/kvm is bound only for a builder offering the kvm feature, and only where the host has it", () => {
  assert.ok(!sandboxDevices(["big-parallel"]).includes("/dev/kvm"));
  assert.equal(sandboxDevices(["kvm"]).includes("/dev/kvm"), existsSync("/dev/kvm"));
  assert.deepEqual(sandboxDevices(["kvm"]).filter((d) => d !== "/dev/kvm"), sandboxDevices([]));
});
