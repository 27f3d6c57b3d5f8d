// Content-defined chunking (FastCDC-style gear hash with normalised
// chunking), so that an edit in a large blob only changes the chunks around
// it and the rest deduplicates. Chunks are 16 KiB..256 KiB, 64 KiB on average.
import { concatBytes } from "../core/bytes";
export const MIN_CHUNK = 16 * 1024;
export const AVG_CHUNK = 64 * 1024;
export const MAX_CHUNK = 256 * 1024;
// Before the average size a cut needs 18 zero bits (rarer), after it 14
// (likelier): this narrows the size distribution around AVG_CHUNK. The gear
// hash shifts left, so its high bits depend on the last 32 bytes.
export const MASK_S = 0xffffc000 | 0;
export const MASK_L = 0xfffc0000 | 0;

/** 256 fixed pseudo-random words (splitmix32 from a constant seed). */
export const GEAR: Int32Array = (() => {
  const t = new Int32Array(256);
  let s = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    t[i] = z ^ (z >>> 16);
  }
  return t;
})();

/**
 * Length of the first chunk of b[off, off+len) (len bytes available).
 * (stores/hash-kernels.ts's cuts() is the same search in WASM, for the tree reader.)
 */
export function cutPoint(b: Uint8Array, off: number, len: number): number {
  if (len <= MIN_CHUNK) return len;
  const n = Math.min(len, MAX_CHUNK);
  const normal = Math.min(n, AVG_CHUNK);
  let h = 0;
  let i = MIN_CHUNK;
  for (; i < normal; i++) {
    h = ((h << 1) + GEAR[b[off + i]]) | 0;
    if ((h & MASK_S) === 0) return i + 1;
  }
  for (; i < n; i++) {
    h = ((h << 1) + GEAR[b[off + i]]) | 0;
    if ((h & MASK_L) === 0) return i + 1;
  }
  return n;
}

/** Input is gathered up to this size before cutting, so that each byte is copied once. */
const GATHER = 4 * 1024 * 1024;

/** Streaming chunker: push data, get back the chunks completed so far; finish() flushes the rest. */
export class Chunker {
  private parts: Uint8Array[] = [];
  private total = 0;

  push(data: Uint8Array): Uint8Array[] {
    this.parts.push(data);
    this.total += data.length;
    if (this.total < GATHER) return [];
    return this.cut(false);
  }

  finish(): Uint8Array[] {
    return this.cut(true);
  }

  private cut(final: boolean): Uint8Array[] {
    const buf = this.parts.length === 1 ? this.parts[0] : concatBytes(this.parts, this.total);
    const out: Uint8Array[] = [];
    let off = 0;
    // except at the end, only cut where a full MAX_CHUNK window is available: later data could move the cut
    while (off < buf.length && (final || buf.length - off >= MAX_CHUNK)) {
      const c = cutPoint(buf, off, buf.length - off);
      out.push(buf.subarray(off, off + c));
      off += c;
    }
    // the remainder is kept as a view: pushed buffers must not be reused by the caller
    this.parts = off < buf.length ? [buf.subarray(off)] : [];
    this.total = buf.length - off;
    return out;
  }
}

/**
 * All chunks of an in-memory buffer (same cuts as the streaming Chunker);
 * `cuts`: the chunk lengths when already known (from the tree reader).
 */
export function chunkBuffer(data: Uint8Array, cuts?: ArrayLike<number>): Uint8Array[] {
  if (data.length <= MIN_CHUNK) return [data];
  if (cuts) {
    let o = 0;
    return Array.from(cuts, (c) => data.subarray(o, (o += c)));
  }
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < data.length) {
    const c = cutPoint(data, off, data.length - off);
    out.push(data.subarray(off, off + c));
    off += c;
  }
  return out;
}
