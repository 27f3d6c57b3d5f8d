// The worker side of `tvix eval`: evaluates and writes the output.
import { writeAll, writeErr } from "./output";
import { callSync } from "./bigstack";
import { setSyncCall } from "../eval/io";
import { runEval, type EvalRequest } from "../eval/driver";


export async function evalTask(req: EvalRequest): Promise<number> {
  setSyncCall(callSync);
  return runEval(req, { out: (s) => writeAll(1, s), err: writeErr });
}
