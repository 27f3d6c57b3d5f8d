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
import { nodeBinding } from "../core/node-binding";

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
  setHeapGuard(() => {
    if (usedHeapBytes() > maxHeapBytes) throw new OutOfRoom("heap");
  });
}

interface V8Binding {
  heapStatisticsBuffer: Float64Array;
  updateHeapStatisticsBuffer(): void;
  kUsedHeapSizeIndex: number;
}
let heapStats: (() => number) | null = null;

/**
 * The V8 heap's used bytes, as v8.getHeapStatistics() reads them: from the
 * binding node:v8 itself reads, as loading node:v8 loads the stream modules
 * (~5 ms); process.memoryUsage() is ~20x dearer per call (it reads the
 * resident set size from /proc too).
 */
function usedHeapBytes(): number {
  if (heapStats === null) {
    const b = nodeBinding<V8Binding>("v8");
    const buf = b?.heapStatisticsBuffer;
    const update = b?.updateHeapStatisticsBuffer;
    const at = b?.kUsedHeapSizeIndex;
    if (buf instanceof Float64Array && typeof update === "function" && typeof at === "number")
      heapStats = () => {
        update.call(b);
        return buf[at];
      };
    if (heapStats === null) {
      const v8 = lazyModule<typeof import("node:v8")>("node:v8");
      heapStats = () => v8.getHeapStatistics().used_heap_size;
    }
  }
  return heapStats();
}

/** The error to report for `e` when the trial run ends with it: OutOfRoom where the worker must take over. */
export function trialOutcome(e: unknown): unknown {
  if (trial && isStackOverflow(e)) return new OutOfRoom("stack");
  return e;
}
