// BLAKE3-256 for the castore's blobs and chunks, on the WASM SIMD kernels
// of stores/hash-kernels.ts: one-shot digests of buffers and streaming
// hashers (the BLAKE3 tree over aligned power-of-two subtrees, as the
// reference implementation builds it). Same digests as core/blake3.ts
// (hash-wasm), which is used instead where WASM SIMD is missing.
import { blake3 as hashWasmBlake3, createBlake3 as hashWasmCreateBlake3, initBlake3 as initHashWasm, type Blake3Hasher } from "../core/blake3";
import { MAX_CHUNK } from "./chunker";
import { CHUNK, CHUNK_END, CHUNK_START, MAX_DIGEST, PARENT, ROOT, Region, instantiateKernels, kernelMemory, kernelModule, type Kernels, type WasmModule } from "./hash-kernels";

/** Streaming input is copied into the memory this many bytes (whole chunks) at a time. */
const INPUT_SIZE = 1024 * CHUNK;

/**
 * BLAKE3 on one thread's kernels: `region` is the thread's scratch region,
 * `input` an area of INPUT_SIZE bytes for data from elsewhere (none: only
 * digestAt()).
 */
export class Blake3x4 {
  constructor(
    readonly k: Kernels,
    readonly region: number,
    private readonly input = -1,
  ) {}

  /** A memory and kernels of their own (the thread's default instance). */
  static standalone(module: WasmModule): Blake3x4 {
    const input = Region.size;
    const k = instantiateKernels(module, kernelMemory(input + INPUT_SIZE), [0]);
    return new Blake3x4(k, 0, input);
  }

  /** BLAKE3-256 of data. */
  digest(data: Uint8Array): Uint8Array {
    if (this.input < 0) throw new Error("internal error: this BLAKE3 instance has no input area");
    if (data.length <= INPUT_SIZE) {
      this.k.mem.set(data, this.input);
      return this.k.digest(this.input, data.length, this.region);
    }
    const h = this.hasher();
    h.update(data);
    return h.digest();
  }

  /**
   * Chunk lengths of an in-memory buffer with the WASM cut search (the same
   * cuts as chunker.ts's cutPoint loop): the data is copied in windows of
   * INPUT_SIZE; a cut is kept only when its chunk had a whole MAX_CHUNK of
   * lookahead inside the window (or the window reached the end).
   */
  cuts(data: Uint8Array): number[] {
    if (this.input < 0) throw new Error("internal error: this BLAKE3 instance has no input area");
    const out: number[] = [];
    let off = 0;
    while (off < data.length) {
      const len = Math.min(INPUT_SIZE, data.length - off);
      const atEnd = off + len === data.length;
      this.k.mem.set(data.subarray(off, off + len), this.input);
      let start = 0;
      for (const c of this.k.cuts(this.input, len, this.region)) {
        if (!atEnd && start + MAX_CHUNK > len) break;
        out.push(c);
        start += c;
      }
      off += start;
    }
    return out;
  }

  /** BLAKE3-256 of bytes already in the kernels' memory (len <= MAX_DIGEST), without a copy. */
  digestAt(at: number, len: number): Uint8Array {
    return this.k.digest(at, len, this.region);
  }

  hasher(): Blake3Hasher {
    return new StreamingHasher(this, this.input);
  }

  /** The chaining value of a parent node. */
  parent(left: Uint8Array, right: Uint8Array, flags: number): Uint8Array {
    const { mem, hash } = this.k;
    const at = this.region + Region.parentBlock;
    const out = this.region + Region.result;
    mem.set(left, at);
    mem.set(right, at + 32);
    hash(at, 1, 0, 1, 0, 0, 0, PARENT | flags, 0, 0, 64, out);
    return mem.slice(out, out + 32);
  }
}

/**
 * update() takes whole chunks as aligned power-of-two subtrees (up to
 * INPUT_SIZE) while at least one byte follows them, so a value pushed is
 * never the root; the chunk in progress is kept here. Subtree values are
 * merged eagerly (reference implementation), and finish() merges the rest.
 */
class StreamingHasher implements Blake3Hasher {
  private stack: Uint8Array[] = [];
  private chunks = 0;
  private tail = new Uint8Array(CHUNK);
  private tailLen = 0;

  constructor(
    private readonly b: Blake3x4,
    private readonly input: number,
  ) {}

  update(data: Uint8Array): void {
    let pos = 0;
    while (pos < data.length) {
      if (this.tailLen === CHUNK) {
        // more input follows: the chunk is complete and not the root
        this.push(this.chunkValue(0), 1);
        this.tailLen = 0;
      }
      const left = data.length - pos;
      if (this.tailLen > 0 || left <= CHUNK) {
        const take = Math.min(CHUNK - this.tailLen, left);
        this.tail.set(data.subarray(pos, pos + take), this.tailLen);
        this.tailLen += take;
        pos += take;
        continue;
      }
      let size = 1;
      const avail = Math.min(Math.floor((left - 1) / CHUNK), INPUT_SIZE / CHUNK);
      while (size * 2 <= avail && this.chunks % (size * 2) === 0) size *= 2;
      this.b.k.mem.set(data.subarray(pos, pos + size * CHUNK), this.input);
      this.push(this.subtreeValue(size), size);
      pos += size * CHUNK;
    }
  }

  /** The chaining value of `size` whole chunks at the input area (a power of two, counters from this.chunks). */
  private subtreeValue(size: number): Uint8Array {
    const { mem, hash } = this.b.k;
    const cvs = this.b.region + Region.scratch + CHUNK;
    const lo = this.chunks % 0x100000000;
    const hi = Math.floor(this.chunks / 0x100000000);
    if (lo + size <= 0x100000000) hash(this.input, size, CHUNK, 16, lo, hi, 1, 0, CHUNK_START, CHUNK_END, 64, cvs);
    else
      for (let i = 0; i < size; i++) {
        const c = this.chunks + i;
        hash(this.input + i * CHUNK, 1, 0, 16, c % 0x100000000, Math.floor(c / 0x100000000), 0, 0, CHUNK_START, CHUNK_END, 64, cvs + 32 * i);
      }
    for (let n = size; n > 1; n >>= 1) hash(cvs, n >> 1, 64, 1, 0, 0, 0, PARENT, 0, 0, 64, cvs);
    return mem.slice(cvs, cvs + 32);
  }

  /** The chaining value (or with ROOT the digest) of the chunk in progress. */
  private chunkValue(flags: number): Uint8Array {
    const { mem, hash } = this.b.k;
    const at = this.b.region + Region.scratch;
    const out = this.b.region + Region.result;
    const len = this.tailLen;
    const nblocks = Math.max(1, Math.ceil(len / 64));
    mem.set(this.tail.subarray(0, len), at);
    mem.fill(0, at + len, at + nblocks * 64);
    hash(at, 1, 0, nblocks, this.chunks % 0x100000000, Math.floor(this.chunks / 0x100000000), 0, 0, CHUNK_START, CHUNK_END | flags, len - 64 * (nblocks - 1), out);
    return mem.slice(out, out + 32);
  }

  /** Adds the value of a complete subtree of `size` chunks (a power of two, aligned). */
  private push(cv: Uint8Array, size: number): void {
    this.chunks += size;
    for (let total = this.chunks / size; total % 2 === 0; total /= 2) cv = this.b.parent(this.stack.pop()!, cv, 0);
    this.stack.push(cv);
  }

  digest(): Uint8Array {
    let cv = this.chunkValue(this.stack.length === 0 ? ROOT : 0);
    for (let i = this.stack.length - 1; i >= 0; i--) cv = this.b.parent(this.stack[i], cv, i === 0 ? ROOT : 0);
    this.stack = [];
    this.chunks = 0;
    this.tailLen = 0;
    return cv;
  }
}

// ---------------------------------------------------------------- this thread's instance

let shared: Blake3x4 | null | undefined;

/** This thread's instance, or null where WASM SIMD is missing. */
export function threadBlake3x4(): Blake3x4 | null {
  if (shared === undefined) {
    const m = kernelModule();
    shared = m ? Blake3x4.standalone(m) : null;
  }
  return shared;
}

/** Prepares blake3() and createBlake3Sync(); await once. */
export async function initBlake3x4(): Promise<void> {
  if (!threadBlake3x4()) await initHashWasm();
}

/** Kernel memories on this thread whose bytes blake3() hashes in place (the tree reader's slabs). */
const inPlace = new Map<ArrayBufferLike, Blake3x4>();

/** Makes blake3() hash views of b's memory in place (b must have this thread's region); returns the undo. */
export function registerMemory(b: Blake3x4): () => void {
  const buf = b.k.mem.buffer;
  inPlace.set(buf, b);
  return () => inPlace.delete(buf);
}

/** BLAKE3-256 of a buffer (initBlake3x4() must have completed). */
export function blake3(data: Uint8Array): Uint8Array {
  if (inPlace.size > 0 && data.length <= MAX_DIGEST) {
    const own = inPlace.get(data.buffer);
    if (own) return own.digestAt(data.byteOffset, data.length);
  }
  const b = threadBlake3x4();
  return b ? b.digest(data) : hashWasmBlake3(data);
}

/** A streaming hasher. */
export async function createBlake3(): Promise<Blake3Hasher> {
  const b = threadBlake3x4();
  return b ? b.hasher() : hashWasmCreateBlake3();
}
