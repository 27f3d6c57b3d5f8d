// A DirectoryService over a key-value backend holding the canonical protobuf
// encoding of each Directory under its BLAKE3 digest. put() validates the
// directory and checks that every subdirectory is present with the size its
// DirectoryNode records; get() re-hashes what it reads. encodeForPut() does
// put()'s CPU work (validating, encoding, hashing) ahead of time: an import
// does it while it still reads files, and writes the directories at the end.
import type { Directory, DirectoryService, EncodedDirectory } from "./types";
import { blake3, initBlake3x4 } from "./blake3x4";
import { CastoreError, decodeDirectory, directorySize, encodeDirectory, showName, toHex, validateDirectory } from "../core/castore";

export interface BytesBackend {
  has(digest: Uint8Array): Promise<boolean>;
  read(digest: Uint8Array): Promise<Uint8Array | null>;
  /** Durable when it resolves; writing existing content is a no-op. */
  write(digest: Uint8Array, data: Uint8Array): Promise<void>;
}

export class DirectoryCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DirectoryCorruptError";
  }
}

/** What encodeForPut() made (put() trusts nothing else to be validated and hashed). */
const encoded = new WeakSet<EncodedDirectory>();

/** Validates, encodes and hashes a directory for put() (initBlake3x4() must have completed). */
export function encodeForPut(dir: Directory): EncodedDirectory {
  validateDirectory(dir);
  const bytes = encodeDirectory(dir);
  const e = { dir, bytes, digest: blake3(bytes) };
  encoded.add(e);
  return e;
}

export class ProtoDirectoryService implements DirectoryService {
  /** Sizes of directories known to be present and valid (hex digest -> size). */
  private known = new Map<string, bigint>();

  constructor(readonly backend: BytesBackend) {}

  async get(digest: Uint8Array): Promise<Directory | null> {
    const bytes = await this.backend.read(digest);
    if (!bytes) return null;
    await initBlake3x4();
    const got = blake3(bytes);
    if (Buffer.compare(got, digest) !== 0) throw new DirectoryCorruptError(`directory ${toHex(digest)} is corrupt: its encoding hashes to ${toHex(got)}`);
    let d: Directory;
    try {
      d = decodeDirectory(bytes);
      validateDirectory(d);
    } catch (e) {
      throw new DirectoryCorruptError(`directory ${toHex(digest)} is corrupt: ${(e as Error).message}`);
    }
    this.known.set(toHex(digest), directorySize(d));
    return d;
  }

  private async sizeOf(digest: Uint8Array): Promise<bigint | null> {
    const k = this.known.get(toHex(digest));
    if (k !== undefined) return k;
    const d = await this.get(digest);
    return d ? directorySize(d) : null;
  }

  async put(d: Directory | EncodedDirectory): Promise<Uint8Array> {
    if (!("bytes" in d && encoded.has(d))) {
      await initBlake3x4();
      d = encodeForPut("bytes" in d ? d.dir : d);
    }
    const { dir, bytes, digest } = d;
    for (const c of dir.directories) {
      const size = await this.sizeOf(c.digest);
      if (size === null) throw new CastoreError(`subdirectory '${showName(c.name)}' (${toHex(c.digest)}) is not in the directory service`);
      if (size !== c.size) throw new CastoreError(`subdirectory '${showName(c.name)}' records size ${c.size}, but its directory has size ${size}`);
    }
    const hex = toHex(digest);
    if (!this.known.has(hex)) {
      await this.backend.write(digest, bytes);
      this.known.set(hex, directorySize(dir));
    }
    return digest;
  }

  async putAll(list: (Directory | EncodedDirectory)[]): Promise<void> {
    await initBlake3x4();
    const sizes = new Map<string, bigint>(); // this list's directories
    const writes: Promise<void>[] = [];
    for (let d of list) {
      if (!("bytes" in d && encoded.has(d))) d = encodeForPut("bytes" in d ? d.dir : d);
      const { dir, bytes, digest } = d;
      for (const c of dir.directories) {
        const size = sizes.get(toHex(c.digest)) ?? (await this.sizeOf(c.digest));
        if (size === null) throw new CastoreError(`subdirectory '${showName(c.name)}' (${toHex(c.digest)}) is not in the directory service`);
        if (size !== c.size) throw new CastoreError(`subdirectory '${showName(c.name)}' records size ${c.size}, but its directory has size ${size}`);
      }
      const hex = toHex(digest);
      if (!this.known.has(hex) && !sizes.has(hex)) writes.push(this.backend.write(digest, bytes));
      sizes.set(hex, directorySize(dir));
    }
    // all at once: a local store packs them together, with one fsync per write batch
    await Promise.all(writes);
    for (const [hex, size] of sizes) this.known.set(hex, size);
  }

  async *getRecursive(digest: Uint8Array): AsyncIterable<Directory> {
    const seen = new Set<string>([toHex(digest)]);
    const queue = [digest];
    while (queue.length > 0) {
      const d = queue.shift()!;
      const dir = await this.get(d);
      if (!dir) throw new DirectoryCorruptError(`directory ${toHex(d)} is missing`);
      yield dir;
      for (const c of dir.directories) {
        const h = toHex(c.digest);
        if (!seen.has(h)) {
          seen.add(h);
          queue.push(c.digest);
        }
      }
    }
  }
}
