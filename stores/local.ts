// `local://PATH` stores (and bare absolute paths): castore services on local
// disk under PATH (default $TVIX_HOME/store). See local-backend.ts for the
// layout and durable-writer.ts for crash safety.
import { isAbsolute } from "node:path";
import { registerStoreScheme, StoreUrlError } from "./url";
import { CastoreNixStore } from "./castore-store";
import { ChunkedBlobService } from "./blob-service";
import { ProtoDirectoryService } from "./directory-service";
import { JsonPathInfoService } from "./pathinfo-service";
import { LocalBytesBackend, LocalChunkBackend, LocalDocumentBackend, LocalLayout } from "./local-backend";

export class LocalStore extends CastoreNixStore {
  declare readonly blobs: ChunkedBlobService;
  constructor(raw: string, storeDir: string, readonly layout: LocalLayout) {
    const chunks = new LocalChunkBackend(layout);
    super(
      raw,
      storeDir,
      new ChunkedBlobService(chunks),
      new ProtoDirectoryService(new LocalBytesBackend(layout)),
      new JsonPathInfoService(new LocalDocumentBackend(layout)),
      () => layout.writer.close(),
    );
    this.chunkBackend = chunks;
  }
  readonly chunkBackend: LocalChunkBackend;
}

export function openLocalStore(root: string, storeDir = "/nix/store", raw = `local://${root}`, fsync = true): LocalStore {
  if (!isAbsolute(root)) throw new StoreUrlError(`local store path '${root}' must be absolute`);
  return new LocalStore(raw, storeDir, new LocalLayout(root, fsync));
}

registerStoreScheme("local", async (url, raw, opts) => {
  if (url.host) throw new StoreUrlError(`local store URL '${raw}' must have an absolute path (local:///path)`);
  const fsync = url.searchParams.get("fsync") !== "false";
  return openLocalStore(decodeURIComponent(url.pathname), opts.storeDir, raw, fsync);
});
