// Runs one target's inputs on a worker thread with a watchdog: an input that
// never returns (a loop, a promise never settled) is reported as a hang and
// the worker is replaced; a worker that dies (out of memory, an abort) is
// reported as a crash and replaced. Both go on from the next input.
import { Worker } from "node:worker_threads";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SharedInput, type Finding } from "./engine";
import { fuzzDir, repoRoot } from "./seeds";
import type { WorkerJob, WorkerMessage } from "./worker";

export interface FuzzOptions {
  runs: number;
  seed: number;
  /** An input slower than this is a hang. */
  hangMs: number;
  /** Heap limit of the worker (MB): more is a crash. */
  heapMb?: number;
  /**
   * A fresh worker every this many inputs: what a module keeps by design for
   * the life of a process (every parsed source, for positions) must not add
   * up to a false out-of-memory crash over millions of inputs.
   */
  recycleEvery?: number;
  progress?: (runsDone: number) => void;
  /** Called as each crash or hang is found. */
  onFinding?: (f: Finding) => void;
}

export interface FuzzResult {
  target: string;
  runs: number;
  crashes: Finding[];
  hangs: Finding[];
  ms: number;
  /** Distinct outcomes seen (kinds of errors and successes). */
  outcomes: number;
  restarts: number;
}

const MAX_INPUT = 256 * 1024;

export async function fuzzTarget(target: string, opts: FuzzOptions): Promise<FuzzResult> {
  const start = Date.now();
  const res: FuzzResult = { target, runs: 0, crashes: [], hangs: [], ms: 0, outcomes: 0, restarts: 0 };
  let from = 0;
  const found = (f: Finding) => {
    (f.kind === "hang" ? res.hangs : res.crashes).push(f);
    opts.onFinding?.(f);
  };
  while (from < opts.runs) {
    const shared = SharedInput.create(MAX_INPUT);
    Atomics.store(shared.head, 0, from - 1);
    const to = Math.min(opts.runs, from + (opts.recycleEvery ?? 100_000));
    const job: WorkerJob = { target, seed: opts.seed, from, to, hangMs: opts.hangMs, shared: shared.buffer };
    const end = await new Promise<{ next: number; done?: { runs: number; outcomes: number } }>((resolve) => {
      const w = new Worker(new URL(pathToFileURL(join(repoRoot, "scripts", "tsx-worker.mjs"))), {
        workerData: { tvixEntry: pathToFileURL(join(fuzzDir, "worker.ts")).href, job },
        resourceLimits: { maxOldGenerationSizeMb: opts.heapMb ?? 1024, stackSizeMb: 4 },
      });
      let settled = false;
      const finish = (v: { next: number; done?: { runs: number; outcomes: number } }) => {
        if (settled) return;
        settled = true;
        clearInterval(watch);
        void w.terminate();
        resolve(v);
      };
      let lastIndex = -2;
      const watch = setInterval(() => {
        const i = shared.index;
        if (i !== lastIndex) {
          lastIndex = i;
          opts.progress?.(i - from + res.runs);
        }
        // in-worker timing reports slow inputs; this catches the ones that never come back
        if (i >= from && shared.runningMs > opts.hangMs * 3 + 5000) {
          found({ kind: "hang", index: i, message: `no answer after ${shared.runningMs} ms`, input: shared.current() });
          res.runs += i - from + 1;
          finish({ next: i + 1 });
        }
      }, 250);
      w.on("message", (m: WorkerMessage) => {
        if ("finding" in m) found(m.finding);
        else finish({ next: to, done: m.done });
      });
      const died = (why: string) => {
        if (settled) return;
        const i = shared.index;
        if (i < from) {
          // the worker could not even start: not a finding, a broken setup
          found({ kind: "crash", index: -1, message: `the fuzz worker did not start: ${why}` });
          finish({ next: opts.runs });
          return;
        }
        found({ kind: "crash", index: i, message: `the worker died: ${why}`, input: shared.current() });
        res.runs += i - from + 1;
        finish({ next: i + 1 });
      };
      w.on("error", (e) => died(`${e.name}: ${e.message}`));
      w.on("exit", (code) => died(`exit code ${code}`));
    });
    if (end.done) {
      res.runs += end.done.runs;
      res.outcomes = Math.max(res.outcomes, end.done.outcomes);
    } else res.restarts++;
    from = end.next;
  }
  res.ms = Date.now() - start;
  return res;
}
