// The three castore/store services (after Tvix's castore and store crates).
// Every backend (memory, local disk, S3, binary cache, daemon) and every
// combinator (cache, list-by-priority) implements some of these interfaces;
// `openStore(url)` in stores/url.ts picks them.
//
// Digests are BLAKE3 (32 bytes). Directory digests are BLAKE3 of the canonical
// protobuf encoding of the Directory message (core/castore.ts).

import type { CastoreNode, Directory } from "../core/castore";
export type { CastoreNode, Directory };

export interface BlobService {
  has(digest: Uint8Array): Promise<boolean>;
  /** Streams a blob's bytes, or null when it is absent. Implementations verify the digest. */
  open(digest: Uint8Array): Promise<AsyncIterable<Uint8Array> | null>;
  /** Stores bytes, returns their BLAKE3 digest. Durable when the promise resolves. */
  put(data: AsyncIterable<Uint8Array> | Uint8Array): Promise<Uint8Array>;
}

/** A directory validated, encoded and hashed by encodeForPut() (stores/directory-service.ts), for put() later. */
export interface EncodedDirectory {
  readonly dir: Directory;
  readonly bytes: Uint8Array;
  readonly digest: Uint8Array;
}

export interface DirectoryService {
  get(digest: Uint8Array): Promise<Directory | null>;
  /**
   * Validates and stores one directory (or one encodeForPut() made, which
   * spares that work); its children must already be present. Returns its
   * digest; the directory is durable when the promise resolves.
   */
  put(dir: Directory | EncodedDirectory): Promise<Uint8Array>;
  /**
   * Stores a whole tree's directories at once, children before parents (each
   * directory's children are earlier in the list or already present): one
   * write batch for all, where put() by put() costs one durable write per
   * level. Durable when the promise resolves.
   */
  putAll(dirs: (Directory | EncodedDirectory)[]): Promise<void>;
  /** The directory and everything below it, root first (breadth-first, each once). */
  getRecursive(digest: Uint8Array): AsyncIterable<Directory>;
}

/** Store-path metadata: the root node plus what Nix's narinfo carries. */
export interface PathInfo extends NixPathInfo {
  node: CastoreNode;
}

export interface PathInfoService {
  /** Looks a path up by its 32-character nixbase32 hash part. */
  get(hashPart: string): Promise<PathInfo | null>;
  /** Optional: get() answered synchronously (a local file read): undefined when this service cannot. */
  getNow?(hashPart: string): PathInfo | null | undefined;
  put(info: PathInfo): Promise<void>;
  /**
   * Optional: put() once every write in `after` is durable, and never
   * before; a local store registers it in the same commit as those writes
   * when they are still pending in the current one (the path info goes in
   * place only after them).
   */
  putAfter?(info: PathInfo, after: Promise<unknown>[]): Promise<void>;
  /** Removes a path's info (by hash part); absent ones are fine. Not every backend can. */
  delete?(hashPart: string): Promise<void>;
  /** All paths (for `tvix copy --all` and `tvix store verify`); may be unsupported by remote backends. */
  list(): AsyncIterable<PathInfo>;
}

/**
 * The Nix-facing view every store URL offers (what `tvix copy`, the daemon
 * listener and the builder use): path metadata plus NAR streams. Castore
 * backends implement it through the NAR bridge (ingest/render); Nix binary
 * caches and the daemon client implement it natively.
 */
export interface NixStore {
  readonly url: string;
  readonly storeDir: string;
  /** Metadata for an absolute store path, or null when the store lacks it. */
  queryPathInfo(storePath: string): Promise<NixPathInfo | null>;
  /** The NAR of a valid path; throws when it is absent. */
  narFromPath(storePath: string): AsyncIterable<Uint8Array>;
  /**
   * Adds a path from its NAR. Must verify narHash/narSize while reading, and
   * leave the store unchanged when verification fails or the stream breaks.
   */
  addToStore(info: NixPathInfo, nar: AsyncIterable<Uint8Array>): Promise<void>;
  /** All valid paths, when the backend can enumerate them (else throws "not supported"). */
  listPaths(): AsyncIterable<string>;
  close(): Promise<void>;
}

/** Stores that can invalidate a path (what the garbage collector and `--delete` need). */
export interface PathRemoval {
  deletePath(storePath: string): Promise<void>;
}

/** Stores that can add signatures to a valid path. */
export interface SignatureAddition {
  addSignatures(storePath: string, signatures: readonly string[]): Promise<void>;
}

/** Stores that find a path by its hash part without listing everything. */
export interface HashPartLookup {
  queryPathFromHashPart(hashPart: string): Promise<string | null>;
}

export const canRemovePaths = (s: object): s is PathRemoval => typeof (s as Partial<PathRemoval>).deletePath === "function";
export const canAddSignatures = (s: object): s is SignatureAddition => typeof (s as Partial<SignatureAddition>).addSignatures === "function";
export const canLookUpHashParts = (s: object): s is HashPartLookup => typeof (s as Partial<HashPartLookup>).queryPathFromHashPart === "function";

/** Metadata of a store path in Nix's terms (narinfo without the file/compression fields). */
export interface NixPathInfo {
  storePath: string;
  narHash: string;
  narSize: number;
  references: string[];
  deriver?: string;
  signatures: string[];
  ca?: string;
  /** When the path became valid (seconds since the epoch), where the store records it. */
  registrationTime?: number;
  /** Built (or added) by this store itself rather than copied from elsewhere. */
  ultimate?: boolean;
}

/** A castore-backed store: the three services, plus the Nix view over them. */
export interface CastoreStore extends NixStore {
  blobs: BlobService;
  directories: DirectoryService;
  pathInfos: PathInfoService;
}
