// The measuring half of bench/parse.ts, bundled and run in a fresh process:
// `parse-pass.mjs <dir-or-file> <warm passes>` parses every .nix file once
// (cold: nothing JIT-compiled yet), then <warm passes> more times, and prints
// {cold, coldCpu, warm, warmCpu, errors} (ms: wall and CPU time of
// this process, all threads, so concurrent GC and JIT work counts) as JSON.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse } from "../../eval/parser";

export function nixFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) nixFiles(p, out);
    else if (name.endsWith(".nix")) out.push(p);
  }
  return out;
}

interface Input { file: string; src: string }

/** One parse of every input: wall and CPU ms, and the number of parse errors. */
function pass(inputs: Input[]): { ms: number; cpu: number; errors: number } {
  let errors = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (const { file, src } of inputs) {
    try {
      parse(src, file, dirname(file));
    } catch {
      errors++;
    }
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  return { ms, cpu: (c.user + c.system) / 1000, errors };
}

function main(which: string, warmPasses: number): void {
  const files = statSync(which).isDirectory() ? nixFiles(which) : [which];
  const inputs = files.map((file) => ({ file, src: readFileSync(file, "utf8") }));
  const cold = pass(inputs);
  let warm = Infinity;
  let warmCpu = Infinity;
  for (let i = 0; i < warmPasses; i++) {
    const w = pass(inputs);
    warm = Math.min(warm, w.ms);
    warmCpu = Math.min(warmCpu, w.cpu);
  }
  console.log(JSON.stringify({ cold: cold.ms, coldCpu: cold.cpu, warm, warmCpu, errors: cold.errors }));
}

if (process.argv[2]) main(process.argv[2], Number(process.argv[3] ?? 0));
