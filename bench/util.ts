// Helpers for benchmarks: timing, running real Nix, deterministic data.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";

export async function time<T>(fn: () => Promise<T> | T): Promise<{ ms: number; result: T }> {
  const t0 = process.hrtime.bigint();
  const result = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result };
}

export function timeShell(cmd: string): { ms: number; stdout: string; ok: boolean } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("bash", ["-c", cmd], { encoding: "utf8", maxBuffer: 1 << 30 });
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, stdout: r.stdout, ok: r.status === 0 };
}

export function have(cmd: string): boolean {
  return spawnSync("bash", ["-c", `command -v ${cmd}`]).status === 0;
}

/** Deterministic pseudo-random bytes (xorshift), fast enough for hundreds of MB. */
export function pseudoRandom(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  const v = new Uint32Array(out.buffer, 0, n >> 2);
  let x = seed | 1;
  for (let i = 0; i < v.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    v[i] = x;
  }
  return out;
}

/**
 * A tree of `smallFiles` files of 1-16 KiB in nested directories plus
 * `largeFiles` files of `largeMiB` MiB. Created once per spec under /tmp.
 */
export function makeTree(tag: string, smallFiles: number, largeFiles: number, largeMiB: number): string {
  const root = `/tmp/tvix-bench-${tag}-${smallFiles}-${largeFiles}x${largeMiB}`;
  if (existsSync(join(root, ".done"))) return root;
  mkdirSync(root, { recursive: true });
  const blob = pseudoRandom(16 * 1024 * 1024, 42);
  for (let i = 0; i < smallFiles; i++) {
    const dir = join(root, `d${i % 100}`, `e${(i >> 7) % 20}`);
    mkdirSync(dir, { recursive: true });
    const size = 1024 + ((i * 7919) % (15 * 1024));
    const off = (i * 104729) % (blob.length - size);
    writeFileSync(join(dir, `f${i}.txt`), blob.subarray(off, off + size));
  }
  for (let i = 0; i < largeFiles; i++) writeFileSync(join(root, `large${i}.bin`), pseudoRandom(largeMiB * 1024 * 1024, 1000 + i));
  writeFileSync(join(root, ".done"), "");
  return root;
}

export function ratioLine(what: string, oursMs: number, theirsMs: number, bytes?: number): string {
  const mbps = (ms: number) => (bytes ? ` (${((bytes / 1e6) / (ms / 1000)).toFixed(0)} MB/s)` : "");
  return `${what}: ours ${oursMs.toFixed(0)} ms${mbps(oursMs)}, theirs ${theirsMs.toFixed(0)} ms${mbps(theirsMs)}, ratio ours/theirs = ${(oursMs / theirsMs).toFixed(2)}`;
}

/**
 * The common start of the build benchmarks: no substituters for nix-build,
 * the examples, ours (dist/tvix when built, else the sources through tsx)
 * and a fresh work directory /tmp/tvix-bench-NAME.
 */
export function buildBenchSetup(name: string): { root: string; examples: string; dist: string; built: boolean; tvix: string; work: string } {
  process.env.NIX_CONFIG = "substituters =\n";
  const root = join(import.meta.dirname, "..");
  const dist = join(root, "dist", "tvix");
  const built = existsSync(dist);
  const tvix = built ? dist : `${process.execPath} --import tsx ${join(root, "cmd", "main.ts")}`;
  const work = `/tmp/tvix-bench-${name}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  console.log(`ours: ${built ? "dist/tvix" : "tsx cmd/main.ts"}`);
  return { root, examples: join(root, "examples"), dist, built, tvix, work };
}
