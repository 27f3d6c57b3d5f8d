// The evaluating side of `tvix eval`: evaluates and writes the output. With
// --read-write-mode the paths the evaluation creates are written to the store
// and materialised under the store directory, as Nix does.
import { prepareEvaluation, type RunMode } from "./eval-worker";
import { runEval, type EvalRequest } from "../eval/driver";
import { flushPending } from "../glue/flush";
import { cliEvalHost } from "./eval-host";

export async function evalTask(req: EvalRequest & RunMode & { storeUrl?: string }): Promise<number> {
  const { stdout, stderr, attempt } = prepareEvaluation(req);
  const { host, glue } = cliEvalHost({ storeDir: req.storeDir, storeUrl: req.storeUrl, writes: !!req.readWrite });
  if (!req.readWrite) return attempt(() => runEval(req, { out: stdout, err: stderr }, host));
  // the result is printed only once its paths exist
  let out = "";
  const code = attempt(() => runEval(req, { out: (s) => (out += s), err: stderr }, host));
  if (code === 0) await flushPending(glue.io, req.storeUrl, { materialise: true });
  stdout(out);
  return code;
}
