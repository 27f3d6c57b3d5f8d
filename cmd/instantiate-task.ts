// The worker side of `tvix instantiate` / nix-instantiate without --eval:
// evaluates with a RecordingStore, then writes the sources, toFile outputs and
// .drv files it created to the selected store (--store / TVIX_STORE / the
// local default) and prints the .drv paths.
import { prepareEvalWorker } from "./eval-worker";
import { writeAll, writeErr } from "./output";
import { instantiate, type EvalRequest } from "../eval/driver";
import { RecordingStore } from "../eval/io";
import { flushRecorded } from "./flush-store";

export interface InstantiateRequest extends EvalRequest {
  storeUrl?: string;
}

export async function instantiateTask(req: InstantiateRequest): Promise<number> {
  prepareEvalWorker();
  const recorder = new RecordingStore(req.storeDir ?? "/nix/store");
  const { code, drvPaths } = instantiate(req, { out: (s) => writeAll(1, s), err: writeErr, store: recorder });
  if (code !== 0) return code;
  await flushRecorded(recorder, req.storeUrl);
  for (const d of drvPaths) writeAll(1, d + "\n");
  return 0;
}
