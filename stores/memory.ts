// `memory://` stores: castore services in memory. `memory://NAME` names a
// store shared by every opener in this process; plain `memory://` is fresh.
import { registerStoreScheme } from "./url";
import { CastoreNixStore } from "./castore-store";
import { ChunkedBlobService } from "./blob-service";
import { ProtoDirectoryService } from "./directory-service";
import { JsonPathInfoService } from "./pathinfo-service";
import { MemoryBytesBackend, MemoryChunkBackend, MemoryDocumentBackend } from "./memory-backend";

interface Services {
  blobs: ChunkedBlobService;
  directories: ProtoDirectoryService;
  pathInfos: JsonPathInfoService;
}

const named = new Map<string, Services>();

function newServices(): Services {
  return {
    blobs: new ChunkedBlobService(new MemoryChunkBackend()),
    directories: new ProtoDirectoryService(new MemoryBytesBackend()),
    pathInfos: new JsonPathInfoService(new MemoryDocumentBackend()),
  };
}

export function openMemoryStore(raw = "memory://", storeDir = "/nix/store", name = ""): CastoreNixStore {
  let s: Services;
  if (name) {
    if (!named.has(name)) named.set(name, newServices());
    s = named.get(name)!;
  } else s = newServices();
  return new CastoreNixStore(raw, storeDir, s.blobs, s.directories, s.pathInfos);
}

registerStoreScheme("memory", async (url, raw, opts) => openMemoryStore(raw, opts.storeDir, url.host + url.pathname.replace(/^\/$/, "")));
