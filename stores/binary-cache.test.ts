import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:http";
import { DEFAULT_HTTP_LIMITS, setHttpLimitsSource } from "./http";
import type { AddressInfo } from "node:net";
import "./backends";
import { openStore } from "./url";
import { narFromTree } from "../core/nar";
import { hashBytes } from "../core/hash";
import { makeFixedOutputPath } from "../core/store-path";
import { generateSigningKeyPair } from "../core/signing";
import type { NixPathInfo, NixStore } from "./types";
import { collect, once } from "./stream-util";

function samplePath(content: string, refs: string[] = []): { info: NixPathInfo; nar: Uint8Array } {
  const nar = narFromTree({
    type: "directory",
    entries: new Map([
      ["f", { type: "regular", executable: false, contents: new TextEncoder().encode(content) }],
      ["x", { type: "regular", executable: true, contents: new Uint8Array(100_000).fill(7) }],
    ]),
  });
  const narHash = hashBytes("sha256", nar);
  const sp = makeFixedOutputPath("sample-" + content.length, narHash, true, refs);
  return { info: { storePath: sp.toAbsolute(), narHash: narHash.format("nix32", true), narSize: nar.length, references: refs, signatures: [] }, nar };
}

const tmp = () => mkdtempSync(join(tmpdir(), "tvix-bc-"));

async function roundTrip(store: NixStore, p: { info: NixPathInfo; nar: Uint8Array }) {
  await store.addToStore(p.info, once(p.nar));
  const got = await store.queryPathInfo(p.info.storePath);
  assert.ok(got);
  assert.equal(got.narHash, p.info.narHash);
  assert.equal(got.narSize, p.info.narSize);
  assert.deepEqual(Buffer.from(await collect(store.narFromPath(p.info.storePath))), Buffer.from(p.nar));
}

for (const compression of ["none", "xz", "zstd", "bzip2", "gzip", "br"]) {
  test(`file:// round trip with compression=${compression}`, async () => {
    const dir = tmp();
    const store = await openStore(`file://${dir}?compression=${compression}`);
    const p = samplePath("hello " + compression);
    await roundTrip(store, p);
    const ni = readdirSync(dir).find((f) => f.endsWith(".narinfo"))!;
    const text = readFileSync(join(dir, ni), "utf8");
    assert.match(text, new RegExp(`Compression: ${compression}\n`));
    assert.ok(readFileSync(join(dir, "nix-cache-info"), "utf8").startsWith("StoreDir: /nix/store\n"));
    assert.deepEqual(readdirSync(join(dir, "nar")).filter((f) => f.startsWith(".tmp")), []);
    assert.deepEqual(await (async () => { const l = []; for await (const x of store.listPaths()) l.push(x); return l; })(), [p.info.storePath]);
    await store.close();
    rmSync(dir, { recursive: true });
  });
}

test("writes verify the NAR hash and size and leave the cache unchanged on failure", async () => {
  const dir = tmp();
  const store = await openStore(`file://${dir}?compression=xz`);
  const p = samplePath("abc");
  const bad = new Uint8Array(p.nar);
  bad[200] ^= 1;
  await assert.rejects(store.addToStore(p.info, once(bad)), /hash mismatch/);
  await assert.rejects(store.addToStore(p.info, once(p.nar.subarray(0, 500))), /size mismatch/);
  await assert.rejects(store.addToStore(p.info, once(Buffer.concat([p.nar, Buffer.alloc(8)]))), /size mismatch/);
  const broken = (async function* () {
    yield p.nar.subarray(0, 100);
    throw new Error("connection reset");
  })();
  await assert.rejects(store.addToStore(p.info, broken), /connection reset/);
  assert.deepEqual(readdirSync(dir).sort(), ["nar", "nix-cache-info"]);
  assert.deepEqual(readdirSync(join(dir, "nar")), []);
  assert.equal(await store.queryPathInfo(p.info.storePath), null);
});

test("reads verify narinfo StorePath, signatures, file hash and NAR hash", async () => {
  const dir = tmp();
  const kp = generateSigningKeyPair("test-1");
  writeFileSync(join(dir, "sk"), kp.secretKey);
  const w = await openStore(`file://${dir}?compression=none&secret-key=${join(dir, "sk")}`);
  const p = samplePath("signed");
  const q = samplePath("other content");
  await w.addToStore(p.info, once(p.nar));
  await w.addToStore(q.info, once(q.nar));
  const other = generateSigningKeyPair("test-1");
  const good = await openStore(`file://${dir}?trusted-public-keys=${encodeURIComponent(kp.publicKey)}`);
  assert.ok(await good.queryPathInfo(p.info.storePath));
  const wrongKey = await openStore(`file://${dir}?trusted-public-keys=${other.publicKey}`);
  await assert.rejects(wrongKey.queryPathInfo(p.info.storePath), /no valid signature by a trusted key/);
  const unchecked = await openStore(`file://${dir}?trusted-public-keys=${other.publicKey}&check-sigs=false`);
  assert.ok(await unchecked.queryPathInfo(p.info.storePath));

  // a narinfo that describes another path
  const hp = p.info.storePath.slice(11, 43);
  const hq = q.info.storePath.slice(11, 43);
  const niP = readFileSync(join(dir, `${hp}.narinfo`), "utf8");
  writeFileSync(join(dir, `${hp}.narinfo`), readFileSync(join(dir, `${hq}.narinfo`)));
  const r1 = await openStore(`file://${dir}`);
  await assert.rejects(r1.queryPathInfo(p.info.storePath), /describes .* not the requested/);
  writeFileSync(join(dir, `${hp}.narinfo`), niP);

  // corrupt NAR file: the file hash catches it
  const url = /URL: (.*)/.exec(niP)![1];
  const f = join(dir, url);
  const orig = readFileSync(f);
  const corrupt = Buffer.from(orig);
  corrupt[300] ^= 0xff;
  writeFileSync(f, corrupt);
  const r2 = await openStore(`file://${dir}`);
  await assert.rejects(collect(r2.narFromPath(p.info.storePath)), /hash mismatch/);
  // without FileHash the NAR hash still catches it
  writeFileSync(join(dir, `${hp}.narinfo`), niP.replace(/FileHash.*\n/, "").replace(/FileSize.*\n/, ""));
  const r3 = await openStore(`file://${dir}`);
  await assert.rejects(collect(r3.narFromPath(p.info.storePath)), /NAR of .* hash mismatch/);
  writeFileSync(f, orig.subarray(0, orig.length - 50));
  await assert.rejects(collect(r3.narFromPath(p.info.storePath)), /size mismatch/);
});

/** Answers a request with the file under `dir` it names (404 when there is none). */
function serveFile(dir: string, req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse): void {
  try {
    const body = readFileSync(join(dir, decodeURIComponent(req.url!.slice(1))));
    res.writeHead(200).end(req.method === "HEAD" ? undefined : body);
  } catch {
    res.writeHead(404).end();
  }
}

test("http:// reads a cache served over HTTP and refuses writes", async () => {
  const dir = tmp();
  const w = await openStore(`file://${dir}?compression=zstd`);
  const p = samplePath("over http");
  await w.addToStore(p.info, once(p.nar));
  const server = createServer((req, res) => serveFile(dir, req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as AddressInfo).port;
    const store = await openStore(`http://127.0.0.1:${port}`);
    const info = await store.queryPathInfo(p.info.storePath);
    assert.equal(info?.narHash, p.info.narHash);
    assert.equal(await store.queryPathInfo("/nix/store/" + "0".repeat(32) + "-missing"), null);
    assert.deepEqual(Buffer.from(await collect(store.narFromPath(p.info.storePath))), Buffer.from(p.nar));
    const q = samplePath("new");
    await assert.rejects(store.addToStore(q.info, once(q.nar)), /not implemented: writing to http binary caches/);
    await assert.rejects(openStore(`http://127.0.0.1:${port}/nothing-here`), /not a Nix binary cache/);
  } finally {
    server.close();
  }
});

test("http:// reads are retried with backoff after failed connections and 5xx, not after 404", async () => {
  const dir = tmp();
  const w = await openStore(`file://${dir}?compression=zstd`);
  const p = samplePath("flaky http");
  await w.addToStore(p.info, once(p.nar));
  const seen = new Map<string, number>();
  const server = createServer((req, res) => {
    const n = (seen.get(req.url!) ?? 0) + 1;
    seen.set(req.url!, n);
    // every file: a dropped connection, then a 503, then the file
    if (n === 1) return req.socket.destroy();
    if (n === 2) return void res.writeHead(503).end();
    serveFile(dir, req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const saved = process.env.TVIX_HTTP_RETRY_BASE_MS;
  process.env.TVIX_HTTP_RETRY_BASE_MS = "5";
  try {
    const port = (server.address() as AddressInfo).port;
    const store = await openStore(`http://127.0.0.1:${port}`);
    assert.equal((await store.queryPathInfo(p.info.storePath))?.narHash, p.info.narHash);
    assert.deepEqual(Buffer.from(await collect(store.narFromPath(p.info.storePath))), Buffer.from(p.nar));
    assert.equal(seen.get("/nix-cache-info"), 3);
    // a missing path: tried until the server answers 404, then no more
    const missing = "/nix/store/" + "0".repeat(32) + "-missing";
    assert.equal(await store.queryPathInfo(missing), null);
    assert.equal(seen.get(`/${"0".repeat(32)}.narinfo`), 3);
    // a server that keeps failing: the error after the last try
    setHttpLimitsSource(async () => ({ ...DEFAULT_HTTP_LIMITS, downloadAttempts: 2 }));
    server.removeAllListeners("request");
    server.on("request", (_req, res) => res.writeHead(500).end());
    await assert.rejects(store.queryPathInfo("/nix/store/" + "1".repeat(32) + "-x"), /HTTP 500/);
  } finally {
    if (saved === undefined) delete process.env.TVIX_HTTP_RETRY_BASE_MS;
    else process.env.TVIX_HTTP_RETRY_BASE_MS = saved;
    setHttpLimitsSource(async () => DEFAULT_HTTP_LIMITS);
    server.close();
  }
});

test("unknown parameters and compressions are rejected", async () => {
  await assert.rejects(openStore(`file://${tmp()}?compresion=xz`), /unknown store parameter 'compresion'/);
  await assert.rejects(openStore(`file://${tmp()}?compression=lzip`), /unknown compression method 'lzip'/);
});
