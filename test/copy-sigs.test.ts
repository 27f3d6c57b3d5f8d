// tvix copy requires signatures by a trusted key by default (require-sigs, as
// Nix): an unsigned input-addressed path is refused by a local store, taken
// with --no-check-sigs or require-sigs = false, and taken when signed by a key
// from trusted-public-keys (flag, tvix.conf or NIX_CONFIG). Binary caches as
// targets check nothing, as Nix's.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSigningKeyPair } from "../core/signing";
import { runTvix } from "./helpers";

let work: string;
let path: string;
let pk: string;
const env = () => ({ TVIX_HOME: join(work, "home"), NIX_CONFIG: "" });

function ok(args: string[], extra: NodeJS.ProcessEnv = {}) {
  const r = runTvix(args, { env: { ...env(), ...extra } });
  assert.equal(r.status, 0, `tvix ${args.join(" ")}:\n${r.stderr}`);
  return r;
}

/** Drops the CA line so the path counts as input-addressed (the signature's fingerprint does not cover it). */
function dropCa(cache: string) {
  for (const f of readdirSync(cache).filter((n) => n.endsWith(".narinfo"))) {
    const p = join(cache, f);
    writeFileSync(p, readFileSync(p, "utf8").replace(/^CA: .*\n/m, ""));
  }
}

before(() => {
  work = mkdtempSync(join(tmpdir(), "tvix-copy-sigs-"));
  mkdirSync(join(work, "home"));
  const tree = join(work, "tree");
  mkdirSync(tree);
  writeFileSync(join(tree, "a"), "payload\n");
  path = ok(["store", "import", tree, "--store", `local://${join(work, "src")}`]).stdout.trim();
  const keys = generateSigningKeyPair("test-1");
  writeFileSync(join(work, "sk"), keys.secretKey);
  pk = keys.publicKey;
  // an unsigned cache and a signed one, both without CA fields
  ok(["copy", "--from", `local://${join(work, "src")}`, "--to", `file://${join(work, "unsigned")}`, path]);
  ok(["copy", "--from", `local://${join(work, "src")}`, "--to", `file://${join(work, "signed")}?secret-key=${join(work, "sk")}`, path]);
  dropCa(join(work, "unsigned"));
  dropCa(join(work, "signed"));
});

test("copy: an unsigned path is refused by a local store by default, nothing written", () => {
  const dst = join(work, "dst1");
  const r = runTvix(["copy", "--from", `file://${join(work, "unsigned")}`, "--to", `local://${dst}`, path], { env: env() });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /cannot add path '\/nix\/store\/[a-z0-9]{32}-tree' .*because it lacks a signature by a trusted key/);
  assert.ok(!existsSync(join(dst, "pathinfo")) || readdirSync(join(dst, "pathinfo")).length === 0);
});

test("copy: --no-check-sigs and require-sigs = false take an unsigned path", () => {
  ok(["copy", "--no-check-sigs", "--from", `file://${join(work, "unsigned")}`, "--to", `local://${join(work, "dst2")}`, path]);
  ok(["copy", "--from", `file://${join(work, "unsigned")}`, "--to", `local://${join(work, "dst3")}`, path], { NIX_CONFIG: "require-sigs = false" });
  ok(["copy", "--option", "require-sigs", "false", "--from", `file://${join(work, "unsigned")}`, "--to", `local://${join(work, "dst3b")}`, path]);
});

test("copy: a path signed by a key from trusted-public-keys (flag, NIX_CONFIG, tvix.conf) is taken; another key is not", () => {
  const from = `file://${join(work, "signed")}`;
  ok(["copy", "--trusted-public-keys", pk, "--from", from, "--to", `local://${join(work, "dst4")}`, path]);
  ok(["copy", "--from", from, "--to", `local://${join(work, "dst5")}`, path], { NIX_CONFIG: `trusted-public-keys = ${pk}` });
  writeFileSync(join(work, "home", "tvix.conf"), `trusted-public-keys = ${pk}\n`);
  try {
    ok(["copy", "--from", from, "--to", `local://${join(work, "dst6")}`, path]);
  } finally {
    writeFileSync(join(work, "home", "tvix.conf"), "");
  }
  const other = generateSigningKeyPair("other-1").publicKey;
  const r = runTvix(["copy", "--from", from, "--to", `local://${join(work, "dst7")}`, path], { env: { ...env(), NIX_CONFIG: `trusted-public-keys = ${other}` } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /lacks a signature by a trusted key \(1 signature/);
});

test("copy: a binary cache target checks nothing (as Nix)", () => {
  ok(["copy", "--from", `file://${join(work, "unsigned")}`, "--to", `file://${join(work, "cache2")}`, path]);
});
