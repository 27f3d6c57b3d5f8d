// The worker side of `tvix repl`: a ReplSession answering one input per
// message from the main thread (which owns the terminal). An evaluation is
// interrupted (Ctrl-C) through a shared flag, checked every few thousand
// thunk evaluations.
import { prepareEvalWorker } from "./eval-worker";
import { parentPort } from "node:worker_threads";
import { ReplSession } from "../eval/repl";
import { setHeapGuard } from "../eval/value";
import { cliEvalHost } from "./eval-host";

export interface ReplPayload {
  nixPath: string[];
  cwd: string;
  colour: boolean;
  storeUrl?: string;
  /** [0] set to 1 by the terminal side: stop the evaluation in progress */
  interrupt: Int32Array;
}

export type ReplRequest = { line: string } | { complete: string };

/** What an interrupted evaluation throws: no evaluator catch block turns it into a value (repl-print rethrows it). */
export class Interrupted extends Error {
  constructor() {
    super("interrupted by the user");
    this.name = "Interrupted";
  }
}

export async function replTask(payload: ReplPayload): Promise<number> {
  prepareEvalWorker();
  // writes are recorded so that :b can put the derivations it builds in the store
  const { host, glue } = cliEvalHost({ writes: true, storeUrl: payload.storeUrl });
  const { replBuilds } = await import("./build-now");
  const builds = replBuilds(glue.io, payload.storeUrl, (s) => parentPort!.postMessage({ out: s }));
  const session = new ReplSession(payload.nixPath, payload.cwd, host, { colour: payload.colour, builds });
  session.state.traceSink = (m) => parentPort!.postMessage({ err: m + "\n" });
  setHeapGuard(() => {
    if (Atomics.load(payload.interrupt, 0) !== 0) throw new Interrupted();
  });
  return new Promise((resolve) => {
    const onMessage = async (m: ReplRequest) => {
      if ("complete" in m) {
        parentPort!.postMessage({ completion: session.complete(m.complete) });
        return;
      }
      Atomics.store(payload.interrupt, 0, 0);
      const r = await session.handleAsync(m.line);
      parentPort!.postMessage({ ...r, done: true });
      if (r.quit) {
        parentPort!.off("message", onMessage);
        resolve(0);
      }
    };
    parentPort!.on("message", onMessage);
  });
}
