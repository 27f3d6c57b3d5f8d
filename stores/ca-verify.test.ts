import { test } from "node:test";
import assert from "node:assert/strict";
import { caVerifier, FlatContentHasher, formatContentAddress } from "./ca-verify";
import { hashBytes } from "../core/hash";
import { narFromTree } from "../core/nar";
import { tee } from "./stream-util";

test("a flat content hash is found in a NAR cut anywhere; other NARs are not flat", () => {
  const contents = new Uint8Array(5000).map((_, i) => i & 0xff);
  for (const executable of [false, true]) {
    const nar = narFromTree({ type: "regular", executable, contents });
    for (const step of [1, 5, 97, 4096, nar.length]) {
      const h = new FlatContentHasher("sha1");
      for (let i = 0; i < nar.length; i += step) h.update(nar.subarray(i, i + step));
      assert.ok(h.result()?.equals(hashBytes("sha1", contents)), `step ${step}`);
    }
  }
  const dir = new FlatContentHasher("sha256");
  dir.update(narFromTree({ type: "directory", entries: new Map() }));
  assert.equal(dir.result(), null);
});

test("caVerifier accepts what the address says and names the mismatch otherwise", () => {
  const contents = new TextEncoder().encode("hello");
  const nar = narFromTree({ type: "regular", executable: false, contents });
  const narHash = hashBytes("sha256", nar);
  const ok = (ca: string) => {
    const v = caVerifier("/nix/store/p", ca);
    v.update(nar);
    v.finish(narHash);
  };
  ok(formatContentAddress("text", hashBytes("sha256", contents)));
  ok(formatContentAddress("flat", hashBytes("md5", contents)));
  ok(formatContentAddress("recursive", narHash));
  ok(formatContentAddress("recursive", hashBytes("sha1", nar)));
  assert.throws(() => ok(formatContentAddress("text", hashBytes("sha256", "other"))), /ca hash mismatch importing path '\/nix\/store\/p'/);
});

test("tee: every branch sees every chunk; a source error and abort() reach them all", async () => {
  async function* src(fail: boolean) {
    for (let i = 0; i < 50; i++) yield new Uint8Array([i]);
    if (fail) throw new Error("source broke");
  }
  const t = tee(src(false), 3, 4);
  const read = async (b: AsyncIterable<Uint8Array>) => {
    const out: number[] = [];
    for await (const c of b) out.push(c[0]);
    return out;
  };
  const all = await Promise.all(t.branches.map(read));
  for (const a of all) assert.deepEqual(a, Array.from({ length: 50 }, (_, i) => i));
  const t2 = tee(src(true), 2);
  await Promise.all(t2.branches.map((b) => assert.rejects(read(b), /source broke/)));
  const t3 = tee(src(false), 2, 2);
  const slow = read(t3.branches[1]);
  t3.abort(new Error("stop"));
  await assert.rejects(read(t3.branches[0]), /stop/);
  await assert.rejects(slow, /stop/);
});
