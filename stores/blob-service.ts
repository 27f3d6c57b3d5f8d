// A BlobService over a chunk backend. Blobs are addressed by the BLAKE3 of
// their whole contents (as in Tvix). Their bytes are cut into
// content-defined chunks (stores/chunker.ts), each stored under its own
// BLAKE3; a blob of more than one chunk also gets a manifest (the list of its
// chunks) stored under the blob's digest. A one-chunk blob is just its chunk.
// Every read re-hashes: chunks against their names, multi-chunk blobs as a
// whole against theirs.
import type { BlobService } from "./types";
import type { Blake3Hasher } from "../core/blake3";
import { blake3, createBlake3, initBlake3x4 as initBlake3, threadBlake3x4 } from "./blake3x4";

/** Chunk lengths from the WASM cut search where it is available (~6x the JS loop), else undefined. */
function fastCuts(data: Uint8Array): number[] | undefined {
  return data.length > MIN_CHUNK ? threadBlake3x4()?.cuts(data) : undefined;
}
import { toHex } from "../core/castore";
import { Chunker, MIN_CHUNK, chunkBuffer } from "./chunker";

/**
 * Where chunks and manifests live (memory, local disk...). Writes are durable
 * when they resolve; writing a chunk or manifest that is stored is a no-op.
 */
export interface ChunkBackend {
  hasChunk(digest: Uint8Array): Promise<boolean>;
  readChunk(digest: Uint8Array): Promise<Uint8Array | null>;
  writeChunk(digest: Uint8Array, data: Uint8Array): Promise<void>;
  hasManifest(digest: Uint8Array): Promise<boolean>;
  readManifest(digest: Uint8Array): Promise<Uint8Array | null>;
  writeManifest(digest: Uint8Array, data: Uint8Array): Promise<void>;
  /**
   * Optional fast path: starts writing a chunk unless it is present (then
   * returns null, without a promise). The data is consumed (copied if kept)
   * before it returns, so the caller may reuse its buffer; the promise
   * resolves when the chunk is durable.
   */
  tryWriteChunk?(digest: Uint8Array, data: Uint8Array): Promise<void> | null;
  /** Optional: writeManifest() once the writes in `after` are durable, and never before (together with them at the earliest). */
  writeManifestAfter?(digest: Uint8Array, data: Uint8Array, after: Promise<unknown>[]): Promise<void>;
  /** Optional: null, or a promise to wait for while too much is queued for writing. */
  waitForRoom?(): Promise<void> | null;
}

export class BlobCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BlobCorruptError";
  }
}

export interface ChunkRef {
  digest: Uint8Array;
  size: number;
}

const REF_LEN = 32 + 8;

/** Manifest bytes: per chunk, its 32-byte digest and its size as u64 LE. */
export function encodeManifest(chunks: ChunkRef[]): Uint8Array {
  const out = new Uint8Array(chunks.length * REF_LEN);
  const dv = new DataView(out.buffer);
  chunks.forEach((c, i) => {
    out.set(c.digest, i * REF_LEN);
    dv.setBigUint64(i * REF_LEN + 32, BigInt(c.size), true);
  });
  return out;
}

export function decodeManifest(b: Uint8Array, what: string): ChunkRef[] {
  if (b.length % REF_LEN !== 0 || b.length === 0) throw new BlobCorruptError(`manifest of blob ${what} is malformed (${b.length} bytes)`);
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const out: ChunkRef[] = [];
  for (let o = 0; o < b.length; o += REF_LEN) out.push({ digest: b.slice(o, o + 32), size: Number(dv.getBigUint64(o + 32, true)) });
  return out;
}

function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** Bounded set of in-flight writes: add() waits while `limit` are pending. */
class WritePool {
  private pending = new Set<Promise<void>>();
  private failure: unknown = null;
  constructor(private readonly limit: number) {}

  async add(p: Promise<void>): Promise<void> {
    const tracked = p.catch((e) => {
      this.failure ??= e;
    }).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
    while (this.pending.size >= this.limit) await Promise.race(this.pending);
    if (this.failure) throw this.failure;
  }

  async drain(): Promise<void> {
    await Promise.all(this.pending);
    if (this.failure) throw this.failure;
  }
}

export class ChunkedBlobService implements BlobService {
  /** Chunks written (or found already present) by this instance: for dedup statistics. */
  stats = { chunksWritten: 0, bytesWritten: 0, chunksDeduplicated: 0, bytesDeduplicated: 0 };

  constructor(readonly backend: ChunkBackend) {}

  async has(digest: Uint8Array): Promise<boolean> {
    // most blobs are one chunk: asking for that first spares a miss (a disk lookup) for them
    return (await this.backend.hasChunk(digest)) || (await this.backend.hasManifest(digest));
  }

  /** The chunks of a blob, or null when absent. */
  async chunks(digest: Uint8Array): Promise<ChunkRef[] | null> {
    const m = await this.backend.readManifest(digest);
    if (m) return decodeManifest(m, toHex(digest));
    if (await this.backend.hasChunk(digest)) return [{ digest, size: -1 }];
    return null;
  }

  async open(digest: Uint8Array): Promise<AsyncIterable<Uint8Array> | null> {
    const chunks = await this.chunks(digest);
    if (!chunks) return null;
    await initBlake3();
    return this.read(digest, chunks);
  }

  private async *read(digest: Uint8Array, chunks: ChunkRef[]): AsyncIterable<Uint8Array> {
    const whole: Blake3Hasher | null = chunks.length > 1 ? await createBlake3() : null;
    for (const c of chunks) {
      const data = await this.readVerifiedChunk(c.digest, digest);
      if (c.size >= 0 && data.length !== c.size)
        throw new BlobCorruptError(`blob ${toHex(digest)} is corrupt: chunk ${toHex(c.digest)} has ${data.length} bytes, the manifest says ${c.size}`);
      whole?.update(data);
      yield data;
    }
    if (whole && !sameDigest(whole.digest(), digest)) throw new BlobCorruptError(`blob ${toHex(digest)} is corrupt: its chunks hash to ${toHex(whole.digest())}`);
  }

  /** A chunk's bytes, checked against its digest. */
  async readVerifiedChunk(chunk: Uint8Array, blob: Uint8Array = chunk): Promise<Uint8Array> {
    return this.verifiedChunk(chunk, await this.backend.readChunk(chunk), blob);
  }

  /** Checks bytes read for a chunk (null: missing) against its digest. */
  async verifiedChunk(chunk: Uint8Array, data: Uint8Array | null, blob: Uint8Array = chunk): Promise<Uint8Array> {
    const of = sameDigest(chunk, blob) ? "" : ` of blob ${toHex(blob)}`;
    if (!data) throw new BlobCorruptError(`chunk ${toHex(chunk)}${of} is missing`);
    await initBlake3();
    const got = blake3(data);
    if (!sameDigest(got, chunk)) throw new BlobCorruptError(`chunk ${toHex(chunk)}${of} is corrupt: its contents hash to ${toHex(got)}`);
    return data;
  }

  private async writeChunk(digest: Uint8Array, data: Uint8Array): Promise<void> {
    if (this.backend.tryWriteChunk) {
      await this.startChunk(digest, data);
      return;
    }
    if (await this.backend.hasChunk(digest)) {
      this.stats.chunksDeduplicated++;
      this.stats.bytesDeduplicated += data.length;
      return;
    }
    this.stats.chunksWritten++;
    this.stats.bytesWritten += data.length;
    await this.backend.writeChunk(digest, data);
  }

  /** Whether putSync() is done with its buffer when it returns (the backend copies what it keeps). */
  get consumesSynchronously(): boolean {
    return this.backend.tryWriteChunk !== undefined;
  }

  /** Null, or a promise to wait for before putting more (writes queued by the backend). */
  waitForRoom(): Promise<void> | null {
    return this.backend.waitForRoom?.() ?? null;
  }

  /** Starts a chunk write; null when the chunk is already present (or its write is shared). */
  private startChunk(digest: Uint8Array, data: Uint8Array): Promise<void> | null {
    const p = this.backend.tryWriteChunk ? this.backend.tryWriteChunk(digest, data) : undefined;
    if (p === undefined) return this.writeChunk(digest, data);
    if (p) {
      this.stats.chunksWritten++;
      this.stats.bytesWritten += data.length;
    } else {
      this.stats.chunksDeduplicated++;
      this.stats.bytesDeduplicated += data.length;
    }
    return p;
  }

  /**
   * put() of a buffer without a promise per call: hashes and chunks at
   * once (initBlake3() must have completed) and returns the digest, plus a
   * promise for durability (null when nothing had to be written; many
   * calls share one promise on a local store). A manifest is written only
   * after its chunks are durable. `cuts`: the chunk lengths, when the
   * caller has cut the data already (chunkBuffer()'s cuts); `whole`: the
   * data's BLAKE3, when the caller has computed it (the tree reader);
   * `digests`: each chunk's BLAKE3 (32 bytes apiece), with `cuts` and
   * `whole` (stores/blob-hasher.ts).
   */
  putSync(data: Uint8Array, cuts?: ArrayLike<number>, whole?: Uint8Array, digests?: Uint8Array): { digest: Uint8Array; durable: Promise<void> | null } {
    if (data.length <= MIN_CHUNK) {
      const digest = whole ?? blake3(data);
      return { digest, durable: this.startChunk(digest, data) };
    }
    const pieces = chunkBuffer(data, cuts ?? fastCuts(data));
    if (pieces.length === 1) {
      const digest = whole ?? blake3(data);
      return { digest, durable: this.startChunk(digest, data) };
    }
    if (digests && digests.length !== 32 * pieces.length) throw new Error("internal error: chunk digests do not match the cuts");
    const refs = pieces.map((p, i) => ({ digest: digests ? digests.slice(32 * i, 32 * i + 32) : blake3(p), size: p.length }));
    const digest = whole ?? blake3(data);
    const writes = new Set<Promise<void>>();
    refs.forEach((r, i) => {
      const p = this.startChunk(r.digest, pieces[i]);
      if (p) writes.add(p);
    });
    // writeManifest() is a no-op for a stored manifest; it is durable only with or after its chunks
    const durable = this.backend.writeManifestAfter
      ? this.backend.writeManifestAfter(digest, encodeManifest(refs), [...writes])
      : Promise.all(writes).then(() => this.backend.writeManifest(digest, encodeManifest(refs)));
    return { digest, durable };
  }

  async put(data: AsyncIterable<Uint8Array> | Uint8Array): Promise<Uint8Array> {
    await initBlake3();
    if (data instanceof Uint8Array) return this.putBuffer(data);
    return this.putStream(data);
  }

  private async putBuffer(data: Uint8Array): Promise<Uint8Array> {
    const pieces = chunkBuffer(data, fastCuts(data));
    if (pieces.length === 1) {
      const d = blake3(data);
      await this.writeChunk(d, data);
      return d;
    }
    const refs = pieces.map((p) => ({ digest: blake3(p), size: p.length }));
    const whole = blake3(data);
    await Promise.all(refs.map((r, i) => this.writeChunk(r.digest, pieces[i])));
    await this.backend.writeManifest(whole, encodeManifest(refs));
    return whole;
  }

  private async putStream(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
    const chunker = new Chunker();
    const pool = new WritePool(16);
    const refs: ChunkRef[] = [];
    let first: Uint8Array | null = null;
    let whole: Blake3Hasher | null = null;
    const take = async (piece: Uint8Array) => {
      // the whole-blob hasher only starts at the second chunk: one-chunk blobs are hashed once
      if (refs.length === 1) {
        whole = await createBlake3();
        whole.update(first!);
        first = null;
      } else if (refs.length === 0) first = piece;
      whole?.update(piece);
      const ref = { digest: blake3(piece), size: piece.length };
      refs.push(ref);
      await pool.add(this.writeChunk(ref.digest, piece));
    };
    for await (const c of source) for (const piece of chunker.push(c)) await take(piece);
    for (const piece of chunker.finish()) await take(piece);
    if (refs.length === 0) await take(new Uint8Array(0));
    await pool.drain();
    if (refs.length === 1) return refs[0].digest;
    const digest = (whole as Blake3Hasher | null)!.digest();
    await this.backend.writeManifest(digest, encodeManifest(refs));
    return digest;
  }
}
