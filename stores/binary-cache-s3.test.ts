import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import "./backends";
import { openStore } from "./url";
import { narFromTree } from "../core/nar";
import { hashBytes } from "../core/hash";
import { makeFixedOutputPath } from "../core/store-path";
import type { NixPathInfo } from "./types";
import { collect, once } from "./stream-util";
import { pseudoRandomBytes } from "./test-data";

const require = createRequire(import.meta.url);
const S3rver = require("s3rver");

let server: { run(): Promise<AddressInfo>; close(): Promise<void> };
let dir: string;
let endpoint: string;

before(async () => {
  process.env.AWS_ACCESS_KEY_ID = "S3RVER";
  process.env.AWS_SECRET_ACCESS_KEY = "S3RVER";
  dir = mkdtempSync(join(tmpdir(), "tvix-s3rver-"));
  server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: dir, configureBuckets: [{ name: "cache", configs: [] }] });
  const addr = await server.run();
  endpoint = `http://127.0.0.1:${addr.port}`;
});

after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function sample(size: number, seed: number): { info: NixPathInfo; nar: Uint8Array } {
  const nar = narFromTree({ type: "regular", executable: false, contents: pseudoRandomBytes(size, seed) });
  const h = hashBytes("sha256", nar);
  const sp = makeFixedOutputPath(`blob-${size}`, h, true);
  return { info: { storePath: sp.toAbsolute(), narHash: h.format("nix32", true), narSize: nar.length, references: [], signatures: [] }, nar };
}

test("s3:// write and read back, small and multipart NARs, listing", async () => {
  const url = `s3://cache/some/prefix?endpoint=${endpoint}&region=us-east-1&compression=none`;
  const store = await openStore(url);
  const small = sample(1000, 1);
  const big = sample(40 * 1024 * 1024 + 123, 2); // > 16 MiB: multipart (3 parts)
  await store.addToStore(small.info, once(small.nar));
  await store.addToStore(big.info, once(big.nar));
  const again = await openStore(url);
  assert.equal((await again.queryPathInfo(big.info.storePath))?.narSize, big.nar.length);
  const got = await collect(again.narFromPath(big.info.storePath));
  assert.ok(Buffer.from(got).equals(Buffer.from(big.nar)));
  assert.ok(Buffer.from(await collect(again.narFromPath(small.info.storePath))).equals(Buffer.from(small.nar)));
  const listed: string[] = [];
  for await (const p of again.listPaths()) listed.push(p);
  assert.deepEqual(listed.sort(), [small.info.storePath, big.info.storePath].sort());
  assert.equal(await again.queryPathInfo("/nix/store/" + "1".repeat(32) + "-absent"), null);
  await store.close();
  await again.close();
});

test("s3:// failed writes leave the bucket unchanged", async () => {
  const url = `s3://cache/failing?endpoint=${endpoint}&compression=zstd`;
  const store = await openStore(url);
  const p = sample(5000, 3);
  const bad = new Uint8Array(p.nar);
  bad[bad.length - 20] ^= 1;
  await assert.rejects(store.addToStore(p.info, once(bad)), /hash mismatch/);
  const listed: string[] = [];
  for await (const x of store.listPaths()) listed.push(x);
  assert.deepEqual(listed, []);
  assert.equal(await store.queryPathInfo(p.info.storePath), null);
  await store.close();
});

test("s3:// errors name the bucket", async () => {
  await assert.rejects(openStore(`s3://no-such-bucket?endpoint=${endpoint}`), /s3:\/\/no-such-bucket/);
});
