// The fuzz command: npm run fuzz -- [TARGET...] [--runs N] [--seed S] [--hang-ms MS] [--out DIR]
// Runs each target (all when none is named) one after the other, prints a
// line per target, saves each crash or hang input as DIR/<target>-<kind>-<index>.bin
// (default fuzz/findings) and exits 1 when there was any.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fuzzTarget } from "./runner";
import { TARGETS } from "./targets";
import { fuzzDir } from "./seeds";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: "string", default: "10000" },
    seed: { type: "string", default: "1" },
    "hang-ms": { type: "string", default: "2000" },
    out: { type: "string", default: join(fuzzDir, "findings") },
  },
});
const names = positionals.length ? positionals : Object.keys(TARGETS);
for (const n of names) if (!TARGETS[n]) throw new Error(`unknown fuzz target '${n}' (known: ${Object.keys(TARGETS).join(", ")})`);
const runs = Number(values.runs);
const seed = Number(values.seed);
let failed = false;
for (const name of names) {
  let last = Date.now();
  let done = 0;
  let findings = 0;
  const started = Date.now();
  // stopped early (a time box): say how far it got
  const stop = () => {
    console.log(`${name}: stopped after ${done} inputs, ${findings} crashes or hangs, ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${seed}`);
    process.exit(findings ? 1 : 2);
  };
  process.once("SIGINT", stop).once("SIGTERM", stop);
  const r = await fuzzTarget(name, {
    runs,
    seed,
    hangMs: Number(values["hang-ms"]),
    progress: (n) => {
      done = n;
      if (Date.now() - last < 30_000) return;
      last = Date.now();
      process.stderr.write(`${name}: ${n} inputs\n`);
    },
    onFinding: (f) => {
      failed = true;
      findings++;
      mkdirSync(values.out!, { recursive: true });
      const file = join(values.out!, `${name}-${f.kind}-${f.index}.bin`);
      if (f.input) writeFileSync(file, f.input);
      console.log(`${name}: ${f.kind} at input ${f.index}: ${f.message.slice(0, 300)}${f.input ? ` (saved to ${file})` : ""}`);
    },
  });
  process.off("SIGINT", stop).off("SIGTERM", stop);
  console.log(
    `${name}: ${r.runs} inputs, ${r.crashes.length} crashes, ${r.hangs.length} hangs, ${(r.ms / 1000).toFixed(1)} s, ${r.outcomes} distinct outcomes, seed ${seed}`,
  );
}
process.exit(failed ? 1 : 0);
