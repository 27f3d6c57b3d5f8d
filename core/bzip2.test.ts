import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Bzip2Decoder, Bzip2Error, bunzip2 } from "./bzip2";

const haveBzip2 = spawnSync("sh", ["-c", "command -v bzip2"]).status === 0;
const bzip2 = (data: Uint8Array, level = 9): Buffer => {
  const r = spawnSync("bzip2", [`-${level}`, "-c"], { input: data, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0);
  return r.stdout;
};

// "hello\n" as bzip2 1.0.8 compresses it: checked without the tool
const HELLO = Buffer.from("QlpoOTFBWSZTWcHAgOIAAAFBAAAQAkSgADDNAMNGKZcXckU4UJDBwIDi", "base64");

test("bzip2: a known stream decodes without the tool", () => {
  assert.equal(Buffer.from(bunzip2(HELLO)).toString(), "hello\n");
});

test("bzip2: matches the bzip2 tool on edge cases, whole and fed in small pieces", { skip: !haveBzip2 && "bzip2 not installed" }, () => {
  const runs = Buffer.concat([Buffer.alloc(3, 1), Buffer.alloc(4, 2), Buffer.alloc(5, 3), Buffer.alloc(259, 4), Buffer.alloc(260, 5), Buffer.alloc(100_000, 6)]);
  const inputs: [string, Uint8Array, number?][] = [
    ["empty", new Uint8Array(0)],
    ["one byte", Buffer.from("x")],
    ["runs around the 4-byte run-length limit", runs],
    ["all byte values", Buffer.from(Array.from({ length: 256 * 40 }, (_, i) => (i * 7) & 255))],
    ["random, several 100k blocks", randomBytes(350_000), 1],
    ["text, several blocks", Buffer.from("lorem ipsum dolor sit amet ".repeat(20_000)), 1],
  ];
  for (const [what, data, level] of inputs) {
    const z = bzip2(data, level);
    assert.ok(Buffer.from(bunzip2(z)).equals(Buffer.from(data)), what);
    const d = new Bzip2Decoder();
    const parts: Uint8Array[] = [];
    for (let i = 0; i < z.length; i += 777) {
      d.push(z.subarray(i, i + 777));
      parts.push(...d.blocks());
    }
    d.end();
    parts.push(...d.blocks());
    assert.ok(Buffer.concat(parts).equals(Buffer.from(data)), `${what}, in pieces`);
  }
  // concatenated streams (pbzip2, cat a.bz2 b.bz2) read as one
  assert.equal(Buffer.from(bunzip2(Buffer.concat([bzip2(Buffer.from("ab")), bzip2(Buffer.from("cd"))]))).toString(), "abcd");
});

test("bzip2: corrupt, truncated and foreign data are clear errors", { skip: !haveBzip2 && "bzip2 not installed" }, () => {
  const z = bzip2(Buffer.from("some text to compress, some text to compress\n".repeat(1000)));
  const flipped = Buffer.from(z);
  flipped[z.length >> 1] ^= 0x10;
  assert.throws(() => bunzip2(flipped), Bzip2Error);
  assert.throws(() => bunzip2(z.subarray(0, z.length - 20)), /truncated|CRC|corrupt/);
  assert.throws(() => bunzip2(Buffer.from("not bzip2 at all")), /not bzip2 data/);
  assert.throws(() => bunzip2(Buffer.concat([z, Buffer.from("junk")])), /trailing garbage/);
  assert.throws(() => bunzip2(new Uint8Array(0)), /empty input/);
});
