// Copying store paths between NixStores (what `tvix copy` runs): the closure
// over references, minus what the target already has, transferred in
// dependency order (references first) with bounded concurrency, NARs streamed
// straight from source to target.
import type { PublicKey } from "../core/signing";
import { StorePath } from "../core/store-path";
import type { NixPathInfo, NixStore } from "./types";
import { checkTrusted } from "./path-trust";
import { countStream, mapLimit } from "./stream-util";

export type CopyEvent =
  | { type: "plan"; total: number; present: number; bytes: number }
  | { type: "start"; path: string; narSize: number }
  | { type: "progress"; path: string; bytes: number }
  | { type: "done"; path: string; narSize: number }
  | { type: "failed"; path: string; error: Error };

export interface CopyOptions {
  /** Copy the closure (default true). */
  recursive?: boolean;
  /** Parallel transfers (default 8). */
  jobs?: number;
  /** When given, every source path must be signed by one of these (or be content-addressed). */
  trustedKeys?: readonly PublicKey[];
  onEvent?: (e: CopyEvent) => void;
}

export interface CopyResult {
  copied: string[];
  alreadyPresent: string[];
  bytes: number;
}

/** The closure of `roots` in `store` (infos by path). Throws on a path the store lacks. */
export async function computeClosure(store: NixStore, roots: readonly string[], jobs = 16): Promise<Map<string, NixPathInfo>> {
  const infos = new Map<string, NixPathInfo>();
  const queued = new Set<string>();
  let frontier = [...new Set(roots)];
  frontier.forEach((p) => queued.add(p));
  while (frontier.length > 0) {
    const next: string[] = [];
    await mapLimit(frontier, jobs, async (p) => {
      const info = await store.queryPathInfo(p);
      if (!info) throw new Error(`path '${p}' is not valid in '${store.url}'`);
      infos.set(p, info);
      for (const r of info.references)
        if (!queued.has(r)) {
          queued.add(r);
          next.push(r);
        }
    });
    frontier = next;
  }
  return infos;
}

export async function copyPaths(src: NixStore, dst: NixStore, roots: readonly string[], opts: CopyOptions = {}): Promise<CopyResult> {
  const emit = opts.onEvent ?? (() => {});
  const jobs = Math.max(1, opts.jobs ?? 8);
  for (const r of roots) StorePath.parseAbsolute(r, src.storeDir);
  if (src.storeDir !== dst.storeDir) throw new Error(`cannot copy between stores with different store directories ('${src.storeDir}' and '${dst.storeDir}')`);

  let infos: Map<string, NixPathInfo>;
  if (opts.recursive === false) {
    infos = new Map();
    await mapLimit([...new Set(roots)], 16, async (p) => {
      const info = await src.queryPathInfo(p);
      if (!info) throw new Error(`path '${p}' is not valid in '${src.url}'`);
      infos.set(p, info);
    });
  } else infos = await computeClosure(src, roots);

  if (opts.trustedKeys) for (const info of infos.values()) checkTrusted(info, opts.trustedKeys, src.storeDir, src.url);

  const present = new Set<string>();
  await mapLimit([...infos.keys()], 16, async (p) => {
    if (await dst.queryPathInfo(p)) present.add(p);
  });
  const todo = [...infos.keys()].filter((p) => !present.has(p)).sort();
  emit({ type: "plan", total: todo.length, present: present.size, bytes: todo.reduce((n, p) => n + infos.get(p)!.narSize, 0) });

  // Each path waits for its references, then for a transfer slot.
  const done = new Map<string, Promise<void>>();
  let slots = jobs;
  const waiters: (() => void)[] = [];
  const acquire = () => (slots > 0 ? (slots--, Promise.resolve()) : new Promise<void>((r) => waiters.push(r)));
  const release = () => {
    const w = waiters.shift();
    if (w) w();
    else slots++;
  };
  let failed = false;
  let bytes = 0;
  const copied: string[] = [];
  const copyOne = (p: string): Promise<void> => {
    let pr = done.get(p);
    if (pr) return pr;
    pr = (async () => {
      const info = infos.get(p)!;
      await Promise.all(info.references.filter((r) => r !== p && done.has(r)).map((r) => done.get(r)!));
      await acquire();
      try {
        if (failed) throw new Error("cancelled");
        emit({ type: "start", path: p, narSize: info.narSize });
        const nar = countStream(src.narFromPath(p), (n) => emit({ type: "progress", path: p, bytes: n }));
        // a copy is not the target's own: no ultimate flag, its own registration time
        const { ultimate: _u, registrationTime: _t, ...plain } = info;
        await dst.addToStore(plain, nar);
        bytes += info.narSize;
        copied.push(p);
        emit({ type: "done", path: p, narSize: info.narSize });
      } catch (e) {
        if (!failed) emit({ type: "failed", path: p, error: e as Error });
        failed = true;
        throw e;
      } finally {
        release();
      }
    })();
    done.set(p, pr);
    return pr;
  };
  // register every promise first so that references are found in `done`
  const order = topoOrder(todo, infos);
  const all = order.map(copyOne);
  const results = await Promise.allSettled(all);
  const firstError = results.find((r) => r.status === "rejected" && (r.reason as Error)?.message !== "cancelled") as PromiseRejectedResult | undefined;
  if (firstError) throw firstError.reason;
  const anyError = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
  if (anyError) throw anyError.reason;
  return { copied, alreadyPresent: [...present].sort(), bytes };
}

/** `paths` ordered so that every path comes after its references (among `paths`). */
export function topoOrder(paths: readonly string[], infos: Map<string, NixPathInfo>): string[] {
  const want = new Set(paths);
  const out: string[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (p: string) => {
    const s = state.get(p);
    if (s === 2) return;
    if (s === 1) throw new Error(`reference cycle involving '${p}'`);
    state.set(p, 1);
    for (const r of infos.get(p)!.references) if (r !== p && want.has(r)) visit(r);
    state.set(p, 2);
    out.push(p);
  };
  for (const p of [...paths].sort()) visit(p);
  return out;
}
