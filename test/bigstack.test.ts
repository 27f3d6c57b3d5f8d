import { test } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import { BIG_STACK_MB } from "../cmd/bigstack";

// The mechanism evaluation relies on: a worker with BIG_STACK_MB of stack
// survives recursion far deeper than the main thread's ~10k frames.
test("a big-stack worker survives 1,000,000 nested JS calls", async () => {
  const src = `const { parentPort } = require("node:worker_threads");
    const f = (n) => (n === 0 ? 0 : 1 + f(n - 1));
    parentPort.postMessage(f(1000000));`;
  const w = new Worker(src, { eval: true, resourceLimits: { stackSizeMb: BIG_STACK_MB } });
  const got = await new Promise((resolve, reject) => {
    w.on("message", resolve);
    w.on("error", reject);
  });
  assert.equal(got, 1000000);
});
