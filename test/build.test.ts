// `tvix build` end to end with the bubblewrap sandbox: failing builds name their derivation, show their log
// tail, keep their log, return Nix's exit codes and register nothing; the
// sandbox refuses the network, writes outside the build, host files and
// setuid bits; a file:// cache substitutes instead of building.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./helpers";
import { bwrapUnavailable } from "../builders/bwrap";
import { generateSigningKeyPair } from "../core/signing";

const examples = join(repoRoot, "examples");
const negative = join(repoRoot, "test", "fixtures", "builds", "negative.nix");
const missing = ["/bin/busybox", "/bin/bash-static"].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(", ")} (apt-get install busybox-static bash-static)` : (bwrapUnavailable() ?? false);

let work: string;
let server: Server;
let port: number;
const hits = new Map<string, number>();

before(async () => {
  work = mkdtempSync(join(tmpdir(), "tvix-build-test-"));
  chmodSync(work, 0o755);
  // /flaky* answers 503 to its first request
  server = createServer((req, res) => {
    const n = (hits.get(req.url!) ?? 0) + 1;
    hits.set(req.url!, n);
    if (req.url!.startsWith("/flaky") && n === 1) return void res.writeHead(503).end();
    res.end("hello\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
after(() => {
  server.close();
  rmSync(work, { recursive: true, force: true });
});

/** Runs `tvix ARGS` from source with its own TVIX_HOME; async, so the loopback server keeps answering. */
function tvix(args: string[], opts: { home: string; cwd?: string; realStore?: string | null }): Promise<SpawnSyncReturns<string>> {
  const real = opts.realStore === undefined ? ["--option", "real-store-dir", join(opts.home, "real-store")] : opts.realStore === null ? [] : ["--option", "real-store-dir", opts.realStore];
  const full = args[0] === "build" ? [...args, ...real] : args;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "cmd/main.ts"), ...full], {
      cwd: opts.cwd ?? repoRoot,
      env: { ...process.env, TVIX_HOME: opts.home, TVIX_CONF_DIR: "/nonexistent", CI: "1" },
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c) => (stdout += c));
    p.stderr.on("data", (c) => (stderr += c));
    p.on("close", (status) => resolve({ status, stdout, stderr } as SpawnSyncReturns<string>));
  });
}

test("failing builds: the log tail, tvix log, Nix's exit codes, nothing registered", { skip }, async () => {
  const home = join(work, "failing");
  const r = await tvix(["build", negative, "-A", "failing", "--no-out-link"], { home });
  assert.equal(r.status, 100, r.stderr);
  const drv = /builder for '(\/nix\/store\/[0-9a-z]{32}-failing\.drv)' failed with exit code 3;/.exec(r.stderr)?.[1];
  assert.ok(drv, r.stderr);
  assert.match(r.stderr, /last 10 log lines:\n {7}> line 6\n[^]*> line 15\n {7}For full logs, run 'tvix log \/nix\/store\/[0-9a-z]{32}-failing\.drv'\./);
  const log = await tvix(["log", drv!], { home });
  assert.equal(log.status, 0, log.stderr);
  assert.equal(log.stdout, Array.from({ length: 15 }, (_, i) => `line ${i + 1}\n`).join(""));
  // nothing registered, nothing written out
  const outPath = JSON.parse((await tvix(["eval", "--json", "-E", `(import ${negative} {}).failing.outPath`], { home })).stdout);
  assert.notEqual((await tvix(["store", "path-info", outPath], { home })).status, 0);
  assert.ok(!existsSync(join(home, "real-store", outPath.slice(11))));

  // -L prints the log as it goes, prefixed with the derivation's name
  const logged = await tvix(["build", negative, "-A", "failing", "--no-out-link", "-L"], { home });
  assert.match(logged.stderr, /^failing> line 15$/m);
  assert.doesNotMatch(logged.stderr, /last 10 log lines/);
});

test("the sandbox refuses writes outside the build, host files, setuid bits and the network (except for fixed-output builds)", { skip }, async () => {
  const home = join(work, "refusals");
  const attrs = ["writeOutside", "readHost", "setuid", "network", "networkFixed", "noOutput", "cycle"];
  const r = await tvix(["build", negative, "--arg", "port", String(port), "-k", "-j", "2", "--no-out-link", ...attrs.flatMap((a) => ["-A", a])], { home });
  assert.equal(r.status, 100, r.stderr);
  assert.match(r.stderr, /write-outside\.drv' failed with exit code 1;[^]*can't create \/etc\/owned: Read-only file system/);
  assert.match(r.stderr, /read-host\.drv' failed with exit code 1;[^]*can't open '\/etc\/shadow'[^]*can't open '\/work\/notes[^]*can't open '[^']*negative\.nix': No such file/);
  assert.match(r.stderr, /setuid\.drv' failed with exit code 1;[^]*chmod: [^\n]*: Operation not permitted/);
  assert.match(r.stderr, /-network\.drv' failed with exit code 1;[^]*Connection refused/);
  assert.doesNotMatch(r.stderr, /network-fixed\.drv' failed/);
  assert.match(r.stderr, /no-output\.drv' failed to produce output path '\/nix\/store\/[0-9a-z]{32}-no-output'/);
  assert.match(r.stderr, /cycle detected in build of '\/nix\/store\/[0-9a-z]{32}-cycle\.drv' in the references of output '(dev|out)' from output '(out|dev)'/);
  assert.match(r.stderr, /error: build of '[^]* failed\n$/);
  // the fixed-output build did reach the loopback server, and only it was registered
  const ok = await tvix(["build", negative, "--arg", "port", String(port), "-A", "networkFixed", "--no-out-link"], { home });
  assert.equal(ok.status, 0, ok.stderr);
  assert.doesNotMatch(ok.stderr, /building/);
  const outPath = ok.stdout.trim();
  assert.equal(readFileSync(join(home, "real-store", outPath.slice(11)), "utf8"), "hello\n");
});

test("hash mismatches, disallowed references, timeouts, --check: messages and exit codes as Nix", { skip }, async () => {
  const home = join(work, "codes");
  let r = await tvix(["build", negative, "-A", "wrongHash", "--no-out-link"], { home });
  assert.equal(r.status, 102, r.stderr);
  assert.match(
    r.stderr,
    /error: hash mismatch in fixed-output derivation '\/nix\/store\/[0-9a-z]{32}-wrong-hash\.drv':\n {9}specified: sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n {12}got: {4}sha256-WJG1tSLV3whtD\/CxEPvZ0hu0\/HFjrzTQgoai6Eb2vgM=\n/,
  );
  r = await tvix(["build", negative, "-A", "disallowed", "--no-out-link"], { home });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /error: output '\/nix\/store\/[0-9a-z]{32}-disallowed' is not allowed to refer to the following paths:\n {9}\/nix\/store\/[0-9a-z]{32}-tools\n/);
  const rejected = /output '(\/nix\/store\/[^']+)'/.exec(r.stderr)![1];
  const info = await tvix(["store", "path-info", rejected], { home });
  assert.notEqual(info.status, 0, "a rejected output must not be registered");
  assert.ok(!existsSync(join(home, "real-store", rejected.slice(11))));
  r = await tvix(["build", negative, "-A", "notAllowed", "--no-out-link"], { home });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not-allowed' is not allowed to refer to the following paths:\n {9}\/nix\/store\/[0-9a-z]{32}-tools/);
  r = await tvix(["build", negative, "-A", "silent", "--max-silent-time", "1", "--no-out-link"], { home });
  assert.equal(r.status, 101, r.stderr);
  assert.match(r.stderr, /error: building of '\/nix\/store\/[0-9a-z]{32}-silent\.drv!out' from \.drv file timed out after 1 seconds of silence/);
  r = await tvix(["build", negative, "-A", "silent", "--timeout", "1", "--no-out-link"], { home });
  assert.equal(r.status, 101, r.stderr);
  assert.match(r.stderr, /timed out after 1 seconds\n/);
  r = await tvix(["build", negative, "-A", "nondeterministic", "--no-out-link"], { home });
  assert.equal(r.status, 0, r.stderr);
  r = await tvix(["build", negative, "-A", "nondeterministic", "--check", "--no-out-link"], { home });
  assert.equal(r.status, 104, r.stderr);
  assert.match(r.stderr, /error: derivation '\/nix\/store\/[0-9a-z]{32}-nondeterministic\.drv' may not be deterministic: output '\/nix\/store\/[0-9a-z]{32}-nondeterministic' differs/);
  // without -k the first failure stops the rest; with it, independent builds go on
  r = await tvix(["build", negative, "-A", "keepGoing", "-j", "1", "--no-out-link"], { home });
  assert.equal(r.status, 100);
  assert.doesNotMatch(r.stderr, /building '[^']*kg-ok\.drv'/);
  r = await tvix(["build", negative, "-A", "keepGoing", "-j", "1", "-k", "--no-out-link"], { home });
  assert.equal(r.status, 100);
  assert.match(r.stderr, /building '[^']*kg-ok\.drv'/);
});

test("substitution from a file:// cache after emptying the local store (signatures checked)", { skip }, async () => {
  const first = join(work, "subst-first");
  const r1 = await tvix(["build", examples, "-A", "hello", "--no-out-link"], { home: first });
  assert.equal(r1.status, 0, r1.stderr);
  const hello = r1.stdout.trim();
  const keys = generateSigningKeyPair("tvix-test-1");
  writeFileSync(join(work, "sk"), keys.secretKey);
  const cache = join(work, "cache");
  const copy = await tvix(["copy", "--to", `file://${cache}?secret-key=${join(work, "sk")}`, hello], { home: first });
  assert.equal(copy.status, 0, copy.stderr);

  // an empty store, a cache, but no trusted key: built, with a warning
  const other = generateSigningKeyPair("someone-else").publicKey;
  let r = await tvix(["build", examples, "-A", "hello", "--no-out-link", "--substituters", `file://${cache}`, "--trusted-public-keys", other], { home: join(work, "subst-untrusted") });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: substituter 'file:\/\/[^']*' does not have a valid signature/);
  assert.match(r.stderr, /building '[^']*hello-2\.12\.1\.drv'/);

  // with the key: substituted, nothing built, and the result runs from its closure
  const second = join(work, "subst-second");
  r = await tvix(["build", examples, "-A", "hello", "-o", join(work, "subst-result"), "--substituters", `file://${cache}`, "--trusted-public-keys", keys.publicKey], { home: second });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), hello);
  assert.match(r.stderr, /these 2 paths will be fetched/);
  assert.match(r.stderr, new RegExp(`copying path '${hello}' from 'file://${cache}'`));
  assert.doesNotMatch(r.stderr, /building/);
  const info = await tvix(["store", "path-info", "--json", hello], { home: second });
  assert.match(info.stdout, /"signatures":\["tvix-test-1:/);
  assert.ok(existsSync(join(second, "real-store", hello.slice(11), "bin", "hello")));
});

test("builtin:fetchurl derivations are fetched by the builder itself (loopback)", { skip }, async () => {
  const home = join(work, "fetchurl");
  const expr = (hash: string) => `import <nix/fetchurl.nix> { url = "http://127.0.0.1:${port}/hello.txt"; sha256 = "${hash}"; }`;
  let r = await tvix(["build", "-E", expr("sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="), "--no-out-link", "-L"], { home });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /hello\.txt> downloading 'http:\/\/127\.0\.0\.1:\d+\/hello\.txt'\.\.\./);
  // the fixed-output path Nix computes for it
  assert.equal(r.stdout, "/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt\n");
  assert.equal(readFileSync(join(home, "real-store", "gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt"), "utf8"), "hello\n");
  r = await tvix(["build", "-E", expr("sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), "--no-out-link"], { home });
  assert.equal(r.status, 102, r.stderr);
  assert.match(r.stderr, /specified: sha256-AAAA[^]*got: {4}sha256-WJG1tSLV3whtD\/CxEPvZ0hu0\/HFjrzTQgoai6Eb2vgM=/);
});

test("builtin:fetchurl tries a 503 again (download-attempts), warning in the build log", { skip }, async () => {
  const home = join(work, "fetchurl-retry");
  const expr = (file: string) => `import <nix/fetchurl.nix> { url = "http://127.0.0.1:${port}/${file}"; sha256 = "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="; }`;
  let r = await tvix(["build", "-E", expr("flaky.txt"), "--no-out-link", "-L"], { home });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(hits.get("/flaky.txt"), 2);
  assert.match(r.stderr, /flaky\.txt> warning: error: unable to download 'http:\/\/127\.0\.0\.1:\d+\/flaky\.txt': HTTP error 503; retrying in \d+ ms/);
  // one attempt: the 503 fails the build
  r = await tvix(["build", "-E", expr("flaky-once.txt"), "--no-out-link", "--option", "download-attempts", "1"], { home });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(hits.get("/flaky-once.txt"), 1);
  assert.match(r.stderr, /unable to download 'http:\/\/127\.0\.0\.1:\d+\/flaky-once\.txt': HTTP error 503/);
});

test("a built derivation's .drv is valid once the build returns (its commit overlaps the build), and so is its output", { skip }, async () => {
  const home = join(work, "drv-valid");
  const r = await tvix(["build", examples, "-A", "trivial", "--argstr", "salt", `drv-valid-${process.pid}`, "--no-out-link"], { home });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.trim();
  const info = await tvix(["store", "path-info", "--json", out], { home });
  assert.equal(info.status, 0, info.stderr);
  const drv = (await tvix(["eval", "--raw", "-E", `(import ${examples} { salt = "drv-valid-${process.pid}"; }).trivial.drvPath`], { home })).stdout.trim();
  assert.match(drv, /^\/nix\/store\/[0-9a-z]{32}-trivial\.drv$/);
  const drvInfo = await tvix(["store", "path-info", drv], { home });
  assert.equal(drvInfo.status, 0, drvInfo.stderr);
  assert.equal(drvInfo.stdout.trim(), drv);
});
