// The configured store, read synchronously during evaluation. Stores are
// asynchronous, so the reads run on a helper thread that keeps the store
// open (the CLI's sync service, cmd/bigstack.ts), while the evaluator waits.
// Castore-backed stores hand out root nodes, directories and blobs; other
// stores (binary caches, a daemon) hand out a path's NAR, read as a tree.
import type { CastoreNode, Directory } from "../core/castore";
import { parseNarToTree, type NarNode } from "../core/nar";
import type { NixStore } from "../stores/types";
import type { SyncStoreReader } from "./store-trees";

type Request = { op: "root"; path: string } | { op: "directory"; digest: Uint8Array } | { op: "blob"; digest: Uint8Array };
type RootAnswer = { castore: CastoreNode } | { tree: NarNode } | null;

/** Reads through a blocking call to the helper thread. */
export class BlockingStoreReader implements SyncStoreReader {
  constructor(private readonly call: (req: Request) => unknown) {}

  root(storePath: string): RootAnswer {
    return this.call({ op: "root", path: storePath }) as RootAnswer;
  }

  directory(digest: Uint8Array): Directory {
    return this.call({ op: "directory", digest }) as Directory;
  }

  blob(digest: Uint8Array): Uint8Array {
    return this.call({ op: "blob", digest }) as Uint8Array;
  }
}

/** The helper thread's side: opens the store and answers requests. */
export async function storeReaderService(payload: { storeUrl?: string; storeDir: string }): Promise<(req: Request) => Promise<unknown>> {
  await import("../stores/backends");
  const { openStore, defaultStoreUrl } = await import("../stores/url");
  const { CastoreNixStore } = await import("../stores/castore-store");
  const store: NixStore = await openStore(payload.storeUrl ?? defaultStoreUrl(), { storeDir: payload.storeDir });
  const castore = store instanceof CastoreNixStore ? store : null;
  return async (req) => {
    switch (req.op) {
      case "root": {
        if (castore) {
          const info = await castore.pathInfo(req.path);
          return info === null ? null : { castore: info.node };
        }
        if ((await store.queryPathInfo(req.path)) === null) return null;
        const chunks: Uint8Array[] = [];
        for await (const c of store.narFromPath(req.path)) chunks.push(c);
        return { tree: await parseNarToTree(Buffer.concat(chunks)) };
      }
      case "directory": {
        const d = await castore?.directories.get(req.digest);
        if (!d) throw new Error(`directory ${Buffer.from(req.digest).toString("hex")} is missing from the store '${store.url}'`);
        return d;
      }
      case "blob": {
        const stream = await castore?.blobs.open(req.digest);
        if (!stream) throw new Error(`blob ${Buffer.from(req.digest).toString("hex")} is missing from the store '${store.url}'`);
        const chunks: Uint8Array[] = [];
        for await (const c of stream) chunks.push(c);
        return Buffer.concat(chunks);
      }
    }
  };
}
