// The worker side of `tvix eval`: evaluates and writes the output.
import { writeAll, writeErr } from "./output";
import { callSync } from "./bigstack";
import { setSyncCall } from "../eval/io";
import { runEval, type EvalRequest } from "../eval/driver";


export async function evalTask(req: EvalRequest): Promise<number> {
  setSyncCall(callSync);
  // evaluation errors are values to us, not bugs: skip capturing JS stacks
  if (!process.env.TVIX_DEBUG) Error.stackTraceLimit = 0;
  return runEval(req, { out: (s) => writeAll(1, s), err: writeErr });
}
