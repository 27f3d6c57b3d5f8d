import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { decodeNixBase32, encodeNixBase32 } from "./nixbase32";
import { Hash, hashBytes, compressHash, parseHashAlgo } from "./hash";

test("nix32 round-trips and matches known values", () => {
  assert.equal(encodeNixBase32(new Uint8Array(0)), "");
  // sha256("hello\n") as printed by `nix-hash --type sha256 --flat --base32`
  assert.equal(hashBytes("sha256", "hello\n").toNixBase32(), "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq");
  for (const n of [1, 2, 5, 16, 20, 32, 64]) {
    const b = new Uint8Array(randomBytes(n));
    assert.deepEqual(decodeNixBase32(encodeNixBase32(b)), b);
  }
});

test("nix32 rejects bad characters, lengths and padding bits", () => {
  assert.throws(() => decodeNixBase32("e".repeat(52)), /invalid character 'e'/);
  assert.throws(() => decodeNixBase32("0".repeat(51)), /length/);
  // 52 chars encode 32 bytes (260 bits): the top 4 bits of the first char must be 0
  assert.throws(() => decodeNixBase32("z" + "0".repeat(51)), /padding/);
});

test("Hash.parse accepts every form Nix accepts", () => {
  const h = hashBytes("sha256", "abc");
  for (const s of [h.format("base16", true), h.format("nix32", true), h.format("base64", true), h.toSRI()]) assert.ok(Hash.parse(s).equals(h), s);
  for (const s of [h.toBase16(), h.toNixBase32(), h.toBase64()]) assert.ok(Hash.parse(s, "sha256").equals(h), s);
  assert.throws(() => Hash.parse(h.toBase16()), /does not include a type/);
  assert.throws(() => Hash.parse(h.toSRI(), "sha1"), /should have type 'sha1'/);
  assert.throws(() => Hash.parse("sha256:abc"), /wrong length/);
  assert.throws(() => Hash.parse("foo:abc"), /unknown hash algorithm 'foo'/);
  assert.throws(() => parseHashAlgo("sha3"), /unknown hash algorithm/);
  const m = hashBytes("md5", "");
  assert.equal(m.toBase16(), "d41d8cd98f00b204e9800998ecf8427e");
  assert.ok(Hash.parse(m.toNixBase32(), "md5").equals(m));
});

test("compressHash XOR-folds", () => {
  assert.deepEqual(compressHash(new Uint8Array([1, 2, 3, 4, 5]), 2), new Uint8Array([1 ^ 3 ^ 5, 2 ^ 4]));
});
