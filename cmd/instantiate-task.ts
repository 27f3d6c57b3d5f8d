// The worker side of `tvix instantiate` / nix-instantiate without --eval:
// evaluates with a store-aware EvalIO that records what it adds, then writes
// the sources, toFile outputs, fetched paths and .drv files to the selected
// store (--store / TVIX_STORE / the local default) and prints the .drv paths.
import { prepareEvaluation, type RunMode } from "./eval-worker";
import { instantiate, type EvalRequest } from "../eval/driver";
import { flushPending } from "../glue/flush";
import { cliEvalHost } from "./eval-host";

export interface InstantiateRequest extends EvalRequest {
  storeUrl?: string;
}

export async function instantiateTask(req: InstantiateRequest & RunMode): Promise<number> {
  const { stdout, stderr, attempt } = prepareEvaluation(req);
  const { host, glue } = cliEvalHost({ storeDir: req.storeDir, storeUrl: req.storeUrl, writes: true });
  const { code, drvPaths } = attempt(() => instantiate(req, { out: stdout, err: stderr }, host));
  if (code !== 0) return code;
  await flushPending(glue.io, req.storeUrl);
  for (const d of drvPaths) stdout(d + "\n");
  return 0;
}
