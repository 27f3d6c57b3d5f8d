// The garbage collector, as C++ Nix's: the live paths are the closure of the
// roots (permanent and indirect roots under the state directory, temporary
// roots of live processes and connections) over references, plus, with
// keep-derivations (default on), the derivation that produced a live
// output, and with keep-outputs (default off), the outputs of a live
// derivation. Everything else valid is dead. Deleting invalidates a path
// only after every path referring to it is gone, so an interrupted
// collection never leaves a valid path with a missing reference; each
// path's files (the file system view) go after its invalidation.
//
// The caller serialises collections against additions in its own process
// (the daemon holds its store lock); other processes protect their paths
// with temp roots files (stores/gc-roots.ts).
import type { NixPathInfo, NixStore, PathRemoval } from "./types";
import type { GcRoots, Roots } from "./gc-roots";
import { readDerivation } from "./derivation-read";
import { topoOrder } from "./copy";

export type GcAction = "return-live" | "return-dead" | "delete-dead" | "delete-specific";

export interface GcOptions {
  action: GcAction;
  /** For delete-specific: the paths to delete (each must be dead). */
  paths?: readonly string[];
  /** Stop deleting once this many bytes are freed (default: no limit). */
  maxFreed?: number;
  keepOutputs?: boolean;
  keepDerivations?: boolean;
}

export interface GcResult {
  /** The live or dead paths (return-*), or the deleted ones (delete-*). */
  paths: string[];
  bytesFreed: number;
}

export interface GcContext {
  store: NixStore & PathRemoval;
  roots: GcRoots;
  /** Temporary roots held in this process (not in a temp roots file). */
  extraTempRoots?: () => Iterable<string>;
  /** Removes a path's files once it is invalid; returns the bytes freed. */
  removeFiles?: (storePath: string) => number | Promise<number>;
  log?: (msg: string) => void;
}

export class GcError extends Error {}

/** Every valid path with its info (the store must be able to list its paths). */
async function loadInfos(store: NixStore): Promise<Map<string, NixPathInfo>> {
  const infos = new Map<string, NixPathInfo>();
  for await (const p of store.listPaths()) {
    const info = await store.queryPathInfo(p);
    if (info) infos.set(p, info);
  }
  return infos;
}

/** The output paths a derivation names (those known before building). */
async function drvOutputs(store: NixStore, drvPath: string, cache: Map<string, string[]>): Promise<string[]> {
  let outs = cache.get(drvPath);
  if (outs) return outs;
  try {
    const drv = await readDerivation(store, drvPath);
    outs = [...drv.outputs.values()].map((o) => o.path).filter((p) => p !== "");
  } catch {
    outs = [];
  }
  cache.set(drvPath, outs);
  return outs;
}

/** The live paths: roots closed over references and the keep-* rules. */
export async function liveSet(
  store: NixStore,
  infos: Map<string, NixPathInfo>,
  roots: Iterable<string>,
  opts: { keepOutputs?: boolean; keepDerivations?: boolean },
): Promise<Set<string>> {
  const keepDerivations = opts.keepDerivations ?? true;
  const drvCache = new Map<string, string[]>();
  // keep-outputs: a derivation's outputs are its own outputs plus paths naming it as deriver
  const byDeriver = new Map<string, string[]>();
  if (opts.keepOutputs)
    for (const [p, i] of infos)
      if (i.deriver) {
        if (!byDeriver.has(i.deriver)) byDeriver.set(i.deriver, []);
        byDeriver.get(i.deriver)!.push(p);
      }
  const live = new Set<string>();
  const todo: string[] = [];
  const visit = (p: string) => {
    if (!infos.has(p) || live.has(p)) return;
    live.add(p);
    todo.push(p);
  };
  for (const r of roots) visit(r);
  while (todo.length > 0) {
    const p = todo.pop()!;
    const info = infos.get(p)!;
    for (const r of info.references) visit(r);
    if (keepDerivations && info.deriver && infos.has(info.deriver) && !live.has(info.deriver)) {
      if ((await drvOutputs(store, info.deriver, drvCache)).includes(p)) visit(info.deriver);
    }
    if (opts.keepOutputs && p.endsWith(".drv")) {
      for (const o of await drvOutputs(store, p, drvCache)) visit(o);
      for (const o of byDeriver.get(p) ?? []) visit(o);
    }
  }
  return live;
}

/** All roots (permanent, indirect, temporary) that name valid paths, with the links naming them. */
export async function allRoots(ctx: GcContext, isValid: (p: string) => Promise<boolean>): Promise<Roots> {
  const roots = await ctx.roots.findRoots(isValid, ctx.log);
  const temp = new Set([...ctx.roots.tempRoots(), ...(ctx.extraTempRoots?.() ?? [])]);
  for (const p of temp) {
    if (!(await isValid(p))) continue;
    if (!roots.has(p)) roots.set(p, new Set());
    roots.get(p)!.add("{temp}");
  }
  return roots;
}

export async function collectGarbage(ctx: GcContext, opts: GcOptions): Promise<GcResult> {
  const log = ctx.log ?? (() => {});
  const maxFreed = opts.maxFreed ?? Infinity;
  log("finding garbage collector roots...");
  const infos = await loadInfos(ctx.store);
  const roots = await allRoots(ctx, async (p) => infos.has(p));
  const live = await liveSet(ctx.store, infos, roots.keys(), opts);
  const dead = [...infos.keys()].filter((p) => !live.has(p));

  if (opts.action === "return-live") return { paths: [...live].sort(), bytesFreed: 0 };
  if (opts.action === "return-dead") return { paths: dead.sort(), bytesFreed: 0 };

  let targets: string[];
  if (opts.action === "delete-specific") {
    // as C++ Nix: a path to delete counts as alive when reachable from a
    // root, or when a path outside the set (transitively) refers to it
    const deletable = new Set([...new Set(opts.paths ?? [])].filter((p) => infos.has(p) && !live.has(p)));
    const referrers = new Map<string, string[]>();
    for (const [q, i] of infos) for (const r of i.references) if (r !== q && deletable.has(r)) (referrers.get(r) ?? referrers.set(r, []).get(r)!).push(q);
    for (let changed = true; changed; ) {
      changed = false;
      for (const p of deletable)
        if ((referrers.get(p) ?? []).some((q) => !deletable.has(q))) {
          deletable.delete(p);
          changed = true;
        }
    }
    targets = [];
    for (const p of [...new Set(opts.paths ?? [])].sort()) {
      if (!infos.has(p)) continue; // invalid: nothing to delete
      if (!deletable.has(p)) throw new GcError(`Cannot delete path '${p}' since it is still alive. To find out why, use: nix-store --query --roots`);
      targets.push(p);
    }
  } else {
    log("deleting garbage...");
    targets = dead;
  }

  // referrers before their references: the reverse of references-first order
  const order = topoOrder(targets, infos).reverse();
  const result: GcResult = { paths: [], bytesFreed: 0 };
  for (const p of order) {
    if (result.bytesFreed >= maxFreed) break;
    log(`deleting '${p}'`);
    await ctx.store.deletePath(p);
    result.paths.push(p);
    result.bytesFreed += (await ctx.removeFiles?.(p)) ?? 0;
  }
  return result;
}
