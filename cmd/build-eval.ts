// The evaluation step of `tvix build`, on the main thread as a trial or on a
// big-stack worker (see bigstack.ts): evaluates like `tvix instantiate`,
// writes what the evaluation created (.drv files, sources) to the store, and
// hands the selected derivations back through a small JSON file (a task
// returns only an exit code). The only place `tvix build` touches the
// evaluator.
import { writeFileSync } from "node:fs";
import { prepareEvaluation, type RunMode } from "./eval-worker";
import { instantiate, type EvalRequest } from "../eval/driver";
import { RecordingStore } from "../eval/io";
import { hashBytes } from "../core/hash";
import type { NixStore } from "../stores/types";

export interface BuildEvalRequest extends EvalRequest {
  storeUrl?: string;
  /** Where to write `{ "drvPaths": [...] }` ("<drv>" or "<drv>!<output>"). */
  resultFile: string;
}

// The store `tvix build` has open, when the evaluation runs on its thread
// (module state is per thread: a big-stack worker opens its own).
let lent: { url: string; store: NixStore } | null = null;
export function lendStore(s: { url: string; store: NixStore } | null): void {
  lent = s;
}

export async function buildEvalTask(req: BuildEvalRequest & RunMode): Promise<number> {
  const { stderr, attempt } = prepareEvaluation(req);
  const recorder = new RecordingStore(req.storeDir ?? "/nix/store");
  const t0 = Date.now();
  const { code, drvPaths } = attempt(() => instantiate(req, { out: () => {}, err: stderr, store: recorder }));
  if (code !== 0) return code;
  const t1 = Date.now();
  await flushConcurrently(recorder, req.storeUrl);
  if (process.env.TVIX_PHASES === "build") stderr(`tvix: instantiation ${t1 - t0} ms, writing ${recorder.pending.size} paths to the store ${Date.now() - t1} ms\n`);
  writeFileSync(req.resultFile, JSON.stringify({ drvPaths }));
  return 0;
}

/**
 * Writes what the evaluation created to the store, like flushRecorded(), but
 * many paths at once (references before the paths that refer to them): a
 * package set's .drv files then share the store's group commits instead of
 * waiting for two fsyncs each.
 */
async function flushConcurrently(recorder: RecordingStore, storeUrl: string | undefined): Promise<void> {
  if (recorder.pending.size === 0) return;
  await import("../stores/backends");
  const { openStore, defaultStoreUrl } = await import("../stores/url");
  const url = storeUrl ?? defaultStoreUrl();
  const borrowed = lent && lent.url === url && lent.store.storeDir === recorder.storeDir ? lent.store : null;
  const store = borrowed ?? (await openStore(url, { storeDir: recorder.storeDir }));
  try {
    const todo = new Map([...recorder.pending].filter(([p]) => p));
    const present = await Promise.all([...todo.keys()].map(async (p) => [p, !!(await store.queryPathInfo(p))] as const));
    for (const [p, has] of present) if (has) todo.delete(p);
    while (todo.size > 0) {
      // the paths none of whose references are still to be written
      const level = [...todo.values()].filter((p) => !p.references.some((r) => r !== p.storePath && todo.has(r)));
      if (level.length === 0) throw new Error("internal error: a reference cycle among the paths to write");
      await Promise.all(
        level.map((p) =>
          store.addToStore(
            { storePath: p.storePath, narHash: hashBytes("sha256", p.nar).format("nix32", true), narSize: p.nar.length, references: p.references, signatures: [], ca: p.ca },
            (async function* () {
              yield p.nar;
            })(),
          ),
        ),
      );
      for (const p of level) todo.delete(p.storePath);
    }
  } finally {
    if (!borrowed) await store.close();
  }
}
