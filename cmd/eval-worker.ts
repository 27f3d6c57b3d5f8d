// Set-up shared by the tasks that evaluate on a big-stack worker (eval,
// instantiate, repl).
import { callSync } from "./bigstack";
import { setSyncCall } from "../eval/io";

export function prepareEvalWorker(): void {
  // fetchers block on async helpers through sync calls
  setSyncCall(callSync);
  // evaluation errors are values to us, not bugs: skip capturing JS stacks
  if (!process.env.TVIX_DEBUG) Error.stackTraceLimit = 0;
}
