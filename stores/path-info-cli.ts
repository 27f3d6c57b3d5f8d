// Path infos of store paths and, optionally, their closure (for
// `tvix store path-info -r`), in the order given then breadth-first.
import type { NixPathInfo, NixStore } from "./types";
import { toSri } from "../core/derivation-json";

export class MissingPathError extends Error {}

export async function collectPathInfos(store: NixStore, paths: string[], recursive: boolean): Promise<NixPathInfo[]> {
  const out: NixPathInfo[] = [];
  const seen = new Set<string>();
  const queue = [...paths];
  while (queue.length > 0) {
    const p = queue.shift()!;
    if (seen.has(p)) continue;
    seen.add(p);
    const info = await store.queryPathInfo(p);
    if (!info) throw new MissingPathError(`path '${p}' is not valid in store '${store.url}'`);
    out.push(info);
    if (recursive) queue.push(...info.references);
  }
  return out;
}

/** `nix path-info --json`'s value for one path, as Nix 2.26 prints it (closureSize with -S). */
export function pathInfoToJson(info: NixPathInfo, closureSize?: number): Record<string, unknown> {
  const j: Record<string, unknown> = { ca: info.ca ?? null };
  if (closureSize !== undefined) j.closureSize = closureSize;
  Object.assign(j, {
    deriver: info.deriver ?? null,
    narHash: toSri(info.narHash),
    narSize: info.narSize,
    references: [...info.references].sort(),
    signatures: info.signatures,
    ultimate: false,
  });
  return j;
}
