// Running out of room: the JS stack and, on a trial run, the heap.
//
// The CLI first evaluates on the main thread (a "trial run": no worker to
// start, ~70 ms sooner). Its stack holds only ~10,000 frames and its heap is
// Node's default, so when either runs short the trial is abandoned and the
// whole evaluation is redone on the big-stack worker (cmd/bigstack.ts).
// Evaluation is deterministic, so the rerun produces the same output; the
// writes the trial already made are skipped there, not repeated.
//
// For this to be sound, no catch block may turn a stack overflow (or an
// abandoned trial) into a Nix error or a default value: such blocks call
// passFatal first.
import { setHeapGuard } from "./value";
import { lazyModule } from "../core/lazy-module";

/** The trial run stopped: its stack or heap share ran out. The CLI reruns on the big-stack worker. */
export class OutOfRoom extends Error {
  constructor(what: "stack" | "heap") {
    super(`evaluation needs more ${what} than a trial run on the main thread has`);
    this.name = "OutOfRoom";
  }
}

export function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/.test(e.message);
}

/** Rethrows what no evaluator catch block may swallow or convert: stack overflows and abandoned trials. */
export function passFatal(e: unknown): void {
  if (e instanceof OutOfRoom || isStackOverflow(e)) throw e;
}

let trial = false;
/** Whether this thread is on a trial run (see above). */
export function onTrialRun(): boolean {
  return trial;
}

/**
 * Starts a trial run: evaluation stops with OutOfRoom once the heap holds
 * more than `maxHeapBytes` (well below Node's limit, so the rerun does not
 * start with the main thread's heap nearly full, and so little work is lost).
 */
export function startTrialRun(maxHeapBytes: number): void {
  trial = true;
  // node:v8 is loaded at the first check (an evaluation big enough to get
  // there): process.memoryUsage() is ~20x dearer per call, as it reads the
  // resident set size from /proc too
  let v8: typeof import("node:v8") | null = null;
  setHeapGuard(() => {
    v8 ??= lazyModule<typeof import("node:v8")>("node:v8");
    if (v8.getHeapStatistics().used_heap_size > maxHeapBytes) throw new OutOfRoom("heap");
  });
}

/** The error to report for `e` when the trial run ends with it: OutOfRoom where the worker must take over. */
export function trialOutcome(e: unknown): unknown {
  if (trial && isStackOverflow(e)) return new OutOfRoom("stack");
  return e;
}
