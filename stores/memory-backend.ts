// In-memory backends for the three services (the `memory://` store and tests).
import type { ChunkBackend } from "./blob-service";
import type { BytesBackend } from "./directory-service";
import type { DocumentBackend } from "./pathinfo-service";
import { toHex } from "../core/castore";

export class MemoryChunkBackend implements ChunkBackend {
  readonly chunks = new Map<string, Uint8Array>();
  readonly manifests = new Map<string, Uint8Array>();
  async hasChunk(d: Uint8Array) {
    return this.chunks.has(toHex(d));
  }
  async readChunk(d: Uint8Array) {
    return this.chunks.get(toHex(d)) ?? null;
  }
  async writeChunk(d: Uint8Array, data: Uint8Array) {
    this.chunks.set(toHex(d), new Uint8Array(data));
  }
  async hasManifest(d: Uint8Array) {
    return this.manifests.has(toHex(d));
  }
  async readManifest(d: Uint8Array) {
    return this.manifests.get(toHex(d)) ?? null;
  }
  async writeManifest(d: Uint8Array, data: Uint8Array) {
    this.manifests.set(toHex(d), new Uint8Array(data));
  }
}

export class MemoryBytesBackend implements BytesBackend {
  readonly items = new Map<string, Uint8Array>();
  async has(d: Uint8Array) {
    return this.items.has(toHex(d));
  }
  async read(d: Uint8Array) {
    return this.items.get(toHex(d)) ?? null;
  }
  async write(d: Uint8Array, data: Uint8Array) {
    this.items.set(toHex(d), new Uint8Array(data));
  }
}

export class MemoryDocumentBackend implements DocumentBackend {
  readonly docs = new Map<string, string>();
  async read(k: string) {
    return this.docs.get(k) ?? null;
  }
  async write(k: string, doc: string) {
    this.docs.set(k, doc);
  }
  async delete(k: string) {
    this.docs.delete(k);
  }
  async *keys() {
    yield* [...this.docs.keys()].sort();
  }
}
