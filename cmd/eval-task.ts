// The worker side of `tvix eval`: evaluates and writes the output. With
// --read-write-mode the paths the evaluation creates are written to the store
// and materialised under the store directory, as Nix does.
import { prepareEvalWorker } from "./eval-worker";
import { writeAll, writeErr } from "./output";
import { RecordingStore } from "../eval/io";
import { runEval, type EvalRequest } from "../eval/driver";
import { flushRecorded } from "./flush-store";

export async function evalTask(req: EvalRequest & { storeUrl?: string }): Promise<number> {
  prepareEvalWorker();
  if (!req.readWrite) return runEval(req, { out: (s) => writeAll(1, s), err: writeErr });
  const recorder = new RecordingStore(req.storeDir ?? "/nix/store");
  // the result is printed only once its paths exist
  let out = "";
  const code = runEval(req, { out: (s) => (out += s), err: writeErr, store: recorder });
  if (code === 0) await flushRecorded(recorder, req.storeUrl, { materialise: true });
  writeAll(1, out);
  return code;
}
