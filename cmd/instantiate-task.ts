// The worker side of `tvix instantiate` / nix-instantiate without --eval:
// evaluates with a store-aware EvalIO that records what it adds, then writes
// the sources, toFile outputs, fetched paths and .drv files to the selected
// store (--store / TVIX_STORE / the local default) and prints the .drv paths.
import { prepareEvaluation, type RunMode } from "./eval-worker";
import { instantiate, type EvalRequest } from "../eval/driver";
import { flushPending } from "../glue/flush";
import { cliEvalHost } from "./eval-host";
import { renameSync, rmSync, symlinkSync } from "node:fs";

export interface InstantiateRequest extends EvalRequest {
  storeUrl?: string;
  /** --add-root PATH: a symlink to each .drv (PATH, PATH-2, ...), printed instead of the .drv paths */
  addRoot?: string;
}

export async function instantiateTask(req: InstantiateRequest & RunMode): Promise<number> {
  const { stdout, stderr, attempt } = prepareEvaluation(req);
  const { host, glue } = cliEvalHost({ storeDir: req.storeDir, storeUrl: req.storeUrl, writes: true });
  const { code, drvPaths } = attempt(() => instantiate(req, { out: stdout, err: stderr }, host));
  if (code !== 0) return code;
  await flushPending(glue.io, req.storeUrl);
  if (req.addRoot) {
    for (const [i, d] of drvPaths.entries()) stdout(addRoot(i === 0 ? req.addRoot : `${req.addRoot}-${i + 1}`, d) + "\n");
  } else for (const d of drvPaths) stdout(d + "\n");
  return 0;
}

/**
 * A root as nix-instantiate --add-root makes it: a symlink to the store path,
 * replaced atomically when it exists. (Registering it with the store's
 * garbage collector is the store's part.)
 */
function addRoot(link: string, target: string): string {
  const tmp = `${link}.${process.pid}.tmp`;
  try {
    rmSync(tmp, { force: true });
    symlinkSync(target, tmp);
    renameSync(tmp, link);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Error(`cannot create the root '${link}': ${(e as Error).message}`);
  }
  return link;
}
