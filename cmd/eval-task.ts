// The evaluating side of `tvix eval`: evaluates and writes the output. With
// --read-write-mode the paths the evaluation creates are written to the store
// and materialised under the store directory, as Nix does.
import { prepareEvaluation, type RunMode } from "./eval-worker";
import { RecordingStore } from "../eval/io";
import { runEval, type EvalRequest } from "../eval/driver";
import { flushRecorded } from "./flush-store";

export async function evalTask(req: EvalRequest & RunMode & { storeUrl?: string }): Promise<number> {
  const { stdout, stderr, attempt } = prepareEvaluation(req);
  if (!req.readWrite) return attempt(() => runEval(req, { out: stdout, err: stderr }));
  const recorder = new RecordingStore(req.storeDir ?? "/nix/store");
  // the result is printed only once its paths exist
  let out = "";
  const code = attempt(() => runEval(req, { out: (s) => (out += s), err: stderr, store: recorder }));
  if (code === 0) await flushRecorded(recorder, req.storeUrl, { materialise: true });
  stdout(out);
  return code;
}
