// The evaluation step of `tvix build`, on the main thread as a trial or on a
// big-stack worker (see bigstack.ts): evaluates like `tvix instantiate`,
// writes what the evaluation created (.drv files, sources) to the store, and
// hands the selected derivations back through a small JSON file (a task
// returns only an exit code). The only place `tvix build` touches the
// evaluator.
import { writeFileSync } from "node:fs";
import { prepareEvaluation, type RunMode } from "./eval-worker";
import { instantiate, type EvalRequest } from "../eval/driver";
import { RecordingStore } from "../eval/io";
import { flushRecorded } from "./flush-store";

export interface BuildEvalRequest extends EvalRequest {
  storeUrl?: string;
  /** Where to write `{ "drvPaths": [...] }` ("<drv>" or "<drv>!<output>"). */
  resultFile: string;
}

export async function buildEvalTask(req: BuildEvalRequest & RunMode): Promise<number> {
  const { stderr, attempt } = prepareEvaluation(req);
  const recorder = new RecordingStore(req.storeDir ?? "/nix/store");
  const { code, drvPaths } = attempt(() => instantiate(req, { out: () => {}, err: stderr, store: recorder }));
  if (code !== 0) return code;
  await flushRecorded(recorder, req.storeUrl);
  writeFileSync(req.resultFile, JSON.stringify({ drvPaths }));
  return 0;
}
