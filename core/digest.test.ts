import { test } from "node:test";
import assert from "node:assert/strict";
import * as nodeCrypto from "node:crypto";
import { spawnSync } from "node:child_process";
import { buildSync } from "esbuild";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, digestsFromBinding, tempTag } from "./digest";

const inputs: (string | Uint8Array)[] = [
  "",
  "abc",
  "naïve ☃ 𝄞", // UTF-8 of non-ASCII, as node:crypto hashes a string
  new Uint8Array(nodeCrypto.randomBytes(100_000)),
  nodeCrypto.randomBytes(7).subarray(2, 5), // a view into a bigger buffer
  new Uint8Array(nodeCrypto.randomBytes(16 * 1024)), // at the JavaScript sha256's limit
  "x".repeat(55), "y".repeat(56), "z".repeat(64), // padding that fits, and that needs another block
];

test("digests are node:crypto's, whole and in pieces, in every output form", () => {
  if (process.versions.node.startsWith("20.")) assert.equal(digestsFromBinding(), true, "Node 20 uses the binding");
  for (const algo of ["md5", "sha1", "sha256", "sha512"]) {
    for (const x of inputs) {
      const want = nodeCrypto.createHash(algo).update(x).digest();
      assert.deepEqual(createHash(algo).update(x).digest(), want, `${algo} of ${typeof x}`);
      assert.equal(createHash(algo).update(x).digest("hex"), want.toString("hex"));
      assert.equal(createHash(algo).update(x).digest("base64"), want.toString("base64"));
    }
    const h = createHash(algo);
    const n = nodeCrypto.createHash(algo);
    for (const x of inputs) {
      h.update(x);
      n.update(x);
    }
    assert.deepEqual(h.digest(), n.digest(), `${algo} in pieces`);
  }
});

test("sha256 of every length around the block and padding edges, whole and across the hand-over to node:crypto", () => {
  const data = new Uint8Array(nodeCrypto.randomBytes(40_000));
  for (const n of [0, 1, 54, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 16383, 16384, 16385, 40_000]) {
    const x = data.subarray(0, n);
    assert.equal(createHash("sha256").update(x).digest("hex"), nodeCrypto.createHash("sha256").update(x).digest("hex"), `length ${n}`);
    // in pieces that cross the hand-over point
    const h = createHash("sha256");
    for (let i = 0; i < n; i += 5000) h.update(x.subarray(i, i + 5000));
    assert.equal(h.digest("hex"), nodeCrypto.createHash("sha256").update(x).digest("hex"), `length ${n} in pieces`);
  }
  // a buffer changed after update must not change the digest
  const buf = Buffer.from("abc");
  const h = createHash("sha256").update(buf);
  buf[0] = 0;
  assert.equal(h.digest("hex"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

test("misuse is an error, not a crash", () => {
  assert.throws(() => createHash("sha3-256"), /unsupported digest/);
  // the binding's own checks abort the process: the wrapper must stop these first
  assert.throws(() => createHash("sha256").update(42 as unknown as string), TypeError);
  assert.throws(() => createHash("sha256").update(null as unknown as string), TypeError);
  const h = createHash("sha256");
  h.digest();
  assert.throws(() => h.digest(), /finalised|already called/i);
  assert.throws(() => h.update("x"), /finalised|already called/i);
});

test("hashing loads neither node:crypto nor a deprecation warning", () => {
  // a fresh plain node running a file (tsx, and node -e, load node:crypto themselves): digest.ts bundled on its own
  const bundle = buildSync({
    entryPoints: [new URL("./digest.ts", import.meta.url).pathname],
    bundle: true,
    platform: "node",
    format: "cjs",
    write: false,
    logLevel: "silent",
    define: { "import.meta.url": "__url" },
    banner: { js: 'const __url = require("node:url").pathToFileURL(__filename).href;' },
  });
  const dir = mkdtempSync(join(tmpdir(), "tvix-digest-"));
  const file = join(dir, "t.cjs");
  writeFileSync(
    file,
    `${bundle.outputFiles[0].text}
    const d = module.exports.createHash("sha256").update("abc").digest("hex");
    const loaded = process.moduleLoadList.some((m) => m === "NativeModule crypto");
    process.stdout.write(JSON.stringify({ d, loaded }));`,
  );
  const r = spawnSync(process.execPath, [file], { encoding: "utf8" });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(out.loaded, false);
  assert.doesNotMatch(r.stderr, /Deprecat|Warning/);
});

test("temporary tags are hex of the asked length, and differ", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const t = tempTag(6);
    assert.match(t, /^[0-9a-f]{12}$/);
    seen.add(t);
  }
  assert.ok(seen.size > 95);
});
