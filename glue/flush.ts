// Writes what an evaluation made (sources, toFile results, fetched trees,
// .drv files: StoreIO's pending list) to a real store, and, when asked,
// materialises those paths under the store directory on disk (as
// `nix-instantiate --read-write-mode` leaves them in /nix/store). Contents
// are read again here, and their content address checked against the one
// the evaluation computed: a source that changed since is an error, not a
// path with the wrong contents.
import { accessSync, constants, existsSync } from "node:fs";
import { dumpTree, memoryTreeAccessor, narOf, type TreeAccessor } from "../core/nar";
import { hashBytes } from "../core/hash";
import { encodeEscapedBytes } from "../core/bytes";
import { hostTree } from "../stores/host-tree";
import type { PendingPath, StoreIO } from "./store-io";
import type { NixStore } from "../stores/types";

/** A pending path's NAR and the bytes its content address hashes. */
/** A text path's contents (a .drv, toFile): its bytes, raw bytes as themselves. */
export function textContents(p: PendingPath): Uint8Array {
  if (p.tree.kind !== "text") throw new Error(`internal error: '${p.storePath}' is not a text path`);
  return encodeEscapedBytes(p.tree.text());
}

export function serialise(p: PendingPath): { nar: Uint8Array; caBytes: () => Uint8Array } {
  const t = p.tree;
  switch (t.kind) {
    case "text": {
      const contents = textContents(p);
      return { nar: narOf((enc) => enc.file(false, contents)), caBytes: () => contents };
    }
    case "memory":
    case "host": {
      const acc: TreeAccessor = t.kind === "memory" ? memoryTreeAccessor("", t.node) : hostTree;
      const root = t.kind === "memory" ? "" : t.root;
      const keep = t.kind === "host" && t.included !== null ? (path: string) => t.included!.has(path.slice(root.length + 1)) : undefined;
      const nar = narOf((enc) => dumpTree(acc, root, enc, keep));
      // flat: the file's own bytes
      return { nar, caBytes: () => acc.readFile(root) };
    }
    case "castore":
      throw new Error(`internal error: '${p.storePath}' is the store's already`);
  }
}

export function checkContentAddress(p: PendingPath, nar: Uint8Array, caBytes: () => Uint8Array): void {
  const m = /^(text|fixed):(r:)?(sha256):([0-9a-z]+)$/.exec(p.ca);
  if (!m) throw new Error(`internal error: unexpected content address '${p.ca}' of '${p.storePath}'`);
  const recursive = m[1] === "fixed" && m[2] === "r:";
  const got = hashBytes("sha256", recursive ? nar : caBytes()).format("nix32", true);
  if (`sha256:${m[4]}` !== got)
    throw new Error(`the contents of '${p.storePath}' changed after the evaluation read them${p.tree.kind === "host" ? ` (from '${p.tree.root}')` : ""}`);
}

/**
 * Writes the pending paths to the store at `storeUrl` (default: $TVIX_STORE
 * or the local store), or to `opts.store`, a store the caller has open
 * (and keeps open). `writing` is called once the first write is under way
 * (none when the store had every path).
 *
 * `drvsLater` (with `store`): when the last level holds only .drv files
 * (nothing pending references them), their writes are started but not
 * waited for: the promise of their durability and the paths go to
 * `drvsLater`, whose caller waits for it before anything depends on them
 * being valid (a build's outputs are registered after it).
 */
export async function flushPending(
  io: StoreIO,
  storeUrl: string | undefined,
  opts: { materialise?: boolean; store?: NixStore; writing?: () => void; drvsLater?: (durable: Promise<void>, drvs: PendingPath[]) => void } = {},
): Promise<void> {
  if (io.pending.size === 0) return;
  let store = opts.store;
  if (store === undefined) {
    await import("../stores/backends");
    const { openStore, defaultStoreUrl } = await import("../stores/url");
    store = await openStore(storeUrl ?? defaultStoreUrl(), { storeDir: io.storeDir });
  }
  const own = opts.store === undefined;
  let writing = opts.writing;
  try {
    // A path is added only after the paths it references (so a crash never
    // leaves one valid without its references); paths of one level go
    // together, sharing the store's group commits.
    const levels = byReferenceLevel([...io.pending.values()]);
    for (const [i, level] of levels.entries()) {
      const written = Promise.all(
        level.map(async (p) => {
          if (await store.queryPathInfo(p.storePath)) return;
          const { nar, caBytes } = serialise(p);
          checkContentAddress(p, nar, caBytes);
          const added = store.addToStore(
            { storePath: p.storePath, narHash: hashBytes("sha256", nar).format("nix32", true), narSize: nar.length, references: p.references, signatures: [], ca: p.ca },
            (async function* () {
              yield nar;
            })(),
          );
          writing?.();
          writing = undefined;
          await added;
        }),
      ).then(() => {});
      const later = opts.drvsLater;
      if (later && !own && !opts.materialise && i === levels.length - 1 && level.every((p) => p.tree.kind === "text" && p.storePath.endsWith(".drv"))) {
        later(written, level);
        return;
      }
      await written;
    }
    if (opts.materialise && writableDir(io.storeDir)) {
      const { CastoreNixStore } = await import("../stores/castore-store");
      const { materialise } = await import("../stores/materialise");
      if (store instanceof CastoreNixStore)
        for (const p of io.pending.keys()) if (!existsSync(p)) await materialise(store, p, io.storeDir);
    }
  } finally {
    if (own) await store.close();
  }
}

/** Groups paths by level: level 0 references no other path of the list, level n + 1 only paths of levels up to n. */
export function byReferenceLevel(paths: PendingPath[]): PendingPath[][] {
  const byPath = new Map(paths.map((p) => [p.storePath, p]));
  const level = new Map<string, number>();
  const levelOf = (p: PendingPath): number => {
    let l = level.get(p.storePath);
    if (l === undefined) {
      level.set(p.storePath, 0); // a reference cycle (impossible for content-addressed paths) ends here
      l = 0;
      for (const r of p.references) {
        const q = byPath.get(r);
        if (q !== undefined && q !== p) l = Math.max(l, levelOf(q) + 1);
      }
      level.set(p.storePath, l);
    }
    return l;
  };
  const out: PendingPath[][] = [];
  for (const p of paths) (out[levelOf(p)] ??= []).push(p);
  return out.filter((l) => l !== undefined);
}

function writableDir(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
