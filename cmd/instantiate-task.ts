// The worker side of `tvix instantiate` / nix-instantiate without --eval:
// evaluates with a RecordingStore, then writes the sources, toFile outputs and
// .drv files it created to the selected store (--store / TVIX_STORE / the
// local default) and prints the .drv paths.
import { prepareEvaluation, type RunMode } from "./eval-worker";
import { instantiate, type EvalRequest } from "../eval/driver";
import { RecordingStore } from "../eval/io";
import { flushRecorded } from "./flush-store";

export interface InstantiateRequest extends EvalRequest {
  storeUrl?: string;
}

export async function instantiateTask(req: InstantiateRequest & RunMode): Promise<number> {
  const { stdout, stderr, attempt } = prepareEvaluation(req);
  const recorder = new RecordingStore(req.storeDir ?? "/nix/store");
  const { code, drvPaths } = attempt(() => instantiate(req, { out: stdout, err: stderr, store: recorder }));
  if (code !== 0) return code;
  await flushRecorded(recorder, req.storeUrl);
  for (const d of drvPaths) stdout(d + "\n");
  return 0;
}
