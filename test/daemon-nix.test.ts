// `tvix store daemon` against stock Nix clients (Nix 2.8's nix-store and nix,
// the 2.26 oracle's nix), compared with a real nix-daemon serving a store of
// its own with the same contents: queries, additions, NARs, export/import,
// path-info, copies, ls/cat, verify, garbage collection with roots, and
// the refusals an untrusted client gets.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, lstatSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { nix28, nix226, oracleScript } from "./helpers";
import { NIX_CONFIG, type RunningDaemon, client, clientBytes, ok, oracle, startNixDaemon, startTvixDaemon } from "./daemon-harness";

const skip = nix28.skip || (process.getuid?.() !== 0 && "needs root to run nix-daemon");
let work: string;
let ours: RunningDaemon;
let theirs: RunningDaemon;
let closure: string[] = []; // a built closure in the host store: outputs, derivations, sources
let top: string;
let topDrv: string;
let exported: Buffer;

function host(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, NIX_CONFIG } });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Runs on both daemons; returns [ours, theirs]. */
function both(cmd: string, args: string[], input?: string) {
  return [client(ours, cmd, args, { input }), client(theirs, cmd, args, { input })] as const;
}

function same(cmd: string, args: string[], input?: string): string {
  const [a, b] = both(cmd, args, input);
  assert.equal(b.status, 0, `nix-daemon: ${cmd} ${args.join(" ")}: ${b.stderr}`);
  assert.equal(a.status, 0, `tvix: ${cmd} ${args.join(" ")}: ${a.stderr}\n${ours.log()}`);
  assert.equal(a.stdout, b.stdout, `${cmd} ${args.join(" ")} differs`);
  return a.stdout;
}

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), "tvix-daemon-nix-"));
  const tag = randomBytes(4).toString("hex");
  const fx = join(work, "fx");
  mkdirSync(join(fx, "src", "sub"), { recursive: true });
  writeFileSync(join(fx, "src", "a"), `a ${tag}\n`);
  writeFileSync(join(fx, "src", "sub", "b"), randomBytes(70_000));
  writeFileSync(
    join(fx, "fx.nix"),
    `let
  src = builtins.path { path = ./src; name = "src-${tag}"; };
  txt = builtins.toFile "txt-${tag}" "hello ${tag}";
  dep = derivation { name = "dep-${tag}"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" "echo \${txt} > $out"]; };
in derivation { name = "top-${tag}"; system = builtins.currentSystem; builder = "/bin/sh"; outputs = ["out" "dev"];
  args = ["-c" "PATH=/bin:/usr/bin; mkdir -p $out/bin $dev; echo \${dep} \${src} > $out/refs; ln -s refs $out/link; echo '#!/bin/sh' > $out/bin/x; chmod +x $out/bin/x; echo $out > $dev/o"]; }
`,
  );
  const outs = host("nix-build", ["--no-out-link", join(fx, "fx.nix"), "-A", "out", "-A", "dev"]).split("\n");
  top = outs[0];
  topDrv = host("nix-store", ["-q", "--deriver", top]);
  closure = host("nix-store", ["-qR", ...outs, topDrv]).split("\n").sort();
  exported = spawnSync("nix-store", ["--export", ...host("nix-store", ["-qR", ...outs, topDrv]).split("\n")], { env: { ...process.env, NIX_CONFIG }, maxBuffer: 1 << 28 }).stdout;
  [ours, theirs] = await Promise.all([startTvixDaemon(join(work, "tvix")), startNixDaemon(join(work, "nix"))]);
  for (const d of [ours, theirs]) {
    const r = client(d, "nix-store", ["--import"], { input: exported as unknown as string });
    assert.equal(r.status, 0, `${d.name} import: ${r.stderr}\n${d.log()}`);
  }
});

after(async () => {
  await Promise.all([ours?.stop(), theirs?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

test("nix-store --add, --add-fixed and --query answers equal nix-daemon's", { skip }, () => {
  const f = join(work, "file.txt");
  writeFileSync(f, "some text\n");
  const dir = join(work, "tree");
  mkdirSync(join(dir, "d"), { recursive: true });
  writeFileSync(join(dir, "d", "x"), "x");
  writeFileSync(join(dir, "run"), "#!/bin/sh\n", { mode: 0o755 });
  const added = same("nix-store", ["--add", f, dir]).trim().split("\n");
  same("nix-store", ["--add-fixed", "sha256", f]);
  same("nix-store", ["--add-fixed", "--recursive", "sha1", dir]);
  same("nix-store", ["--add-fixed", "md5", f]);
  for (const p of [...closure, ...added]) {
    for (const q of ["--hash", "--size", "--references", "--referrers", "--deriver", "--requisites"]) same("nix-store", ["-q", q, p]);
  }
  same("nix-store", ["-q", "--requisites", "--include-outputs", topDrv]);
  same("nix-store", ["-q", "--outputs", topDrv]);
  same("nix-store", ["-q", "--tree", top]);
  same("nix-store", ["-q", "--graph", top]);
  same("nix-store", ["--check-validity", ...closure]);
});

test("nix path-info --json -r equals nix-daemon's (registration times aside), with Nix 2.8 and 2.26", { skip }, () => {
  const strip = (s: string) => {
    const o = JSON.parse(s);
    for (const v of Array.isArray(o) ? o : Object.values(o)) delete (v as { registrationTime?: number }).registrationTime;
    return o;
  };
  const [a, b] = both("nix", ["path-info", "--json", "-r", top, topDrv]);
  assert.equal(a.status, 0, a.stderr);
  assert.deepEqual(strip(a.stdout), strip(b.stdout));
  if (!nix226.skip) {
    const x = oracle(ours, ["path-info", "--json", "-r", top, topDrv]);
    const y = oracle(theirs, ["path-info", "--json", "-r", top, topDrv]);
    assert.equal(x.status, 0, x.stderr);
    assert.deepEqual(strip(x.stdout), strip(y.stdout));
  }
});

test("NARs, nix store ls/cat and dump-path equal nix-daemon's (2.8 and 2.26 clients)", { skip }, () => {
  for (const p of closure.filter((q) => !q.endsWith(".drv"))) {
    const a = clientBytes(ours, "nix", ["store", "dump-path", p]);
    const b = clientBytes(theirs, "nix", ["store", "dump-path", p]);
    assert.equal(a.status, 0, a.stderr.toString());
    assert.ok(a.stdout.equals(b.stdout), `NAR of ${p} differs`);
  }
  same("nix", ["store", "ls", "-lR", top]);
  same("nix", ["store", "cat", `${top}/refs`]);
  same("nix", ["store", "ls", "--json", "-R", top]);
  if (!nix226.skip) {
    for (const args of [["store", "ls", "-lR", top], ["store", "cat", `${top}/bin/x`]]) {
      const x = oracle(ours, args);
      assert.equal(x.status, 0, x.stderr);
      assert.equal(x.stdout, oracle(theirs, args).stdout);
    }
  }
});

test("--export then --import into a fresh daemon: the same export, the same paths", { skip }, async () => {
  const args = ["--export", ...closure];
  const a = clientBytes(ours, "nix-store", args);
  const b = clientBytes(theirs, "nix-store", args);
  assert.equal(a.status, 0, a.stderr.toString());
  assert.ok(a.stdout.equals(b.stdout), "exports differ");
  const fresh = await startTvixDaemon(join(work, "fresh-import"));
  try {
    const r = client(fresh, "nix-store", ["--import"], { input: a.stdout as unknown as string });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n").sort(), closure);
    assert.equal(ok(client(fresh, "nix-store", ["-qR", top]), "qR"), ok(client(theirs, "nix-store", ["-qR", top]), "qR"));
  } finally {
    await fresh.stop();
  }
});

test("nix copy --to and --from a real closure (Nix 2.8 and 2.26)", { skip }, async () => {
  const fresh = await startTvixDaemon(join(work, "copy"));
  try {
    // host store -> our daemon (2.8 client; AddMultipleToStore)
    let r = spawnSync("nix", ["copy", "--no-check-sigs", "--to", fresh.url, top], { encoding: "utf8", env: { ...process.env, NIX_CONFIG } });
    assert.equal(r.status, 0, r.stderr + fresh.log());
    // our daemon -> a fresh local store (reads the files under ?root=)
    const dest = join(work, "copy-dest");
    r = spawnSync("nix", ["copy", "--no-check-sigs", "--from", fresh.url, "--to", `local?root=${dest}`, top], { encoding: "utf8", env: { ...process.env, NIX_CONFIG } });
    assert.equal(r.status, 0, r.stderr);
    const want = host("nix-store", ["-qR", top]).split("\n").sort();
    for (const p of want) {
      const x = spawnSync("nix", ["store", "dump-path", "--store", `local?root=${dest}`, p], { env: { ...process.env, NIX_CONFIG }, maxBuffer: 1 << 28 });
      const y = spawnSync("nix", ["store", "dump-path", p], { env: { ...process.env, NIX_CONFIG }, maxBuffer: 1 << 28 });
      assert.ok(x.stdout.equals(y.stdout), `NAR of ${p} differs after the round trip`);
    }
    if (!nix226.skip) {
      // the 2.26 oracle copies from nix-daemon's store into ours, and back out into its own
      const x = oracle(fresh, ["copy", "--no-check-sigs", "--from", theirs.url, "--to", fresh.url, topDrv]);
      assert.equal(x.status, 0, x.stderr + fresh.log());
      const y = oracle(fresh, ["copy", "--no-check-sigs", "--from", fresh.url, "--to", `local?root=${join(work, "oracle-dest")}`, topDrv]);
      assert.equal(y.status, 0, y.stderr);
      const z = oracle(fresh, ["path-info", "-r", topDrv]);
      assert.equal(z.stdout.trim().split("\n").sort().join("\n"), ok(client(theirs, "nix-store", ["-qR", topDrv]), "qR").trim().split("\n").sort().join("\n"));
    }
  } finally {
    await fresh.stop();
  }
});

test("--verify --check-contents: clean stores pass; a modified file is found like nix-daemon finds it", { skip }, () => {
  same("nix-store", ["--verify", "--check-contents"]);
  const refs = (d: RunningDaemon) => join(d.root, top.slice(1).replace(/^nix\/store/, "nix/store"), "refs");
  for (const d of [ours, theirs]) {
    const f = refs(d);
    chmodSync(f, 0o644);
    writeFileSync(f, "changed\n");
  }
  const [a, b] = both("nix-store", ["--verify", "--check-contents"]);
  assert.equal(a.status, b.status);
  assert.notEqual(a.status, 0);
  assert.match(a.stderr, new RegExp(`was modified! expected hash`));
  // repair puts the file back (nix-daemon would need a substitute; ours has the store's copy)
  const rep = client(ours, "nix-store", ["--verify", "--check-contents", "--repair"]);
  assert.equal(rep.status, 0, rep.stderr);
  assert.equal(readFileSync(refs(ours), "utf8"), readFileSync(join(top, "refs"), "utf8"));
});

test("garbage collection honours indirect and permanent roots like nix-daemon; --delete refuses live paths", { skip }, () => {
  const extra = join(work, "gc-extra");
  writeFileSync(extra, `garbage ${randomBytes(4).toString("hex")}\n`);
  const garbage = same("nix-store", ["--add", extra]).trim();
  for (const d of [ours, theirs]) {
    const link = join(work, `result-${d.name}`);
    ok(client(d, "nix-store", ["-r", top, "--add-root", link, "--indirect"]), "add-root");
    assert.ok(lstatSync(link).isSymbolicLink());
  }
  const roots = (d: RunningDaemon) =>
    ok(client(d, "nix-store", ["--gc", "--print-roots"]), "roots").trim().split("\n").filter((l) => l.includes(`result-${d.name}`));
  assert.equal(roots(ours).length, 1);
  assert.equal(roots(ours)[0].replace("result-tvix", "result-X"), roots(theirs)[0].replace("result-nix", "result-X"));
  same("nix-store", ["--gc", "--print-dead"]);
  same("nix-store", ["--gc", "--print-live"]);
  // a live path cannot be deleted
  const [a, b] = both("nix-store", ["--delete", top]);
  assert.notEqual(a.status, 0);
  assert.equal(a.status, b.status);
  assert.match(a.stderr, /since it is still alive/);
  // a dead one can
  const [c, e] = both("nix-store", ["--delete", garbage]);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.status, e.status);
  same("nix-store", ["--check-validity", "--print-invalid", garbage]);
  assert.equal(existsSync(join(ours.root, garbage)), false);
  // the full collection keeps the rooted closure and the derivations (keep-derivations)
  for (const d of [ours, theirs]) ok(client(d, "nix-store", ["--gc"]), "gc");
  same("nix", ["path-info", "--all"]);
  // dropping the root frees the rest
  for (const d of [ours, theirs]) rmSync(join(work, `result-${d.name}`));
  // now dead, but a dead path still referring to it keeps a path from --delete
  const txt = closure.find((p) => /-txt-/.test(p))!;
  const [f, g] = both("nix-store", ["--delete", txt]);
  assert.equal(g.status, 1);
  assert.equal(f.status, 1);
  assert.equal(f.stderr.match(/error: .*/)![0], g.stderr.match(/error: .*/)![0]);
  for (const d of [ours, theirs]) ok(client(d, "nix-store", ["--gc"]), "gc");
  same("nix", ["path-info", "--all"]);
  assert.equal(client(ours, "nix-store", ["--check-validity", top]).status, 1);
  assert.equal(existsSync(join(ours.root, top)), false);
  // put the closure back for the tests after this one
  for (const d of [ours, theirs]) ok(client(d, "nix-store", ["--import"], { input: exported as unknown as string }), "import");
});

test("an untrusted client is refused where nix-daemon refuses it, and allowed the rest", { skip }, async () => {
  const u1 = await startTvixDaemon(join(work, "untrusted-tvix"), ["--option", "trusted-users", "nobody"]);
  const u2 = await startNixDaemon(join(work, "untrusted-nix"), [["trusted-users", "nobody"]]);
  try {
    const run = (args: string[], input?: Buffer) => [client(u1, "nix-store", args, { input: input as unknown as string }), client(u2, "nix-store", args, { input: input as unknown as string })];
    // unsigned input-addressed paths: refused with the same message
    const [a, b] = run(["--import"], exported);
    assert.notEqual(b.status, 0);
    assert.equal(a.status, b.status);
    const msg = /cannot add path '[^']+' because it lacks a valid signature/;
    assert.match(b.stderr, msg);
    assert.match(a.stderr, msg);
    // content-addressed additions are fine
    const f = join(work, "untrusted-file");
    writeFileSync(f, "x\n");
    const [c, d] = run(["--add", f]);
    assert.equal(c.status, 0, c.stderr);
    assert.equal(c.stdout, d.stdout);
    // repairing is refused
    const [e, g] = run(["--verify", "--repair"]);
    assert.notEqual(g.status, 0);
    assert.equal(e.status, g.status);
    assert.match(e.stderr, /you are not privileged to repair paths/);
    // roots are censored
    const [h] = run(["--gc", "--print-roots"]);
    assert.equal(h.status, 0, h.stderr);
    // the same connection still works after a refusal: nix copy with --no-check-sigs is still checked
    const x = spawnSync("nix", ["copy", "--no-check-sigs", "--to", u1.url, top], { encoding: "utf8", env: { ...process.env, NIX_CONFIG } });
    assert.notEqual(x.status, 0);
    assert.match(x.stderr, msg);
  } finally {
    await Promise.all([u1.stop(), u2.stop()]);
  }
});

test("nix-build through the daemon builds in our sandbox (Nix 2.8 and 2.26 clients)", { skip: skip || (!existsSync("/bin/bash-static") && "needs /bin/bash-static (bash-static)") }, () => {
  const expr = (tag: string) =>
    `let sh = builtins.path { path = /bin/bash-static; name = "sh"; }; in derivation { name = "built-${tag}"; system = builtins.currentSystem; builder = sh; args = [ "-c" "echo built-${tag} > $out" ]; }`;
  const tag = randomBytes(4).toString("hex");
  const r = client(ours, "nix-build", ["--no-out-link", "-E", expr(tag)]);
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.trim();
  assert.match(out, new RegExp(`^/nix/store/[0-9a-z]{32}-built-${tag}$`));
  assert.equal(ok(client(ours, "nix-store", ["--dump", out]), "dump the output").includes(`built-${tag}`), true);
  // a failing build is reported as Nix reports one, and the daemon goes on
  const bad = client(ours, "nix-build", ["--no-out-link", "-E", expr(tag).replace("echo built", "exit 3; echo")]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /builder for '[^']+' failed with exit code 3/);
  if (!nix226.skip) {
    const tag2 = randomBytes(4).toString("hex");
    const o = spawnSync(oracleScript, ["nix-build", "--store", ours.url, "--no-out-link", "-E", expr(tag2)], { encoding: "utf8" });
    assert.equal(o.status, 0, o.stderr);
    assert.match(o.stdout, new RegExp(`-built-${tag2}\\n$`));
  }
  ok(client(ours, "nix-store", ["-q", "--hash", top]), "query after the builds");
});

test("substitution: nix-store --realise of a missing path copies it (and its closure) from a signed binary cache", { skip }, async () => {
  const keys = join(work, "subst-keys");
  mkdirSync(keys, { recursive: true });
  host("nix-store", ["--generate-binary-cache-key", "subst-test", join(keys, "sk"), join(keys, "pk")]);
  const cache = join(work, "subst-cache");
  host("nix", ["copy", "--to", `file://${cache}?secret-key=${join(keys, "sk")}`, top]);
  const pk = readFileSync(join(keys, "pk"), "utf8").trim();
  const d = await startTvixDaemon(join(work, "subst"), ["--option", "substituters", `file://${cache}`, "--option", "trusted-public-keys", pk]);
  try {
    assert.equal(client(d, "nix-store", ["--check-validity", top]).status, 1);
    const r = client(d, "nix-store", ["--realise", top]);
    assert.equal(r.status, 0, r.stderr + d.log());
    assert.equal(r.stdout.trim(), top);
    assert.equal(ok(client(d, "nix-store", ["-qR", top]), "qR"), host("nix-store", ["-qR", top]) + "\n");
    // a cache whose key is not trusted is not used
    const d2 = await startTvixDaemon(join(work, "subst-untrusted-key"), ["--option", "substituters", `file://${cache}`]);
    try {
      const r2 = client(d2, "nix-store", ["--realise", top]);
      assert.notEqual(r2.status, 0);
      assert.match(r2.stderr, /lacks a signature by a trusted key|does not exist and cannot be created/);
    } finally {
      await d2.stop();
    }
  } finally {
    await d.stop();
  }
});

test("a user outside allowed-users is not served, by either daemon", { skip }, async () => {
  const a = await startTvixDaemon(join(work, "allowed-tvix"), ["--option", "allowed-users", "nobody"]);
  const b = await startNixDaemon(join(work, "allowed-nix"), [["allowed-users", "nobody"]]);
  try {
    for (const d of [a, b]) {
      const r = client(d, "nix-store", ["-q", "--hash", top]);
      assert.notEqual(r.status, 0, `${d.name} served a user outside allowed-users`);
    }
    await new Promise((r) => setTimeout(r, 200)); // the daemon's stderr, read while this process waited
    assert.match(a.log(), /is not allowed to connect to the Nix daemon/);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
