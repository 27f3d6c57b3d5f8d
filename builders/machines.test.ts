// The builders setting (Nix's machines format), where builds go (load and
// speed factor, features, busy and failed machines, -j 0, --fallback), and
// the ssh command line of ssh-ng:// stores.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { parseMachines, machineFits, machineStoreUrl, type Machine } from "./machines";
import { Dispatcher, Stopped, type MachineState, type Need, type Slot } from "./dispatch";
import { sshCommand } from "../stores/ssh";
import { parseSshStoreUrl } from "../stores/daemon-client";

test("machines: Nix's format, defaults, @file, comments, errors", () => {
  const files: Record<string, string> = { "/etc/machines": "ssh-ng://c aarch64-linux\n# a comment\n" };
  const ms = parseMachines(
    "ssh-ng://a x86_64-linux,i686-linux /k 4 2 big-parallel,kvm benchmark AAAA ; builder-b - - - - - - ;\n@/etc/machines # machines file",
    "x86_64-linux",
    (p) => {
      if (!(p in files)) throw new Error("ENOENT");
      return files[p];
    },
  );
  assert.deepEqual(ms[0], {
    storeUri: "ssh-ng://a",
    systems: ["x86_64-linux", "i686-linux"],
    sshKey: "/k",
    maxJobs: 4,
    speedFactor: 2,
    supportedFeatures: ["big-parallel", "kvm", "benchmark"],
    mandatoryFeatures: ["benchmark"],
    publicHostKey: "AAAA",
  });
  // a bare host is ssh:// (Nix's legacy protocol), the defaults apply
  assert.deepEqual(ms[1], { storeUri: "ssh://builder-b", systems: ["x86_64-linux"], sshKey: undefined, maxJobs: 1, speedFactor: 1, supportedFeatures: [], mandatoryFeatures: [], publicHostKey: undefined });
  assert.equal(ms[2].storeUri, "ssh-ng://c");
  assert.deepEqual(ms[2].systems, ["aarch64-linux"]);
  assert.throws(() => parseMachines("@/nowhere", "x86_64-linux", () => { throw new Error("no such file"); }), /cannot read the machines file '\/nowhere': no such file/);
  assert.throws(() => parseMachines("ssh-ng://a - - many", "x86_64-linux"), /machine 'ssh-ng:\/\/a': the maximum number of jobs must be a whole number, not 'many'/);
  assert.throws(() => parseMachines("ssh-ng://a - - 1 0", "x86_64-linux"), /speed factor must be a positive number, not '0'/);
  assert.throws(() => parseMachines("ssh-ng://a 1 2 3 4 5 6 7 8", "x86_64-linux"), /too many fields/);
  assert.deepEqual(parseMachines("", "x86_64-linux"), []);
});

test("machines: which builds fit, and the store URL they are opened with", () => {
  const [m] = parseMachines("ssh-ng://a x86_64-linux /key 3 1 big-parallel,kvm kvm SOMEKEY", "x86_64-linux");
  assert.ok(machineFits(m, "x86_64-linux", ["kvm"]));
  assert.ok(machineFits(m, "builtin", ["kvm", "big-parallel"]));
  assert.ok(!machineFits(m, "x86_64-linux", []), "a mandatory feature must be required");
  assert.ok(!machineFits(m, "aarch64-linux", ["kvm"]));
  assert.ok(!machineFits(m, "x86_64-linux", ["kvm", "nixos-test"]));
  assert.equal(machineStoreUrl(m), "ssh-ng://a?ssh-key=%2Fkey&base64-ssh-public-host-key=SOMEKEY&max-connections=3");
  const [u] = parseMachines("unix:///run/d.sock?max-connections=9", "x86_64-linux");
  assert.equal(machineStoreUrl(u), "unix:///run/d.sock?max-connections=9");
  assert.throws(() => machineStoreUrl(parseMachines("builder", "x86_64-linux")[0]), /not implemented: ssh:\/\/ builders \(the 'nix-store --serve' protocol\) in 'ssh:\/\/builder'; use ssh-ng:\/\//);
  assert.throws(() => machineStoreUrl(parseMachines("file:///cache", "x86_64-linux")[0]), /remote builders must be ssh-ng:\/\/ or unix:\/\/ stores/);
});

function machine(spec: string): MachineState {
  return { spec: parseMachines(spec, "x86_64-linux")[0] as Machine, inUse: 0, down: null, downSince: 0 };
}

const need = (o: Partial<Need> = {}): Need => ({ drvPath: "/nix/store/x.drv", system: "x86_64-linux", features: [], local: false, builtin: false, ...o });

/** Places builds until `n` are placed or one has to wait; returns where they went. */
async function placeAll(d: Dispatcher, needs: Need[]): Promise<(Slot | "waiting" | Error)[]> {
  const out: (Slot | "waiting" | Error)[] = needs.map(() => "waiting");
  needs.forEach((n, i) => d.acquire(n).then((s) => (out[i] = s), (e) => (out[i] = e as Error)));
  await new Promise((r) => setImmediate(r));
  return out;
}

const where = (s: Slot | "waiting" | Error) => (s === "waiting" ? "waiting" : s instanceof Error ? `error: ${s.message}` : s.where === "local" ? "local" : s.machine.spec.storeUri);

test("dispatch: load / speed factor, busy machines, local slots, features", async () => {
  const slow = machine("ssh-ng://slow x86_64-linux - 2 1");
  const fast = machine("ssh-ng://fast x86_64-linux - 2 2");
  const d = new Dispatcher({ localJobs: 1, localSystems: ["x86_64-linux"], localFeatures: [], machines: [slow, fast], fallback: false });
  // fast (speed 2) first; at equal load per speed, the faster; then the local slot; then wait
  const got = await placeAll(d, [need(), need(), need(), need(), need(), need()]);
  assert.deepEqual(got.map(where), ["ssh-ng://fast", "ssh-ng://slow", "ssh-ng://fast", "ssh-ng://slow", "local", "waiting"]);
  // a freed slot goes to the waiting build
  d.release(got[1] as Slot);
  await new Promise((r) => setImmediate(r));
  assert.equal(where(got[5]), "ssh-ng://slow");
  // preferLocalBuild / check builds stay here; builtin: builders too; a feature only this machine has waits for a local slot
  const d2 = new Dispatcher({ localJobs: 2, localSystems: ["x86_64-linux"], localFeatures: ["kvm"], machines: [machine("ssh-ng://m")], fallback: false });
  assert.deepEqual((await placeAll(d2, [need({ local: true }), need({ builtin: true, system: "builtin" }), need({ features: ["kvm"] })])).map(where), ["local", "local", "waiting"]);
  // -j 0 and no machine with the feature: a clear error at once
  const d3 = new Dispatcher({ localJobs: 0, localSystems: ["x86_64-linux"], localFeatures: [], machines: [machine("ssh-ng://m x86_64-linux - 1 1 kvm")], fallback: false });
  const [big] = await placeAll(d3, [need({ features: ["big-parallel"] })]);
  assert.match(where(big), /error: cannot build '\/nix\/store\/x\.drv': it needs a 'x86_64-linux' machine with features 'big-parallel'; no remote machine fits \(ssh-ng:\/\/m \(x86_64-linux; 1 job; features: kvm\)\) and local builds are off/);
  // builtin: derivations run here even with -j 0
  assert.deepEqual((await placeAll(d3, [need({ builtin: true, system: "builtin" })])).map(where), ["local"]);
});

test("dispatch: failed machines, -j 0 and --fallback, stopping", async () => {
  const a = machine("ssh-ng://a");
  const b = machine("ssh-ng://b");
  const tick = () => new Promise((r) => setImmediate(r));
  const d = new Dispatcher({ localJobs: 0, localSystems: ["x86_64-linux"], localFeatures: [], machines: [a, b], fallback: false });
  const s = await placeAll(d, [need(), need(), need()]);
  assert.deepEqual(s.map(where), ["ssh-ng://a", "ssh-ng://b", "waiting"]);
  // a fails: its build is handed back; the waiting one and the retry go to b, in turn
  d.markDown(a, "gone");
  d.release(s[0] as Slot);
  const retry = await placeAll(d, [need()]);
  assert.equal(where(s[2]), "waiting");
  d.release(s[1] as Slot);
  await tick();
  assert.equal(where(s[2]), "ssh-ng://b");
  assert.equal(where(retry[0]), "waiting");
  // b fails too: with -j 0 and no fallback, the waiting build fails clearly
  d.markDown(b, "refused");
  d.release(s[2] as Slot);
  await tick();
  assert.match(where(retry[0]), /every machine that could has failed \(ssh-ng:\/\/a: gone; ssh-ng:\/\/b: refused\), and local builds are off/);
  // with --fallback it is built here, one at a time
  const f = new Dispatcher({ localJobs: 0, localSystems: ["x86_64-linux"], localFeatures: [], machines: [{ ...a }], fallback: true });
  assert.deepEqual((await placeAll(f, [need(), need()])).map(where), ["local", "waiting"]);
  // a failed machine is tried again after a minute
  const old = { ...a, downSince: Date.now() - 61_000 };
  const g = new Dispatcher({ localJobs: 0, localSystems: ["x86_64-linux"], localFeatures: [], machines: [old], fallback: false });
  assert.deepEqual((await placeAll(g, [need()])).map(where), ["ssh-ng://a"]);
  // stopping rejects the waiting builds
  const h = new Dispatcher({ localJobs: 1, localSystems: ["x86_64-linux"], localFeatures: [], machines: [], fallback: false });
  const hs = await placeAll(h, [need(), need()]);
  assert.equal(where(hs[0]), "local");
  h.stop();
  await tick();
  assert.ok(hs[1] instanceof Stopped);
});

test("ssh-ng:// URLs and the ssh command line (NIX_SSHOPTS, keys, host keys, ports, fake ssh for localhost)", () => {
  const c = parseSshStoreUrl("ssh-ng://me@build.example:2222?ssh-key=/k&remote-program=/opt/tvix%20store%20daemon&remote-store=local?root=/r&compress=true");
  assert.deepEqual(c.target, { host: "me@build.example", port: 2222, key: "/k", publicHostKey: undefined, compress: true });
  assert.equal(c.remoteProgram, "/opt/tvix store daemon");
  assert.equal(c.remoteStore, "local?root=/r");
  assert.equal(c.maxConnections, 1);
  assert.equal(parseSshStoreUrl("ssh-ng://[::1]:22").target.host, "::1");
  assert.equal(parseSshStoreUrl("ssh-ng://h").remoteProgram, "nix-daemon");
  assert.throws(() => parseSshStoreUrl("ssh-ng://h?bogus=1"), /unknown store parameter 'bogus'/);

  const hostKey = Buffer.from("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRlbW8").toString("base64");
  const cmd = sshCommand({ host: "me@h", port: 2222, key: "/k", publicHostKey: hostKey, compress: true }, "nix-daemon --stdio", { NIX_SSHOPTS: "-F /cfg  -oBatchMode=yes" });
  try {
    assert.equal(cmd.file, "ssh");
    const known = cmd.args.find((a) => a.startsWith("-oUserKnownHostsFile="))!.slice("-oUserKnownHostsFile=".length);
    assert.deepEqual(cmd.args, ["me@h", "-x", "-a", "-F", "/cfg", "-oBatchMode=yes", "-p", "2222", "-i", "/k", `-oUserKnownHostsFile=${known}`, "-C", "nix-daemon --stdio"]);
    assert.equal(readFileSync(known, "utf8"), "[h]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRlbW8\n");
  } finally {
    cmd.cleanup();
  }
  assert.ok(!existsSync(cmd.args.find((a) => a.startsWith("-oUserKnownHostsFile="))!.slice(21)));
  const fake = sshCommand({ host: "localhost" }, "nix-daemon --stdio", {});
  assert.deepEqual([fake.file, fake.args], ["sh", ["-c", "nix-daemon --stdio"]]);
});
