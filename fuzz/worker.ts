// Worker thread of the fuzz runner: runs a range of one target's inputs and
// posts findings; the input being run sits in shared memory for the watchdog.
import { parentPort, workerData } from "node:worker_threads";
import { runRange, SharedInput, type Finding } from "./engine";
import { TARGETS } from "./targets";

export interface WorkerJob {
  target: string;
  seed: number;
  from: number;
  to: number;
  hangMs: number;
  shared: SharedArrayBuffer;
}
export type WorkerMessage = { finding: Finding } | { done: { runs: number; outcomes: number } };

const job = workerData.job as WorkerJob;
const target = await TARGETS[job.target]();
const post = (m: WorkerMessage) => parentPort!.postMessage(m);
const result = await runRange(target, job.seed, job.from, job.to, {
  shared: new SharedInput(job.shared),
  hangMs: job.hangMs,
  checkEvery: 2000,
  onFinding: (finding) => post({ finding }),
});
if (target.check) {
  try {
    await target.check();
  } catch (e) {
    post({ finding: { kind: "crash", index: job.to, message: `invariant broken: ${(e as Error).message}` } });
  }
}
post({ done: result });
