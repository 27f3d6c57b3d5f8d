// The worker side of `tvix eval`: evaluates and writes the output.
import { writeAll, writeErr } from "./output";
import { runEval, type EvalRequest } from "../eval/driver";


export async function evalTask(req: EvalRequest): Promise<number> {
  return runEval(req, { out: (s) => writeAll(1, s), err: writeErr });
}
