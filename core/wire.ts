// nix-daemon wire primitives (see shared/docs/seed/nix-daemon/serialization.md):
// little-endian u64 numbers, byte strings padded with zeros to 8 bytes,
// lists and maps prefixed with their length, and framed streams.
//
// Framed streams (AddToStoreNar since protocol 1.23, and later ops) are a
// series of u64 length + raw bytes *without padding*, ended by a zero length,
// which is what C++ Nix's FramedSink/FramedSource put on the wire.

import { ByteReader } from "./byte-reader";

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WireError";
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const ZEROS = new Uint8Array(8);

export interface WireLimits {
  /** Longest string/bytes value accepted (default 64 MiB). */
  maxBytes: number;
  /** Most list/map elements accepted (default 1,000,000). */
  maxItems: number;
}
const DEFAULT_LIMITS: WireLimits = { maxBytes: 64 * 1024 * 1024, maxItems: 1_000_000 };

export class WireWriter {
  private parts: Uint8Array[] = [];
  private length = 0;

  private push(b: Uint8Array): this {
    this.parts.push(b);
    this.length += b.length;
    return this;
  }

  u64(n: number | bigint): this {
    const b = new Uint8Array(8);
    const big = BigInt(n);
    if (big < 0n || big > 0xffffffffffffffffn) throw new WireError(`u64 out of range: ${n}`);
    new DataView(b.buffer).setBigUint64(0, big, true);
    return this.push(b);
  }

  bool(v: boolean): this {
    return this.u64(v ? 1 : 0);
  }

  bytes(b: Uint8Array): this {
    this.u64(b.length);
    this.push(b);
    const pad = paddingOf(b.length);
    return pad ? this.push(ZEROS.subarray(0, pad)) : this;
  }

  string(s: string): this {
    return this.bytes(enc.encode(s));
  }

  strings(l: Iterable<string>): this {
    const arr = [...l];
    this.u64(arr.length);
    for (const s of arr) this.string(s);
    return this;
  }

  stringMap(m: Iterable<[string, string]>): this {
    const arr = [...m];
    this.u64(arr.length);
    for (const [k, v] of arr) this.string(k).string(v);
    return this;
  }

  /** Raw bytes, no length or padding. */
  raw(b: Uint8Array): this {
    return this.push(b);
  }

  /** One frame of a framed stream (an empty chunk ends the stream). */
  frame(chunk: Uint8Array): this {
    this.u64(chunk.length);
    return chunk.length ? this.push(chunk) : this;
  }

  get size(): number {
    return this.length;
  }

  /** Takes everything written so far, leaving the writer empty. */
  take(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    this.parts = [];
    this.length = 0;
    return out;
  }
}

type Source = AsyncIterable<Uint8Array | Buffer | string>;

/** Reads wire values from a byte stream (e.g. a socket). */
export class WireReader extends ByteReader {
  readonly limits: WireLimits;

  constructor(source: Source, limits: Partial<WireLimits> = {}) {
    super(source, (wanted, missing) =>
      new WireError(wanted === "exact" ? `unexpected end of stream (wanted ${missing} more bytes)` : "unexpected end of stream"),
    );
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }


  async u64Big(): Promise<bigint> {
    const b = await this.exact(8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  }

  /** A u64 as a number, or as a bigint when it is beyond safe integers (decodeU64). */
  async u64OrBig(): Promise<number | bigint> {
    return decodeU64(await this.exact(8));
  }

  /** A u64 that must fit a JS safe integer. */
  async u64(): Promise<number> {
    return safeU64(await this.u64OrBig());
  }

  async bool(): Promise<boolean> {
    return decodeBool(await this.exact(8));
  }

  async bytes(max = this.limits.maxBytes): Promise<Uint8Array> {
    return new Uint8Array(await this.bytesView(max)); // copy: the view may alias the receive buffer
  }

  /** A string's bytes, possibly a view into the receive buffer (valid until the next read). */
  private async bytesView(max: number): Promise<Uint8Array> {
    const len = stringLength(await this.u64OrBig(), max);
    const b = await this.exact(len);
    const pad = paddingOf(len);
    if (pad) checkPadding(await this.exact(pad));
    return b;
  }

  async string(max = this.limits.maxBytes): Promise<string> {
    return dec.decode(await this.bytesView(max));
  }

  private async count(): Promise<number> {
    return itemCount(await this.u64OrBig(), this.limits.maxItems);
  }

  async strings(): Promise<string[]> {
    const n = await this.count();
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await this.string());
    return out;
  }

  async stringMap(): Promise<Map<string, string>> {
    const n = await this.count();
    const out = new Map<string, string>();
    for (let i = 0; i < n; i++) out.set(await this.string(), await this.string());
    return out;
  }

  /**
   * Runs `parse` over the values at hand (see ByteReader.tryParse()):
   * undefined when they are not all there yet, and nothing is consumed.
   */
  tryValues<T>(parse: (c: WireCursor) => T): T | undefined {
    return this.tryParse((take) => parse(new WireCursor(take, this.limits)));
  }

  /** The chunks of a framed stream, up to and excluding its empty end frame. */
  async *framed(maxFrame = this.limits.maxBytes): AsyncIterable<Uint8Array> {
    for (;;) {
      const n = await this.u64Big();
      if (n === 0n) return;
      if (n > BigInt(maxFrame)) throw new WireError(`refusing a ${n}-byte frame (limit ${maxFrame})`);
      yield new Uint8Array(await this.exact(Number(n)));
    }
  }

  /** Exactly `size` raw bytes as a stream of chunks (e.g. a NAR sent unframed). */
  async *rawStream(size: number): AsyncIterable<Uint8Array> {
    let left = size;
    while (left > 0) {
      const c = await this.some(Math.min(left, 1 << 20));
      left -= c.length;
      yield new Uint8Array(c);
    }
  }
}

/** WireReader's values read synchronously from bytes at hand (WireReader.tryValues()): the same checks and errors. */
export class WireCursor {
  constructor(
    private readonly take: (n: number) => Uint8Array,
    private readonly limits: WireLimits,
  ) {}

  u64OrBig(): number | bigint {
    return decodeU64(this.take(8));
  }

  u64(): number {
    return safeU64(this.u64OrBig());
  }

  bool(): boolean {
    return decodeBool(this.take(8));
  }

  string(max = this.limits.maxBytes): string {
    const len = stringLength(this.u64OrBig(), max);
    const b = this.take(len);
    const pad = paddingOf(len);
    if (pad) checkPadding(this.take(pad));
    return dec.decode(b);
  }

  strings(): string[] {
    const n = itemCount(this.u64OrBig(), this.limits.maxItems);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.string());
    return out;
  }
}

// The decoding and checks WireReader and WireCursor share.

/**
 * A u64's 8 little-endian bytes as a number, or as a bigint when it is
 * beyond safe integers (no DataView or BigInt per number: lengths and
 * counts come several per path info).
 */
function decodeU64(b: Uint8Array): number | bigint {
  const lo = (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  const hi = (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) >>> 0;
  return hi > 0x1fffff ? (BigInt(hi) << 32n) | BigInt(lo) : hi * 0x100000000 + lo;
}

function safeU64(v: number | bigint): number {
  if (typeof v === "bigint") throw new WireError(`number ${v} is too large`);
  return v;
}

function decodeBool(b: Uint8Array): boolean {
  return (b[0] | b[1] | b[2] | b[3] | b[4] | b[5] | b[6] | b[7]) !== 0;
}

function stringLength(n: number | bigint, max: number): number {
  if (n > max) throw new WireError(`refusing a ${n}-byte string (limit ${max})`);
  return Number(n);
}

/** The zero bytes after a string of len bytes, up to a multiple of 8. */
function paddingOf(len: number): number {
  return (8 - (len % 8)) % 8;
}

function checkPadding(p: Uint8Array): void {
  for (let i = 0; i < p.length; i++) if (p[i] !== 0) throw new WireError("non-zero padding");
}

function itemCount(n: number | bigint, max: number): number {
  if (n > max) throw new WireError(`refusing a list of ${n} items (limit ${max})`);
  return Number(n);
}

/** Writes a framed stream of `source` through `write`, then the end frame. */
export async function writeFramed(source: AsyncIterable<Uint8Array>, write: (b: Uint8Array) => void | Promise<void>): Promise<void> {
  const w = new WireWriter();
  for await (const chunk of source) {
    if (chunk.length === 0) continue;
    w.frame(chunk);
    await write(w.take());
  }
  w.frame(new Uint8Array(0));
  await write(w.take());
}
