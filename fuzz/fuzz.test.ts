// Bounded fuzzing in CI: a few thousand inputs of every target (fuzz/README.md),
// each on a worker with a watchdog; none may crash or hang. FUZZ_RUNS changes
// the count, FUZZ_SEED the seed (a failure prints both).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fuzzTarget } from "./runner";
import { TARGETS } from "./targets";

const SEED = Number(process.env.FUZZ_SEED ?? 20261205);
const RUNS: Record<string, number> = { parser: 3000, nar: 3000, drv: 4000, narinfo: 4000, unpack: 2000, daemon: 2000 };

for (const name of Object.keys(TARGETS)) {
  test(`fuzz ${name}: no crash, no hang`, async () => {
    const runs = Number(process.env.FUZZ_RUNS ?? RUNS[name]);
    // a generous limit: CI machines are loaded; the long runs use 2 s
    const r = await fuzzTarget(name, { runs, seed: SEED, hangMs: 5000 });
    const found = [...r.crashes, ...r.hangs].map((f) => `${f.kind} at input ${f.index}: ${f.message.slice(0, 300)}`);
    assert.deepEqual(found, [], `fuzz ${name} (FUZZ_SEED=${SEED}, FUZZ_RUNS=${runs})`);
    assert.equal(r.runs, runs);
    process.stderr.write(`fuzz ${name}: ${r.runs} inputs in ${(r.ms / 1000).toFixed(1)} s, ${r.outcomes} distinct outcomes\n`);
  });
}
