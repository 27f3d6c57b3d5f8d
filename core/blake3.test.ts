import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { initBlake3, blake3, createBlake3 } from "./blake3";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
// the official test vectors use input byte i = i % 251
const input = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 251);
const b3sumAvailable = spawnSync("sh", ["-c", "command -v b3sum"]).status === 0;

test("official test vectors", async () => {
  await initBlake3();
  assert.equal(hex(blake3(input(0))), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  assert.equal(hex(blake3(input(1))), "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213");
  assert.equal(hex(blake3(input(1024))), "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7");
  assert.equal(hex(blake3(input(1025))), "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444");
});

test("streaming equals one-shot across chunk boundaries", async () => {
  await initBlake3();
  for (const n of [1023, 1024, 1025, 2048, 4097, 70000]) {
    const data = input(n);
    const h = await createBlake3();
    for (let i = 0; i < n; i += 333) h.update(data.subarray(i, i + 333));
    assert.equal(hex(h.digest()), hex(blake3(data)), `n=${n}`);
  }
});

test("agrees with b3sum", { skip: b3sumAvailable ? false : "b3sum not installed" }, async () => {
  await initBlake3();
  for (const n of [0, 1024, 2049, 100000]) {
    const data = input(n).map((x) => (x * 7) & 0xff);
    const r = spawnSync("b3sum", ["--no-names"], { input: data, encoding: "utf8" });
    assert.equal(r.stdout.trim(), hex(blake3(data)));
  }
});
