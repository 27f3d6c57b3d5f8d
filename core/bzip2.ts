// bzip2 decompression in plain JavaScript (for binary caches' .nar.bz2 and
// .tar.bz2 archives, with no bzip2 tool installed). The format, as bzip2
// 1.0 writes it: "BZh" and a block size, then blocks, each a Huffman-coded
// MTF/run-length text of a Burrows-Wheeler transform, then an end marker
// with the stream's CRC. Concatenated streams (pbzip2) are read as one.
//
// Bzip2Decoder is fed compressed bytes as they come and gives decompressed
// blocks once a whole block is surely buffered: a block's compressed form
// is under LOOKAHEAD bytes, so a block starts decoding when that much input
// is waiting (or the input has ended), and never runs short mid-block.

export class Bzip2Error extends Error {
  constructor(message: string) {
    super(`bzip2: ${message}`);
    this.name = "Bzip2Error";
  }
}

/** More than the largest compressed block (900,000 symbols of at most 20 bits, plus tables). */
const LOOKAHEAD = 3 * 1024 * 1024;
const BLOCK_MAGIC_HI = 0x314159, BLOCK_MAGIC_LO = 0x265359;
const END_MAGIC_HI = 0x177245, END_MAGIC_LO = 0x385090;
const MAX_GROUPS = 6;
const MAX_CODE_LEN = 20;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let j = 0; j < 8; j++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** One Huffman table in canonical form: codes of each length are consecutive. */
interface Table {
  minLen: number;
  maxLen: number;
  /** per length: the largest code of that length (-1 for none) */
  limit: Int32Array;
  /** per length: the first code of that length, and the index of its symbol in perm */
  first: Int32Array;
  index: Int32Array;
  perm: Uint16Array;
}

function makeTable(lengths: Uint8Array, alphaSize: number): Table {
  let minLen = 32, maxLen = 0;
  for (let i = 0; i < alphaSize; i++) {
    minLen = Math.min(minLen, lengths[i]);
    maxLen = Math.max(maxLen, lengths[i]);
  }
  const perm = new Uint16Array(alphaSize);
  const limit = new Int32Array(MAX_CODE_LEN + 2).fill(-1);
  const first = new Int32Array(MAX_CODE_LEN + 2);
  const index = new Int32Array(MAX_CODE_LEN + 2);
  let p = 0;
  let code = 0;
  for (let len = minLen; len <= maxLen; len++) {
    first[len] = code;
    index[len] = p;
    for (let s = 0; s < alphaSize; s++) if (lengths[s] === len) perm[p++] = s;
    code += p - index[len];
    limit[len] = code - 1;
    code <<= 1;
  }
  return { minLen, maxLen, limit, first, index, perm };
}

export class Bzip2Decoder {
  private data: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private bitBuf = 0;
  private bitCount = 0;
  private ended = false;
  /** "header": a stream's "BZh" comes next; "block": a block or the end marker; "done": after the last stream */
  private state: "header" | "block" = "header";
  private blockMax = 0;
  private streamCrc = 0;
  private tt: Uint32Array | null = null;
  private sawStream = false;

  /** input not yet joined to data (joined once, before decoding) */
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;

  push(chunk: Uint8Array): void {
    if (this.ended) throw new Bzip2Error("input after its end");
    this.queued.push(chunk.slice());
    this.queuedBytes += chunk.length;
  }

  private join(): void {
    if (this.queued.length === 0) return;
    const rest = this.data.length - this.pos;
    const next = new Uint8Array(rest + this.queuedBytes);
    next.set(this.data.subarray(this.pos));
    let o = rest;
    for (const q of this.queued) {
      next.set(q, o);
      o += q.length;
    }
    this.data = next;
    this.pos = 0;
    this.queued = [];
    this.queuedBytes = 0;
  }

  end(): void {
    this.ended = true;
  }

  /** The blocks that can be decoded now (all that are left, once end() was called). */
  *blocks(): Generator<Uint8Array> {
    for (;;) {
      const waiting = this.data.length - this.pos + this.queuedBytes;
      if (!this.ended && waiting < LOOKAHEAD) return;
      this.join();
      if (this.state === "header") {
        if (waiting === 0 && this.bitCount === 0) {
          if (!this.sawStream) throw new Bzip2Error("empty input");
          return; // after a whole stream: the end
        }
        this.readHeader();
        continue;
      }
      const hi = this.bits(24), lo = this.bits(24);
      if (hi === BLOCK_MAGIC_HI && lo === BLOCK_MAGIC_LO) {
        yield this.readBlock();
      } else if (hi === END_MAGIC_HI && lo === END_MAGIC_LO) {
        const crc = this.bits32();
        if (crc !== this.streamCrc) throw new Bzip2Error("the stream's CRC does not match its data");
        this.bitCount = 0; // streams end on a byte boundary
        this.bitBuf = 0;
        this.state = "header";
      } else throw new Bzip2Error("bad block header (corrupt data)");
    }
  }

  private readHeader(): void {
    const b = this.bits(8), z = this.bits(8), h = this.bits(8), level = this.bits(8);
    if (b !== 0x42 || z !== 0x5a || h !== 0x68) throw new Bzip2Error(this.sawStream ? "trailing garbage after the compressed data" : "not bzip2 data (no BZh header)");
    if (level < 0x31 || level > 0x39) throw new Bzip2Error("bad block size in the header");
    this.blockMax = (level - 0x30) * 100_000;
    if (!this.tt || this.tt.length < this.blockMax) this.tt = new Uint32Array(this.blockMax);
    this.streamCrc = 0;
    this.sawStream = true;
    this.state = "block";
  }

  private bits(n: number): number {
    while (this.bitCount < n) {
      if (this.pos >= this.data.length) throw new Bzip2Error("unexpected end of data (truncated)");
      this.bitBuf = ((this.bitBuf << 8) | this.data[this.pos++]) >>> 0;
      this.bitCount += 8;
    }
    this.bitCount -= n;
    const v = (this.bitBuf >>> this.bitCount) & ((1 << n) - 1);
    this.bitBuf &= (1 << this.bitCount) - 1;
    return v;
  }

  private bits32(): number {
    return ((this.bits(16) << 16) | this.bits(16)) >>> 0;
  }

  private readBlock(): Uint8Array {
    const blockCrc = this.bits32();
    if (this.bits(1)) throw new Bzip2Error("randomised blocks are not supported");
    const origPtr = this.bits(24);
    // the byte values the block uses
    const used = this.bits(16);
    const seqToUnseq: number[] = [];
    for (let i = 0; i < 16; i++) {
      if (!(used & (0x8000 >> i))) continue;
      const u = this.bits(16);
      for (let j = 0; j < 16; j++) if (u & (0x8000 >> j)) seqToUnseq.push(i * 16 + j);
    }
    if (seqToUnseq.length === 0) throw new Bzip2Error("a block uses no symbols");
    const alphaSize = seqToUnseq.length + 2;
    const nGroups = this.bits(3);
    if (nGroups < 2 || nGroups > MAX_GROUPS) throw new Bzip2Error("bad number of Huffman groups");
    const nSelectors = this.bits(15);
    if (nSelectors < 1) throw new Bzip2Error("no selectors");
    // selectors, move-to-front coded in unary
    const mtfGroups = [0, 1, 2, 3, 4, 5];
    const selectors = new Uint8Array(nSelectors);
    for (let i = 0; i < nSelectors; i++) {
      let j = 0;
      while (this.bits(1)) if (++j >= nGroups) throw new Bzip2Error("bad selector");
      const g = mtfGroups[j];
      for (; j > 0; j--) mtfGroups[j] = mtfGroups[j - 1];
      selectors[i] = mtfGroups[0] = g;
    }
    // code lengths, delta coded
    const tables: Table[] = [];
    const lengths = new Uint8Array(alphaSize);
    for (let t = 0; t < nGroups; t++) {
      let len = this.bits(5);
      for (let s = 0; s < alphaSize; s++) {
        for (;;) {
          if (len < 1 || len > MAX_CODE_LEN) throw new Bzip2Error("bad Huffman code length");
          if (!this.bits(1)) break;
          len += this.bits(1) ? -1 : 1;
        }
        lengths[s] = len;
      }
      tables.push(makeTable(lengths, alphaSize));
    }

    // Huffman symbols -> move-to-front and run-length (RUNA/RUNB) decoding into tt
    const tt = this.tt!;
    const max = this.blockMax;
    const counts = new Int32Array(256);
    const mtf = new Uint8Array(256);
    for (let i = 0; i < 256; i++) mtf[i] = i;
    const eob = alphaSize - 1;
    let n = 0;
    let selector = 0;
    let groupLeft = 0;
    let table = tables[0];
    let runLen = 0;
    let runBit = 0;
    for (;;) {
      if (groupLeft === 0) {
        if (selector >= nSelectors) throw new Bzip2Error("ran out of selectors");
        table = tables[selectors[selector++]];
        groupLeft = 50;
      }
      groupLeft--;
      let len = table.minLen;
      let code = this.bits(len);
      while (code > table.limit[len]) {
        if (++len > table.maxLen) throw new Bzip2Error("bad Huffman code");
        code = (code << 1) | this.bits(1);
      }
      const sym = table.perm[table.index[len] + code - table.first[len]];
      if (sym <= 1) {
        // RUNA (1) and RUNB (2) digits of a bijective base-2 run length
        if (runBit === 0) {
          runBit = 1;
          runLen = 0;
        }
        runLen += (sym + 1) * runBit;
        runBit <<= 1;
        if (runLen > max) throw new Bzip2Error("a run overflows the block");
        continue;
      }
      if (runBit !== 0) {
        if (n + runLen > max) throw new Bzip2Error("a run overflows the block");
        const b = seqToUnseq[mtf[0]];
        counts[b] += runLen;
        tt.fill(b, n, n + runLen);
        n += runLen;
        runBit = 0;
      }
      if (sym === eob) break;
      const idx = sym - 1;
      if (idx >= seqToUnseq.length) throw new Bzip2Error("bad move-to-front index");
      const v = mtf[idx];
      mtf.copyWithin(1, 0, idx);
      mtf[0] = v;
      if (n >= max) throw new Bzip2Error("the block is longer than its header allows");
      const b = seqToUnseq[v];
      counts[b]++;
      tt[n++] = b;
    }
    if (origPtr >= n) throw new Bzip2Error("bad BWT origin pointer");

    // inverse Burrows-Wheeler: tt[i] keeps its byte in the low 8 bits and gains the next position above
    let sum = 0;
    const start = new Int32Array(256);
    for (let i = 0; i < 256; i++) {
      start[i] = sum;
      sum += counts[i];
    }
    for (let i = 0; i < n; i++) tt[start[tt[i] & 0xff]++] |= i << 8;

    // undo the initial run-length coding (4 equal bytes, then a count) and check the block's CRC
    let out: Uint8Array = new Uint8Array(Math.max(n + (n >> 2), 64));
    let o = 0;
    let crc = 0xffffffff;
    let t = tt[origPtr] >>> 8;
    let last = -1;
    let same = 0;
    for (let k = 0; k < n; k++) {
      const e = tt[t];
      const b = e & 0xff;
      t = e >>> 8;
      if (same === 4) {
        if (o + b > out.length) out = grow(out, o + b);
        out.fill(last, o, o + b);
        for (let r = 0; r < b; r++) crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ last) & 0xff];
        o += b;
        same = 0;
        last = -1;
        continue;
      }
      if (b === last) same++;
      else {
        same = 1;
        last = b;
      }
      if (o >= out.length) out = grow(out, o + 1);
      out[o++] = b;
      crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff];
    }
    crc = ~crc >>> 0;
    if (crc !== blockCrc) throw new Bzip2Error("a block's CRC does not match its data (corrupt data)");
    this.streamCrc = (((this.streamCrc << 1) | (this.streamCrc >>> 31)) ^ crc) >>> 0;
    return out.subarray(0, o);
  }
}

function grow(a: Uint8Array, need: number): Uint8Array {
  const b = new Uint8Array(Math.max(need, a.length * 2));
  b.set(a);
  return b;
}

/** Decompresses a whole bzip2 buffer (tests, small inputs). */
export function bunzip2(data: Uint8Array): Uint8Array {
  const d = new Bzip2Decoder();
  d.push(data);
  d.end();
  const parts = [...d.blocks()];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
