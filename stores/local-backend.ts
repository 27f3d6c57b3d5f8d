// Local-disk backends for the three services, under one root directory:
//
//   <root>/chunks/<2 hex>/<64 hex>      chunk bytes, named by their BLAKE3 (mode 0444)
//   <root>/manifests/<2 hex>/<64 hex>   chunk lists of multi-chunk blobs, named by the blob's BLAKE3
//   <root>/directories/<2 hex>/<64 hex> canonical Directory protobufs, named by their BLAKE3
//   <root>/pathinfo/<hash part>.json    path infos
//   <root>/packs/<name>.pack            new chunks, manifests and directories, many per file (pack.ts)
//   <root>/packs/index-cache            the packs' indexes in one file, a cache (pack-index-cache.ts)
//   <root>/tmp/                         temp files before their rename (see durable-writer.ts)
//   <root>/journal/<name>.log           path info changes not yet checkpointed (journal.ts)
//
// New objects go into packs (one per group commit); loose files of older
// stores (or of `?pack=false`) stay readable. Content-addressed objects are
// never rewritten: writing one that is stored (loose or in a pack) is a
// no-op, which makes concurrent imports of the same content safe.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ChunkBackend } from "./blob-service";
import type { BytesBackend } from "./directory-service";
import type { DocumentBackend } from "./pathinfo-service";
import { DurableWriter } from "./durable-writer";
import { ObjectKind } from "./pack";
import { PackSet } from "./pack-set";
import { toHex } from "../core/castore";
import { mkdirs } from "./mkdirs";
import { readOrNull } from "./journal";
import { settleAll } from "./settle";


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
  readonly packs: PackSet;
  readonly writer: DurableWriter;
  /** Loose object directories that had objects when the store was opened. */
  private readonly hadLoose: Set<string>;

  /** `pack`: new objects go into pack files (else loose files, the old layout). */
  constructor(readonly root: string, fsync = true, readonly pack = true) {
    this.chunks = join(root, "chunks");
    this.manifests = join(root, "manifests");
    this.directories = join(root, "directories");
    this.pathinfo = join(root, "pathinfo");
    for (const d of [root, this.chunks, this.manifests, this.directories, this.pathinfo]) mkdirs(d, 0o755);
    this.hadLoose = new Set([this.chunks, this.manifests, this.directories].filter((d) => readdirSync(d).length > 0));
    this.packs = new PackSet(join(root, "packs"), { tmpDir: join(root, "tmp") });
    this.writer = new DurableWriter(root, fsync, this.packs);
  }

  /** Where loose objects of a kind live. */
  private looseDir(kind: ObjectKind): string {
    return kind === ObjectKind.Chunk ? this.chunks : kind === ObjectKind.Manifest ? this.manifests : this.directories;
  }

  // An object is in a pack or in a loose file; packs are looked up first (in
  // memory), and rescanned only when both miss (another process may have
  // added a pack since).

  has(kind: ObjectKind, d: Uint8Array): boolean {
    const looseDir = this.looseDir(kind);
    return this.packs.hasLoaded(kind, d) || existsSync(shardPath(looseDir, d)) || (this.packs.rescan() && this.packs.hasLoaded(kind, d));
  }

  read(kind: ObjectKind, d: Uint8Array): Uint8Array | null {
    const looseDir = this.looseDir(kind);
    return this.packs.read(kind, d, false) ?? readBytesOrNull(shardPath(looseDir, d)) ?? (this.packs.rescan() ? this.packs.read(kind, d, false) : null);
  }

  /**
   * Starts writing an object unless it is stored already (null then). `data`
   * is consumed (copied) before this returns. Existence is checked without
   * rescanning packs, and loose files only where the store had some when
   * opened: a missed duplicate costs only space, each check costs time.
   */
  writeOrNull(kind: ObjectKind, d: Uint8Array, data: Uint8Array): Promise<void> | null {
    const looseDir = this.looseDir(kind);
    if (!this.pack) return this.packs.hasLoaded(kind, d) ? null : this.writer.writeNewOrNull(shardPath(looseDir, d), data, true);
    const checkLoose = this.hadLoose.has(looseDir);
    return this.writer.packObjectOrNull(kind, d, data, () => this.packs.hasLoaded(kind, d) || (checkLoose && existsSync(shardPath(looseDir, d))));
  }

  write(kind: ObjectKind, d: Uint8Array, data: Uint8Array): Promise<void> {
    return this.writeOrNull(kind, d, data) ?? Promise.resolve();
  }

  /** write() once the writes in `after` are durable: at once into the same pack when they are pending in it. */
  writeAfter(kind: ObjectKind, d: Uint8Array, data: Uint8Array, after: Promise<unknown>[]): Promise<void> {
    // the batch's own promise, so that what waits for this write can join the batch too
    if (this.pack && this.writer.inThisBatch(after)) return this.write(kind, d, data);
    return (async () => {
      await settleAll(after);
      return this.write(kind, d, data);
    })();
  }

  close(): void {
    this.packs.close();
  }
}

export class LocalChunkBackend implements ChunkBackend {
  constructor(readonly layout: LocalLayout) {}
  /** The chunk's loose file, when it has one (materialise hard-links those). */
  loosePath(d: Uint8Array): string | null {
    const p = shardPath(this.layout.chunks, d);
    return existsSync(p) ? p : null;
  }
  async hasChunk(d: Uint8Array) {
    return this.layout.has(ObjectKind.Chunk, d);
  }
  async readChunk(d: Uint8Array) {
    return this.layout.read(ObjectKind.Chunk, d);
  }
  writeChunk(d: Uint8Array, data: Uint8Array) {
    return this.layout.write(ObjectKind.Chunk, d, data);
  }
  tryWriteChunk(d: Uint8Array, data: Uint8Array) {
    return this.layout.writeOrNull(ObjectKind.Chunk, d, data);
  }
  waitForRoom() {
    return this.layout.writer.waitForRoom();
  }
  async hasManifest(d: Uint8Array) {
    return this.layout.has(ObjectKind.Manifest, d);
  }
  async readManifest(d: Uint8Array) {
    // most blobs are one chunk: a packed chunk under this digest means "no manifest", without looking on disk
    const packs = this.layout.packs;
    return packs.read(ObjectKind.Manifest, d, false) ?? (packs.hasLoaded(ObjectKind.Chunk, d) ? null : this.layout.read(ObjectKind.Manifest, d));
  }
  writeManifest(d: Uint8Array, data: Uint8Array) {
    return this.layout.write(ObjectKind.Manifest, d, data);
  }
  writeManifestAfter(d: Uint8Array, data: Uint8Array, after: Promise<unknown>[]) {
    return this.layout.writeAfter(ObjectKind.Manifest, d, data, after);
  }
}

export class LocalBytesBackend implements BytesBackend {
  constructor(readonly layout: LocalLayout) {}
  async has(d: Uint8Array) {
    return this.layout.has(ObjectKind.Directory, d);
  }
  async read(d: Uint8Array) {
    return this.layout.read(ObjectKind.Directory, d);
  }
  write(d: Uint8Array, data: Uint8Array) {
    return this.layout.write(ObjectKind.Directory, d, data);
  }
}

export class LocalDocumentBackend implements DocumentBackend {
  constructor(readonly layout: LocalLayout) {}
  /** A key's file (keys are hash parts: one plain name, no join() needed). */
  private file(k: string): string {
    return `${this.layout.pathinfo}/${k}.json`;
  }
  async read(k: string) {
    return this.readNow(k);
  }
  readNow(k: string): string | null {
    const file = this.file(k);
    // a miss without an exception (the daemon asks about paths before adding them)
    if (!statSync(file, { throwIfNoEntry: false })) return null;
    const b = readOrNull(file);
    return b && b.toString("utf8");
  }
  write(k: string, doc: string) {
    return this.layout.writer.replace(this.file(k), doc);
  }
  writeAfter(k: string, doc: string, after: Promise<unknown>[]) {
    return this.layout.writer.replace(this.file(k), doc, 0o644, after);
  }
  delete(k: string) {
    return this.layout.writer.remove(this.file(k));
  }
  async *keys() {
    const names = readdirSync(this.layout.pathinfo).filter((n) => n.endsWith(".json")).sort();
    for (const n of names) yield n.slice(0, -5);
  }
}
