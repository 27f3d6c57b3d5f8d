// Set-up shared by the tasks that evaluate (eval, instantiate, repl), on the
// main thread as a trial run or on a big-stack worker (see bigstack.ts).
import { RerunOnBigStack, callSync, type Written } from "./bigstack";
import { setSyncRunner } from "../glue/sync-calls";
import { OutOfRoom, startTrialRun } from "../eval/limits";
import { writeAll, writeErr } from "./output";

export function prepareEvalWorker(): void {
  // fetchers block on async helpers through sync calls
  setSyncRunner(callSync);
  // evaluation errors are values to us, not bugs: skip capturing JS stacks
  if (!process.env.TVIX_DEBUG) Error.stackTraceLimit = 0;
}

/** How an evaluation task is run: as a trial on the main thread, or as the rerun of one. */
export interface RunMode {
  trial?: boolean;
  /** The writes a failed trial already made: skipped by the rerun. */
  skip?: Written;
}

// A trial run gives up once the heap holds this much: an evaluation that
// big takes seconds, so the worker's start-up no longer matters, and the
// work redone there stays small. TVIX_TRIAL_HEAP_MB changes it (for tests).
const TRIAL_HEAP_BYTES = Number(process.env.TVIX_TRIAL_HEAP_MB || 768) * 1024 * 1024;

/**
 * Prepares an evaluation task: stdout/stderr writers that count what they
 * wrote (and skip what a failed trial wrote), and `attempt`, which turns a
 * trial's OutOfRoom into a request to rerun on the big-stack worker.
 */
export function prepareEvaluation(mode: RunMode): {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  attempt: <T>(fn: () => T) => T;
} {
  prepareEvalWorker();
  if (mode.trial) startTrialRun(TRIAL_HEAP_BYTES);
  const written: Written = { out: 0, err: 0 };
  const skip = mode.skip ?? { out: 0, err: 0 };
  return {
    // counted once written: a stack overflow inside the write (a trace deep
    // in the evaluation) leaves it to the rerun
    stdout: (s) => {
      if (written.out >= skip.out) writeAll(1, s);
      written.out++;
    },
    stderr: (s) => {
      if (written.err >= skip.err) writeErr(s);
      written.err++;
    },
    attempt: (fn) => {
      try {
        return fn();
      } catch (e) {
        if (e instanceof OutOfRoom) {
          if (process.env.TVIX_DEBUG) writeErr(`tvix: ${e.message}; rerunning on the big-stack worker\n`);
          throw new RerunOnBigStack(written);
        }
        throw e;
      }
    },
  };
}
