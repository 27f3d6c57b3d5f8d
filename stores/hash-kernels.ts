// WebAssembly kernels for importing trees: BLAKE3-256 four 1 KiB chunks (or
// four parent nodes) at a time with WASM SIMD, as in BLAKE3's SSE4.1
// `hash4` (each of the 16 state words is one v128 holding that word for
// four inputs), a one-shot BLAKE3 digest of any bytes in memory, and the
// chunker's cut-point search (stores/chunker.ts's cutPoint()).
//
// The module is generated here, byte by byte: no toolchain, no binary in
// the repository, and nothing to load from a file, so it works from
// sources, from the bundle and from the single executable alike (build.mjs
// generates it once and bundles the bytes: generating them takes ~20 ms of
// every start that hashes, compiling them ~1 ms). It
// imports a shared WasmMemory: the tree reader's worker thread reads
// files into that memory, and either thread hashes or cuts them in place
// (no copies; a compiled module and a shared memory can be handed to a
// worker in workerData).
//
// Same digests as core/blake3.ts (hash-wasm), about twice as fast on one
// thread (docs/stores.md). Where WASM SIMD is missing (no Node 20 platform
// we know of), blake3x4Module() is null and callers use hash-wasm.
import { AVG_CHUNK, GEAR, MASK_L, MASK_S, MAX_CHUNK, MIN_CHUNK } from "./chunker";

const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const PERM = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
export const CHUNK_START = 1;
export const CHUNK_END = 2;
export const PARENT = 4;
export const ROOT = 8;
export const CHUNK = 1024;

// ---------------------------------------------------------------- per-thread scratch regions

/** The largest input digest() takes in one call (its chaining values must fit in the region). */
export const MAX_DIGEST = 16 * 1024 * 1024;
/** Layout of one thread's region of the memory (offsets from its base). */
export const Region = {
  /** the chunker's gear table, 256 i32 */
  gear: 0,
  /** 64 bytes of two chaining values (a parent block) */
  parentBlock: 1024,
  /** a digest or up to 4 chaining values */
  result: 1024 + 64,
  /** a zero-padded last chunk, then chaining values (up to MAX_DIGEST / 1024 + 4) */
  scratch: 1024 + 64 + 128,
  /** cut lengths written by cuts() (a slab of at most MAX_DIGEST bytes: at most MAX_DIGEST / MIN_CHUNK + 1 cuts) */
  cuts: 1024 + 64 + 128 + CHUNK + (MAX_DIGEST / CHUNK + 4) * 32,
  size: 1024 + 64 + 128 + CHUNK + (MAX_DIGEST / CHUNK + 4) * 32 + (MAX_DIGEST / MIN_CHUNK + 1) * 4,
} as const;

// ---------------------------------------------------------------- a small WASM assembler

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}
function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
function vec(items: number[][]): number[] {
  const out = uleb(items.length);
  for (const i of items) for (const b of i) out.push(b);
  return out;
}
function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}
function name(s: string): number[] {
  return [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];
}

const I32 = 0x7f;
const V128 = 0x7b;
const VOID = 0x40;

/** One function's code. Locals are numbered after the parameters. */
class Code {
  readonly c: number[] = [];
  private locals: number[] = [];
  constructor(private readonly params: number) {}
  local(type: number): number {
    this.locals.push(type);
    return this.params + this.locals.length - 1;
  }
  op(...b: number[]): this {
    for (const x of b) this.c.push(x);
    return this;
  }
  get(l: number) {
    return this.op(0x20, ...uleb(l));
  }
  set(l: number) {
    return this.op(0x21, ...uleb(l));
  }
  i32(n: number) {
    return this.op(0x41, ...sleb(n));
  }
  simd(o: number, ...imm: number[]) {
    return this.op(0xfd, ...uleb(o), ...imm);
  }
  /** A loop whose body ends with `br_if 0` on the condition pushed by `cond`. */
  doWhile(body: () => void, cond: () => void) {
    this.op(0x03, VOID);
    body();
    cond();
    return this.op(0x0d, 0, 0x0b);
  }
  /** if (cond) { then } */
  when(cond: () => void, then: () => void) {
    cond();
    this.op(0x04, VOID);
    then();
    return this.op(0x0b);
  }
  body(): number[] {
    const groups: number[][] = [];
    for (const t of this.locals) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const b = [...vec(groups.map(([n, t]) => [...uleb(n), t])), ...this.c, 0x0b];
    return [...uleb(b.length), ...b];
  }
}
// opcodes
const ADD = 0x6a, SUB = 0x6b, MUL = 0x6c, AND = 0x71, OR = 0x72, SHL = 0x74, SHR_U = 0x76;
const EQZ = 0x45, EQ = 0x46, LT_U = 0x49, GT_U = 0x4b, SELECT = 0x1b, CALL = 0x10, RETURN = 0x0f;
const LOAD8_U = [0x2d, 0, 0], LOAD32 = [0x28, 2, 0], STORE32 = [0x36, 2, 0];
const MEMORY_COPY = [0xfc, 10, 0, 0], MEMORY_FILL = [0xfc, 11, 0];

// ---------------------------------------------------------------- function 0: hash (the 4-lane kernel)

/**
 * hash(in, n, stride, nblocks, counterLo, counterHi, counterInc, flags,
 * flagsStart, flagsEnd, lastLen, out): compresses n inputs (at in + i *
 * stride, nblocks 64-byte blocks each, chunk counter counterLo + i *
 * counterInc) from the IV and writes their 32-byte chaining values to
 * out + 32 i. flagsStart is added to the first block's flags, flagsEnd (and
 * lastLen as its length) to the last block's. Inputs go four at a time; a
 * last group of fewer reads the last input again for the missing lanes and
 * writes up to 3 extra values after out's n.
 */
function hashFunction(): Code {
  const [IN, N, STRIDE, NBLOCKS, CLO, CHI, CINC, FLAGS, FSTART, FEND, LASTLEN, OUT] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const f = new Code(12);
  const G = f.local(I32); // first input of this group
  const B = f.local(I32); // block index
  const P = [0, 1, 2, 3].map(() => f.local(I32)); // lane pointers
  const V = Array.from({ length: 16 }, () => f.local(V128)); // state
  const CV = Array.from({ length: 8 }, () => f.local(V128));
  const M = Array.from({ length: 16 }, () => f.local(V128)); // message words, transposed
  const T = [0, 1, 2, 3].map(() => f.local(V128));
  const INCV = f.local(V128); // [0, inc, 2 inc, 3 inc]
  const CNT = f.local(V128); // this group's counters (low words)

  const load = (offset: number) => f.simd(0x00, 0, ...uleb(offset));
  const store = (offset: number) => f.simd(0x0b, 0, ...uleb(offset));
  const splat = () => f.simd(0x11);
  const shuffle = (lanes: number[]) => f.simd(0x0d, ...lanes);
  const vxor = () => f.simd(0x51);
  const vor = () => f.simd(0x50);
  const vadd = () => f.simd(0xae);
  const bytes = (words: number[]) => words.flatMap((w) => [4 * w, 4 * w + 1, 4 * w + 2, 4 * w + 3]);
  // 32-bit lane shuffles of (a, b); b's words are 4-7
  const LO32 = bytes([0, 4, 1, 5]);
  const HI32 = bytes([2, 6, 3, 7]);
  const LO64 = bytes([0, 1, 4, 5]);
  const HI64 = bytes([2, 3, 6, 7]);
  const ROT16 = [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13];
  const ROT8 = [1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12];

  /** 4x4 transpose of 32-bit words, in place. */
  const transpose = (x: number[]) => {
    const pair = (l: number, r: number, lanes: number[], dst: number) => {
      f.get(l).get(r);
      shuffle(lanes);
      f.set(dst);
    };
    pair(x[0], x[1], LO32, T[0]);
    pair(x[0], x[1], HI32, T[1]);
    pair(x[2], x[3], LO32, T[2]);
    pair(x[2], x[3], HI32, T[3]);
    pair(T[0], T[2], LO64, x[0]);
    pair(T[0], T[2], HI64, x[1]);
    pair(T[1], T[3], LO64, x[2]);
    pair(T[1], T[3], HI64, x[3]);
  };
  const rotr = (l: number, n: number) => {
    if (n === 16 || n === 8) f.get(l).get(l), shuffle(n === 16 ? ROT16 : ROT8);
    else f.get(l).i32(n).simd(0xad /* i32x4.shr_u */).get(l).i32(32 - n).simd(0xab /* i32x4.shl */), vor();
    f.set(l);
  };
  const g = (a: number, b: number, c: number, d: number, mx: number, my: number) => {
    f.get(V[a]).get(V[b]), vadd(), f.get(M[mx]), vadd(), f.set(V[a]);
    f.get(V[d]).get(V[a]), vxor(), f.set(V[d]), rotr(V[d], 16);
    f.get(V[c]).get(V[d]), vadd(), f.set(V[c]);
    f.get(V[b]).get(V[c]), vxor(), f.set(V[b]), rotr(V[b], 12);
    f.get(V[a]).get(V[b]), vadd(), f.get(M[my]), vadd(), f.set(V[a]);
    f.get(V[d]).get(V[a]), vxor(), f.set(V[d]), rotr(V[d], 8);
    f.get(V[c]).get(V[d]), vadd(), f.set(V[c]);
    f.get(V[b]).get(V[c]), vxor(), f.set(V[b]), rotr(V[b], 7);
  };
  const isLastBlock = () => f.get(B).get(NBLOCKS).i32(1).op(SUB, EQ);

  f.i32(0), splat();
  for (let k = 1; k < 4; k++) f.get(CINC).i32(k).op(MUL).simd(0x1c /* i32x4.replace_lane */, k);
  f.set(INCV);
  f.i32(0).set(G);
  f.doWhile(
    () => {
      // lane k reads input min(g + k, n - 1)
      for (let k = 0; k < 4; k++) {
        f.get(IN).get(STRIDE);
        f.get(G).i32(k).op(ADD).get(N).i32(1).op(SUB).get(G).i32(k).op(ADD).get(N).op(LT_U, SELECT);
        f.op(MUL, ADD).set(P[k]);
      }
      f.get(CLO).get(CINC).get(G).op(MUL, ADD), splat(), f.get(INCV), vadd(), f.set(CNT);
      for (let i = 0; i < 8; i++) f.i32(IV[i]), splat(), f.set(CV[i]);
      f.i32(0).set(B);
      f.doWhile(
        () => {
          for (let j = 0; j < 4; j++) {
            for (let k = 0; k < 4; k++) f.get(P[k]), load(16 * j), f.set(M[4 * j + k]);
            transpose(M.slice(4 * j, 4 * j + 4));
          }
          for (let i = 0; i < 8; i++) f.get(CV[i]).set(V[i]);
          for (let i = 0; i < 4; i++) f.i32(IV[i]), splat(), f.set(V[8 + i]);
          f.get(CNT).set(V[12]);
          f.get(CHI), splat(), f.set(V[13]);
          f.get(LASTLEN).i32(64), isLastBlock(), f.op(SELECT), splat(), f.set(V[14]);
          f.get(FLAGS);
          f.get(FSTART).i32(0).get(B).op(EQZ, SELECT, OR);
          f.get(FEND).i32(0), isLastBlock(), f.op(SELECT, OR);
          splat(), f.set(V[15]);
          let s = Array.from({ length: 16 }, (_, i) => i);
          for (let r = 0; r < 7; r++) {
            g(0, 4, 8, 12, s[0], s[1]);
            g(1, 5, 9, 13, s[2], s[3]);
            g(2, 6, 10, 14, s[4], s[5]);
            g(3, 7, 11, 15, s[6], s[7]);
            g(0, 5, 10, 15, s[8], s[9]);
            g(1, 6, 11, 12, s[10], s[11]);
            g(2, 7, 8, 13, s[12], s[13]);
            g(3, 4, 9, 14, s[14], s[15]);
            s = PERM.map((p) => s[p]);
          }
          for (let i = 0; i < 8; i++) f.get(V[i]).get(V[i + 8]), vxor(), f.set(CV[i]);
          for (let k = 0; k < 4; k++) f.get(P[k]).i32(64).op(ADD).set(P[k]);
          f.get(B).i32(1).op(ADD).set(B);
        },
        () => f.get(B).get(NBLOCKS).op(LT_U),
      );
      transpose(CV.slice(0, 4));
      transpose(CV.slice(4, 8));
      for (let k = 0; k < 4; k++) {
        f.get(OUT).get(G).i32(k).op(ADD).i32(32).op(MUL, ADD).set(P[k]);
        f.get(P[k]).get(CV[k]), store(0);
        f.get(P[k]).get(CV[4 + k]), store(16);
      }
      f.get(G).i32(4).op(ADD).set(G);
    },
    () => f.get(G).get(N).op(LT_U),
  );
  return f;
}

// ---------------------------------------------------------------- function 1: digest

/**
 * digest(in, len, region, out): BLAKE3-256 of len <= MAX_DIGEST bytes at
 * `in`, written to out, using the thread's region for the zero-padded last
 * chunk and the chaining values. All whole chunks go through the kernel in
 * one call; the tree is then merged level by level (an odd last value moves
 * up unchanged), which gives BLAKE3's tree (left subtrees are the largest
 * power of two of chunks).
 */
function digestFunction(): Code {
  const [IN, LEN, REGION, OUT] = [0, 1, 2, 3];
  const f = new Code(4);
  const TAIL = f.local(I32);
  const CVS = f.local(I32);
  const N = f.local(I32); // chunks
  const FULL = f.local(I32); // whole chunks
  const TL = f.local(I32); // bytes in the last, partial chunk
  const NB = f.local(I32); // its blocks
  const COUNT = f.local(I32);
  const PAIRS = f.local(I32);
  const call = (...args: (() => void)[]) => {
    for (const a of args) a();
    f.op(CALL, 0);
  };
  const v = (l: number) => () => f.get(l);
  const k = (n: number) => () => f.i32(n);
  /** Copies tl bytes from src into TAIL, zero-pads them to whole blocks (at least one) and sets NB. */
  const padTail = (src: () => void) => {
    f.get(TAIL), src(), f.get(TL).op(...MEMORY_COPY);
    // nb = max(1, (tl + 63) >> 6)
    f.get(TL).i32(63).op(ADD).i32(6).op(SHR_U).set(NB);
    f.get(NB).i32(1).get(NB).op(SELECT).set(NB);
    f.get(TAIL).get(TL).op(ADD).i32(0).get(NB).i32(6).op(SHL).get(TL).op(SUB).op(...MEMORY_FILL);
  };
  const lastLen = () => f.get(TL).get(NB).i32(1).op(SUB).i32(6).op(SHL).op(SUB);

  f.get(REGION).i32(Region.scratch).op(ADD).set(TAIL);
  f.get(TAIL).i32(CHUNK).op(ADD).set(CVS);
  f.get(LEN).set(TL);
  // a single chunk is the root
  f.when(
    () => f.get(LEN).i32(CHUNK).op(GT_U, EQZ),
    () => {
      padTail(v(IN));
      call(v(TAIL), k(1), k(0), v(NB), k(0), k(0), k(0), k(0), k(CHUNK_START), k(CHUNK_END | ROOT), lastLen, v(OUT));
      f.op(RETURN);
    },
  );
  f.get(LEN).i32(10).op(SHR_U).set(FULL);
  f.get(LEN).i32(CHUNK - 1).op(AND).set(TL);
  f.get(FULL).i32(0).get(TL).op(0x47 /* i32.ne */).op(ADD).set(N);
  call(v(IN), v(FULL), k(CHUNK), k(16), k(0), k(0), k(1), k(0), k(CHUNK_START), k(CHUNK_END), k(64), v(CVS));
  f.when(
    () => f.get(TL),
    () => {
      padTail(() => f.get(IN).get(FULL).i32(10).op(SHL, ADD));
      call(v(TAIL), k(1), k(0), v(NB), v(FULL), k(0), k(0), k(0), k(CHUNK_START), k(CHUNK_END), lastLen, () =>
        f.get(CVS).get(FULL).i32(5).op(SHL, ADD),
      );
    },
  );
  f.get(N).set(COUNT);
  f.when(
    () => f.get(COUNT).i32(2).op(GT_U),
    () =>
      f.doWhile(
        () => {
          f.get(COUNT).i32(1).op(SHR_U).set(PAIRS);
          // an odd last value waits in TAIL: the call writes up to 3 extra values after its outputs
          const odd = () => f.get(COUNT).i32(1).op(AND);
          const last = () => f.get(CVS).get(COUNT).i32(1).op(SUB).i32(5).op(SHL, ADD);
          f.when(odd, () => (f.get(TAIL), last(), f.i32(32).op(...MEMORY_COPY)));
          call(v(CVS), v(PAIRS), k(64), k(1), k(0), k(0), k(0), k(PARENT), k(0), k(0), k(64), v(CVS));
          f.when(odd, () => f.get(CVS).get(PAIRS).i32(5).op(SHL, ADD).get(TAIL).i32(32).op(...MEMORY_COPY));
          f.get(PAIRS), odd(), f.op(ADD).set(COUNT);
        },
        () => f.get(COUNT).i32(2).op(GT_U),
      ),
  );
  call(v(CVS), k(1), k(64), k(1), k(0), k(0), k(0), k(PARENT | ROOT), k(0), k(0), k(64), v(OUT));
  return f;
}

// ---------------------------------------------------------------- function 2: cuts

/**
 * cuts(in, len, region): cuts len bytes at `in` into chunks (stores/chunker.ts:
 * same gear hash, masks and sizes), writes the chunk lengths as u32 to the
 * region's cuts area and returns how many.
 */
function cutsFunction(): Code {
  const [IN, LEN, REGION] = [0, 1, 2];
  const f = new Code(3);
  const GEARP = f.local(I32);
  const OUTP = f.local(I32);
  const COUNT = f.local(I32);
  const REST = f.local(I32); // bytes left
  const NMAX = f.local(I32);
  const NORMAL = f.local(I32);
  const H = f.local(I32);
  const I = f.local(I32);
  const CUT = f.local(I32);
  f.get(REGION).i32(Region.gear).op(ADD).set(GEARP);
  f.get(REGION).i32(Region.cuts).op(ADD).set(OUTP);
  f.get(LEN).set(REST);
  const min = (a: () => void, b: number) => (a(), f.i32(b), a(), f.i32(b).op(LT_U, SELECT));
  /** Scans from I to end (exclusive) for a cut under mask; sets CUT and leaves the scan on a hit. */
  const scan = (end: number, mask: number) =>
    f.when(
      () => f.get(I).get(end).op(LT_U),
      () =>
        f.doWhile(
          () => {
            // h = (h << 1) + gear[b[i]]
            f.get(H).i32(1).op(SHL).get(GEARP).get(IN).get(I).op(ADD).op(...LOAD8_U).i32(2).op(SHL, ADD).op(...LOAD32).op(ADD).set(H);
            f.get(I).i32(1).op(ADD).set(I);
            f.when(
              () => f.get(H).i32(mask).op(AND, EQZ),
              () => f.get(I).set(CUT).op(0x0c, 4), // br out of: this if, the scan's loop and if, the size check's if, to the end of the block
            );
          },
          () => f.get(I).get(end).op(LT_U),
        ),
    );
  f.i32(0).set(COUNT);
  f.doWhile(
    () => {
      f.op(0x02, VOID); // block: CUT is found
      f.get(REST).set(CUT);
      f.when(
        () => f.get(REST).i32(MIN_CHUNK).op(GT_U),
        () => {
          min(() => f.get(REST), MAX_CHUNK), f.set(NMAX);
          f.get(NMAX).set(CUT);
          min(() => f.get(NMAX), AVG_CHUNK), f.set(NORMAL);
          f.i32(0).set(H);
          f.i32(MIN_CHUNK).set(I);
          scan(NORMAL, MASK_S);
          scan(NMAX, MASK_L);
        },
      );
      f.op(0x0b); // end block
      f.get(OUTP).get(COUNT).i32(2).op(SHL, ADD).get(CUT).op(...STORE32);
      f.get(COUNT).i32(1).op(ADD).set(COUNT);
      f.get(IN).get(CUT).op(ADD).set(IN);
      f.get(REST).get(CUT).op(SUB).set(REST);
    },
    () => f.get(REST),
  );
  f.get(COUNT);
  return f;
}

/** The kernels' WebAssembly module, as bytes. */
export function buildModule(): Uint8Array {
  const fns = [hashFunction(), digestFunction(), cutsFunction()];
  const types = [
    [0x60, ...vec(Array.from({ length: 12 }, () => [I32])), 0],
    [0x60, ...vec([[I32], [I32], [I32], [I32]]), 0],
    [0x60, ...vec([[I32], [I32], [I32]]), 1, I32],
  ];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec([[...name("e"), ...name("m"), 0x02, 0x03, 1, ...uleb(MAX_PAGES)]])), // a shared memory of any size
    ...section(3, vec([[0], [1], [2]])),
    ...section(7, vec([[...name("hash"), 0x00, 0], [...name("digest"), 0x00, 1], [...name("cuts"), 0x00, 2]])),
    ...section(10, vec(fns.map((f) => f.body()))),
  ]);
}

// ---------------------------------------------------------------- instances

/** The WebAssembly API used here (the project's TypeScript libs declare none). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (m: WasmModule, imports: object) => { exports: Record<string, unknown> };
  Memory: new (d: { initial: number; maximum: number; shared: true }) => WasmMemory;
}
/** A compiled module (can be handed to a worker in workerData). */
export interface WasmModule {
  readonly __wasmModule?: never;
}
/** A shared memory (can be handed to a worker in workerData). */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export type HashFn = (
  input: number, n: number, stride: number, nblocks: number, counterLo: number, counterHi: number, counterInc: number,
  flags: number, flagsStart: number, flagsEnd: number, lastLen: number, out: number,
) => void;

export interface Kernels {
  memory: WasmMemory;
  /** The memory's bytes. */
  mem: Uint8Array;
  hash: HashFn;
  /** BLAKE3-256 of mem[at, at + len) (len <= MAX_DIGEST) into the region's result. */
  digest(at: number, len: number, region: number): Uint8Array;
  /** Chunk lengths of mem[at, at + len) (len <= MAX_DIGEST): as chunker.ts would cut them. */
  cuts(at: number, len: number, region: number): Uint32Array;
}

const MAX_PAGES = 65536;
let compiled: WasmModule | null | undefined;

// buildModule()'s bytes in base64, made by build.mjs; absent from the sources
declare const __TVIX_HASH_KERNELS__: string | undefined;

/** The compiled module (compiled once per thread), or null where WASM SIMD is not supported. */
export function kernelModule(): WasmModule | null {
  if (compiled === undefined) {
    const bytes = typeof __TVIX_HASH_KERNELS__ === "string" ? new Uint8Array(Buffer.from(__TVIX_HASH_KERNELS__, "base64")) : buildModule();
    compiled = Wasm.validate(bytes) ? new Wasm.Module(bytes) : null;
  }
  return compiled;
}

/** A shared memory of at least `bytes` bytes. */
export function kernelMemory(bytes: number): WasmMemory {
  const pages = Math.ceil(bytes / 65536);
  return new Wasm.Memory({ initial: pages, maximum: pages, shared: true });
}

/** Instantiates the kernels on a memory (from kernelMemory()); `regions`: the bases of this thread's regions, whose gear tables are filled. */
export function instantiateKernels(module: WasmModule, memory: WasmMemory, regions: number[]): Kernels {
  const inst = new Wasm.Instance(module, { e: { m: memory } });
  const ex = inst.exports as unknown as { hash: HashFn; digest: (at: number, len: number, region: number, out: number) => void; cuts: (at: number, len: number, region: number) => number };
  const mem = new Uint8Array(memory.buffer);
  for (const r of regions) new Int32Array(memory.buffer, r + Region.gear, 256).set(GEAR);
  return {
    memory,
    mem,
    hash: ex.hash,
    digest(at, len, region) {
      const out = region + Region.result;
      ex.digest(at, len, region, out);
      return mem.slice(out, out + 32);
    },
    cuts(at, len, region) {
      const n = ex.cuts(at, len, region);
      return new Uint32Array(memory.buffer, region + Region.cuts, n).slice();
    },
  };
}
