// Two tvix installations (two TVIX_HOMEs) sharing a signed S3 binary cache
// (s3rver on loopback): the first builds and uploads each build's outputs
// as it goes (--post-build-upload), the second substitutes every output
// and builds nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./helpers";
import { bwrapUnavailable } from "../builders/bwrap";
import { generateSigningKeyPair } from "../core/signing";

const require = createRequire(import.meta.url);
const S3rver = require("s3rver");

const examples = join(repoRoot, "examples");
const missing = ["/bin/busybox", "/bin/bash-static"].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(", ")}` : (bwrapUnavailable() ?? false);

let work: string;
let server: { run(): Promise<AddressInfo>; close(): Promise<void> };
let endpoint: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "tvix-shared-cache-"));
  chmodSync(work, 0o755);
  process.env.AWS_ACCESS_KEY_ID = "S3RVER";
  process.env.AWS_SECRET_ACCESS_KEY = "S3RVER";
  server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: join(work, "s3"), configureBuckets: [{ name: "shared", configs: [] }] });
  endpoint = `http://127.0.0.1:${(await server.run()).port}`;
});

after(async () => {
  await server.close();
  rmSync(work, { recursive: true, force: true });
});

function tvix(args: string[], home: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "cmd/main.ts"), ...args, "--option", "real-store-dir", join(home, "real-store"), "--no-out-link"], {
      cwd: repoRoot,
      env: { ...process.env, TVIX_HOME: home, TVIX_CONF_DIR: "/nonexistent", CI: "1" },
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c) => (stdout += c));
    p.stderr.on("data", (c) => (stderr += c));
    p.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

test("two TVIX_HOMEs sharing a signed S3 cache: one builds and uploads (--post-build-upload), the other substitutes every output", { skip }, async () => {
  const keys = generateSigningKeyPair("shared-cache-1");
  const sk = join(work, "secret-key");
  writeFileSync(sk, keys.secretKey);
  const cache = `s3://shared/builds?endpoint=${encodeURIComponent(endpoint)}&region=us-east-1`;
  const expr = `(import ${examples} { salt = "shared-${process.pid}"; })`;

  const a = await tvix(["build", "-E", expr, "-A", "hello", "-A", "trivial", "--post-build-upload", `${cache}&secret-key=${encodeURIComponent(sk)}`], join(work, "a"));
  assert.equal(a.status, 0, a.stderr);
  const built = (a.stderr.match(/^building '/gm) ?? []).length;
  assert.equal(built, 4, a.stderr);

  const b = await tvix(["build", "-E", expr, "-A", "hello", "-A", "trivial", "--substituters", cache, "--trusted-public-keys", keys.publicKey], join(work, "b"));
  assert.equal(b.status, 0, b.stderr);
  assert.equal(b.stdout, a.stdout);
  assert.doesNotMatch(b.stderr, /^building /m);
  // every output of the first's builds (and their inputs) came from the cache
  assert.match(b.stderr, /^these \d+ paths will be fetched/m);
  for (const out of a.stdout.trim().split("\n")) assert.match(b.stderr, new RegExp(`^copying path '${out}' from 's3://shared/builds'`, "m"));
  assert.match(b.stderr, /^copying path '\/nix\/store\/\S+-tools' from 's3:\/\/shared\/builds'/m);
});
