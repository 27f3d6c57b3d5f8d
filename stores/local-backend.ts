// Local-disk backends for the three services, under one root directory:
//
//   <root>/chunks/<2 hex>/<64 hex>      chunk bytes, named by their BLAKE3 (mode 0444)
//   <root>/manifests/<2 hex>/<64 hex>   chunk lists of multi-chunk blobs, named by the blob's BLAKE3
//   <root>/directories/<2 hex>/<64 hex> canonical Directory protobufs, named by their BLAKE3
//   <root>/pathinfo/<hash part>.json    path infos
//   <root>/tmp/                         temp files before their rename (see durable-writer.ts)
//
// Content-addressed files are never rewritten: writing one that exists is a
// no-op, which makes concurrent imports of the same content safe.
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { ChunkBackend } from "./blob-service";
import type { BytesBackend } from "./directory-service";
import type { DocumentBackend } from "./pathinfo-service";
import { DurableWriter } from "./durable-writer";
import { toHex } from "../core/castore";

function readOrNull(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

/** A file's bytes as a plain Uint8Array view (not a Buffer), or null when absent. */
function readBytesOrNull(path: string): Uint8Array | null {
  const b = readOrNull(path);
  return b && new Uint8Array(b.buffer, b.byteOffset, b.length);
}

export function shardPath(dir: string, digest: Uint8Array): string {
  const hex = toHex(digest);
  return join(dir, hex.slice(0, 2), hex);
}

export class LocalLayout {
  readonly chunks: string;
  readonly manifests: string;
  readonly directories: string;
  readonly pathinfo: string;
  readonly writer: DurableWriter;

  constructor(readonly root: string, fsync = true) {
    this.chunks = join(root, "chunks");
    this.manifests = join(root, "manifests");
    this.directories = join(root, "directories");
    this.pathinfo = join(root, "pathinfo");
    for (const d of [root, this.chunks, this.manifests, this.directories, this.pathinfo]) mkdirSync(d, { recursive: true });
    this.writer = new DurableWriter(root, fsync);
  }
}

export class LocalChunkBackend implements ChunkBackend {
  constructor(readonly layout: LocalLayout) {}
  chunkPath(d: Uint8Array): string {
    return shardPath(this.layout.chunks, d);
  }
  async hasChunk(d: Uint8Array) {
    return existsSync(this.chunkPath(d));
  }
  async readChunk(d: Uint8Array) {
    return readBytesOrNull(this.chunkPath(d));
  }
  writeChunk(d: Uint8Array, data: Uint8Array) {
    return this.layout.writer.writeNew(this.chunkPath(d), data);
  }
  tryWriteChunk(d: Uint8Array, data: Uint8Array) {
    return this.layout.writer.writeNewOrNull(this.chunkPath(d), data);
  }
  waitForRoom() {
    return this.layout.writer.waitForRoom();
  }
  async hasManifest(d: Uint8Array) {
    return existsSync(shardPath(this.layout.manifests, d));
  }
  async readManifest(d: Uint8Array) {
    return readBytesOrNull(shardPath(this.layout.manifests, d));
  }
  writeManifest(d: Uint8Array, data: Uint8Array) {
    return this.layout.writer.writeNew(shardPath(this.layout.manifests, d), data);
  }
}

export class LocalBytesBackend implements BytesBackend {
  constructor(readonly layout: LocalLayout) {}
  async has(d: Uint8Array) {
    return existsSync(shardPath(this.layout.directories, d));
  }
  async read(d: Uint8Array) {
    return readBytesOrNull(shardPath(this.layout.directories, d));
  }
  write(d: Uint8Array, data: Uint8Array) {
    return this.layout.writer.writeNew(shardPath(this.layout.directories, d), data);
  }
}

export class LocalDocumentBackend implements DocumentBackend {
  constructor(readonly layout: LocalLayout) {}
  async read(k: string) {
    const b = readOrNull(join(this.layout.pathinfo, `${k}.json`));
    return b && b.toString("utf8");
  }
  write(k: string, doc: string) {
    return this.layout.writer.replace(join(this.layout.pathinfo, `${k}.json`), doc);
  }
  async *keys() {
    const names = readdirSync(this.layout.pathinfo).filter((n) => n.endsWith(".json")).sort();
    for (const n of names) yield n.slice(0, -5);
  }
}
