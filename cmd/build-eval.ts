// The evaluation step of `tvix build`, on the main thread as a trial or on a
// big-stack worker (see bigstack.ts): evaluates like `tvix instantiate`,
// writes what the evaluation created (.drv files, sources) to the store, and
// hands the selected derivations back through a small JSON file (a task
// returns only an exit code). The only place `tvix build` touches the
// evaluator.
import { writeFileSync } from "node:fs";
import { prepareEvaluation, type RunMode } from "./eval-worker";
import { instantiate, type EvalRequest } from "../eval/driver";
import { flushPending, textContents } from "../glue/flush";
import { cliEvalHost } from "./eval-host";
import type { NixStore } from "../stores/types";

export interface BuildEvalRequest extends EvalRequest {
  storeUrl?: string;
  /** Where to write `{ "drvPaths": [...] }` ("<drv>" or "<drv>!<output>"). */
  resultFile: string;
}

// The store `tvix build` has open, when the evaluation runs on its thread
// (module state is per thread: a big-stack worker opens its own).
// `writing`: called once the evaluation's writes to it are under way;
// `drvsLater`: takes the last .drv files' writes, not waited for here (see
// flushPending), with their paths and contents.
export interface LentStore {
  url: string;
  store: NixStore;
  writing?: () => void;
  drvsLater?: (durable: Promise<void>, drvs: { path: string; text: string }[]) => void;
}
let lent: LentStore | null = null;
export function lendStore(s: LentStore | null): void {
  lent = s;
}

export async function buildEvalTask(req: BuildEvalRequest & RunMode): Promise<number> {
  const { stderr, attempt } = prepareEvaluation(req);
  const { host, glue } = cliEvalHost({ storeDir: req.storeDir, storeUrl: req.storeUrl, writes: true });
  const t0 = Date.now();
  const { code, drvPaths } = attempt(() => instantiate(req, { out: () => {}, err: stderr }, host));
  if (code !== 0) return code;
  const t1 = Date.now();
  const { defaultStoreUrl } = await import("../stores/url");
  const url = req.storeUrl ?? defaultStoreUrl();
  const borrowed = lent && lent.url === url && lent.store.storeDir === glue.io.storeDir ? lent : undefined;
  const pending = glue.io.pending.size;
  const later = borrowed?.drvsLater;
  await flushPending(glue.io, req.storeUrl, {
    store: borrowed?.store,
    writing: borrowed?.writing,
    drvsLater: later && ((durable, drvs) => later(durable, drvs.map((p) => ({ path: p.storePath, text: new TextDecoder().decode(textContents(p)) })))),
  });
  if (process.env.TVIX_PHASES === "build") stderr(`tvix: instantiation ${t1 - t0} ms, writing ${pending} paths to the store ${Date.now() - t1} ms\n`);
  writeFileSync(req.resultFile, JSON.stringify({ drvPaths }));
  return 0;
}
