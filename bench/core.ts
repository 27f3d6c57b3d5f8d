// NAR dump + sha256 against `nix-store --dump | sha256sum`, and BLAKE3
// against single-threaded b3sum, on the same data.
import { createHash } from "node:crypto";
import { writeFileSync, existsSync } from "node:fs";
import { dumpPath } from "../stores/host-tree";
import { initBlake3, blake3 } from "../core/blake3";
import { initBlake3x4, blake3 as blake3x4 } from "../stores/blake3x4";
import { time, timeShell, have, makeTree, pseudoRandom, ratioLine } from "./util";

async function narSha256(path: string): Promise<{ hex: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const c of dumpPath(path)) {
    h.update(c);
    size += c.length;
  }
  return { hex: h.digest("hex"), size };
}

const tree = makeTree("core", 12000, 6, 16); // ~100 MB small files + ~96 MB large
if (!have("nix-store")) console.log("nix-store not installed: only our numbers are printed");
// warm the page cache for both
await narSha256(tree);
const ours = await time(() => narSha256(tree));
if (have("nix-store")) {
  const theirs = timeShell(`nix-store --dump ${tree} | sha256sum`);
  const same = theirs.stdout.split(" ")[0] === ours.result.hex;
  console.log(ratioLine(`NAR+sha256 of ${(ours.result.size / 1e6).toFixed(0)} MB tree`, ours.ms, theirs.ms, ours.result.size) + (same ? "" : "  HASH MISMATCH"));
} else console.log(`NAR+sha256: ours ${ours.ms.toFixed(0)} ms`);

const big = "/tmp/tvix-bench-blake3-256M.bin";
if (!existsSync(big)) writeFileSync(big, pseudoRandom(256 * 1024 * 1024, 7));
const { readFileSync } = await import("node:fs");
const data = readFileSync(big);
await initBlake3();
blake3(data.subarray(0, 1 << 20));
const b = await time(() => blake3(data));
if (have("b3sum")) {
  timeShell(`b3sum --num-threads 1 ${big}`);
  const theirs = timeShell(`b3sum --num-threads 1 --no-names ${big}`);
  const same = theirs.stdout.trim() === Buffer.from(b.result).toString("hex");
  console.log(ratioLine("BLAKE3 of 256 MiB (hash-wasm)", b.ms, theirs.ms, data.length) + (same ? "" : "  HASH MISMATCH"));
  // the stores' own WASM SIMD kernels (stores/hash-kernels.ts), four chunks at a time
  await initBlake3x4();
  blake3x4(data.subarray(0, 1 << 20));
  const k = await time(async () => blake3x4(data));
  const sameK = Buffer.from(k.result).toString("hex") === Buffer.from(b.result).toString("hex");
  console.log(ratioLine("BLAKE3 of 256 MiB (stores kernel)", k.ms, theirs.ms, data.length) + (sameK ? "" : "  HASH MISMATCH"));
} else console.log(`BLAKE3: ours ${b.ms.toFixed(0)} ms`);
