// `local://PATH` stores (and bare absolute paths): castore services on local
// disk under PATH (default $TVIX_HOME/store). See local-backend.ts for the
// layout and durable-writer.ts for crash safety.
//
// `?root=DIR` (default PATH/root) is the file system root the daemon keeps
// for the store, as C++ Nix's `root` store setting: the paths as real files
// under DIR/nix/store (for clients reading them directly) and the garbage
// collector's state (roots, temp roots, logs) under DIR/nix/var.
import { isAbsolute, join } from "node:path";
import { registerStoreScheme, StoreUrlError } from "./url";
import { CastoreNixStore } from "./castore-store";
import { ChunkedBlobService } from "./blob-service";
import { ProtoDirectoryService } from "./directory-service";
import { JsonPathInfoService } from "./pathinfo-service";
import { LocalBytesBackend, LocalChunkBackend, LocalDocumentBackend, LocalLayout } from "./local-backend";

export class LocalStore extends CastoreNixStore {
  declare readonly blobs: ChunkedBlobService;
  /** See `?root=` above. */
  readonly fsRoot: string;
  constructor(raw: string, storeDir: string, readonly layout: LocalLayout, fsRoot?: string) {
    const chunks = new LocalChunkBackend(layout);
    super(
      raw,
      storeDir,
      new ChunkedBlobService(chunks),
      new ProtoDirectoryService(new LocalBytesBackend(layout)),
      new JsonPathInfoService(new LocalDocumentBackend(layout)),
      async () => {
        await layout.writer.close();
        layout.close();
      },
    );
    this.chunkBackend = chunks;
    this.fsRoot = fsRoot ?? join(layout.root, "root");
  }
  readonly chunkBackend: LocalChunkBackend;
}

/** `pack`: new objects go into pack files; false writes loose files (the old layout, e.g. for hard links in materialise). */
export function openLocalStore(root: string, storeDir = "/nix/store", raw = `local://${root}`, fsync = true, pack = true, fsRoot?: string): LocalStore {
  if (!isAbsolute(root)) throw new StoreUrlError(`local store path '${root}' must be absolute`);
  if (fsRoot !== undefined && !isAbsolute(fsRoot)) throw new StoreUrlError(`local store root '${fsRoot}' must be absolute`);
  return new LocalStore(raw, storeDir, new LocalLayout(root, fsync, pack), fsRoot);
}

registerStoreScheme("local", async (url, raw, opts) => {
  if (url.host) throw new StoreUrlError(`local store URL '${raw}' must have an absolute path (local:///path)`);
  const fsync = url.searchParams.get("fsync") !== "false";
  const pack = url.searchParams.get("pack") !== "false";
  return openLocalStore(decodeURIComponent(url.pathname), opts.storeDir, raw, fsync, pack, url.searchParams.get("root") ?? undefined);
});
