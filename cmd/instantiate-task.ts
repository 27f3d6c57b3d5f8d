// The worker side of `tvix instantiate` / nix-instantiate without --eval:
// evaluates with a RecordingStore, then writes the sources, toFile outputs and
// .drv files it created to the selected store (--store / TVIX_STORE / the
// local default) and prints the .drv paths.
import { writeAll, writeErr } from "./output";
import { callSync } from "./bigstack";
import { setSyncCall } from "../eval/io";
import { instantiate, type EvalRequest } from "../eval/driver";
import { RecordingStore } from "../eval/io";
import { flushRecorded } from "./flush-store";

export interface InstantiateRequest extends EvalRequest {
  storeUrl?: string;
}


export async function instantiateTask(req: InstantiateRequest): Promise<number> {
  setSyncCall(callSync);
  // evaluation errors are values to us, not bugs: skip capturing JS stacks
  if (!process.env.TVIX_DEBUG) Error.stackTraceLimit = 0;
  const recorder = new RecordingStore(req.storeDir ?? "/nix/store");
  const { code, drvPaths } = instantiate(req, { out: (s) => writeAll(1, s), err: writeErr, store: recorder });
  if (code !== 0) return code;
  await flushRecorded(recorder, req.storeUrl);
  for (const d of drvPaths) writeAll(1, d + "\n");
  return 0;
}
