// The mutation engine shared by every fuzz target: seeded randomness (each
// input is rebuilt from the run's seed and its index alone, so a crash or a
// hang found in a worker is reproduced from two numbers), byte-level
// mutations, and light feedback: an input whose outcome (its error message
// with the numbers and quoted parts blanked) was never seen before joins the
// corpus, so later inputs start from inputs that reach further.
import { concatBytes } from "../core/bytes";

/** mulberry32: small, fast, seedable. */
export function rng(seed: number) {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), chance: (p: number) => next() < p };
}
export type Rng = ReturnType<typeof rng>;

/** The seed of input `index` of a run seeded with `seed`. */
export function inputSeed(seed: number, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

export interface Target {
  name: string;
  /** What the target reads, as real inputs. */
  seeds(): Uint8Array[];
  /** Tokens of the format, inserted by the mutator. */
  dictionary: string[];
  /** Largest input the mutator makes. */
  maxLen?: number;
  /** Runs one input: returns an outcome label, or throws. */
  run(input: Uint8Array): Promise<string> | string;
  /** True for the module's own clear errors (anything else is a crash). */
  expected(e: unknown): boolean;
  /** Optional: called every so often; throws when an invariant broke (the daemon's store). */
  check?(): Promise<void>;
}

const JS_BUGS = [TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError];
// messages of JS faults that reach a clear error only as its text (a wrapped or wire-sent message)
const JS_BUG_TEXT =
  /Cannot read propert|Cannot set propert|is not a function|is not iterable|is not defined|is not a constructor|Maximum call stack|Invalid array length|Invalid typed array length|Invalid string length|out of range|Cannot convert|Cannot mix BigInt|undefined \(reading|internal error|AssertionError|Unexpected end of JSON/;

/** True when `e` (or an error it wraps) is a JavaScript fault rather than a module's own error. */
export function isJsFault(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x && depth < 8; x = (x as { cause?: unknown }).cause, depth++) {
    if (JS_BUGS.some((c) => x instanceof c)) return true;
    if (x instanceof Error && (x.name === "AssertionError" || JS_BUG_TEXT.test(x.message))) return true;
    if (!(x instanceof Error)) return true; // a thrown non-Error value
  }
  return false;
}

/** An outcome label: the message with what varies blanked, short. */
export function outcomeOf(e: unknown): string {
  const m = e instanceof Error ? `${e.constructor.name}:${e.message}` : String(e);
  return m
    .replace(/'[^']*'|"[^"]*"|`[^`]*`/g, "Q")
    .replace(/[0-9]+/g, "N")
    .slice(0, 80);
}

const INTERESTING8 = [0, 1, 0x7f, 0x80, 0xff, 0x20, 0x0a, 0x22, 0x5c, 0x28, 0x29, 0x2f, 0x2e, 0x3a];
const EDGE64 = [0n, 1n, 7n, 8n, 9n, 0x7fn, 0xffn, 0x100n, 0xffffn, 0x7fffffffn, 0xffffffffn, 1n << 32n, 1n << 53n, 1n << 62n, (1n << 64n) - 1n, 0x7fffffffffffffffn];

/** Applies 1-6 random mutations to `base`, some drawing on `others` (splices) and the dictionary. */
export function mutate(base: Uint8Array, r: Rng, others: Uint8Array[], dict: Uint8Array[], maxLen: number): Uint8Array {
  let b = base;
  const n = 1 + r.int(r.chance(0.3) ? 6 : 2);
  for (let k = 0; k < n; k++) {
    b = mutateOnce(b, r, others, dict);
    if (b.length > maxLen) b = b.subarray(0, maxLen);
  }
  return b;
}

function cat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(parts, parts.reduce((n, p) => n + p.length, 0));
}

function mutateOnce(b: Uint8Array, r: Rng, others: Uint8Array[], dict: Uint8Array[]): Uint8Array {
  const at = r.int(b.length + 1);
  const span = () => 1 + r.int(r.chance(0.8) ? 8 : 128);
  switch (r.int(12)) {
    case 0: {
      // bit flips
      if (b.length === 0) return b;
      const out = b.slice();
      for (let i = 0, m = 1 + r.int(4); i < m; i++) out[r.int(out.length)] ^= 1 << r.int(8);
      return out;
    }
    case 1: {
      // an interesting or random byte
      if (b.length === 0) return Uint8Array.of(r.int(256));
      const out = b.slice();
      out[r.int(out.length)] = r.chance(0.5) ? INTERESTING8[r.int(INTERESTING8.length)] : r.int(256);
      return out;
    }
    case 2:
      // delete a run
      return cat(b.subarray(0, at), b.subarray(Math.min(b.length, at + span())));
    case 3:
      // insert random bytes
      return cat(b.subarray(0, at), Uint8Array.from({ length: span() }, () => r.int(256)), b.subarray(at));
    case 4: {
      // duplicate a run in place
      const from = r.int(b.length + 1);
      return cat(b.subarray(0, at), b.subarray(from, from + span()), b.subarray(at));
    }
    case 5: {
      // splice: a part of another input
      const o = others[r.int(others.length)] ?? b;
      const from = r.int(o.length + 1);
      return cat(b.subarray(0, at), o.subarray(from, from + span() * 4), b.subarray(r.chance(0.5) ? at : Math.min(b.length, at + span())));
    }
    case 6:
    case 7: {
      // a token of the format, inserted or overwriting
      if (dict.length === 0) return b;
      const t = dict[r.int(dict.length)];
      return cat(b.subarray(0, at), t, b.subarray(r.chance(0.5) ? at : Math.min(b.length, at + t.length)));
    }
    case 8: {
      // an aligned little-endian u64 (lengths, counts, tags) replaced by an edge value
      const pos = Math.floor(at / 8) * 8;
      if (pos + 8 > b.length) return b;
      const out = b.slice();
      new DataView(out.buffer, out.byteOffset).setBigUint64(pos, EDGE64[r.int(EDGE64.length)], true);
      return out;
    }
    case 9:
      // truncate
      return b.subarray(0, at);
    case 10: {
      // a token repeated many times (deep nesting, long runs)
      const t = dict.length && r.chance(0.7) ? dict[r.int(dict.length)] : b.subarray(at, at + 1 + r.int(4));
      const times = r.chance(0.7) ? 1 + r.int(64) : 1000 + r.int(20000);
      const rep = new Uint8Array(t.length * times);
      for (let i = 0; i < times; i++) rep.set(t, i * t.length);
      return cat(b.subarray(0, at), rep, b.subarray(at));
    }
    default: {
      // swap two runs
      const a2 = r.int(b.length + 1);
      const [x, y] = at < a2 ? [at, a2] : [a2, at];
      const len = Math.min(span(), y - x);
      if (len <= 0) return b;
      return cat(b.subarray(0, x), b.subarray(y, y + len), b.subarray(x + len, y), b.subarray(x, x + len), b.subarray(y + len));
    }
  }
}

export interface Finding {
  kind: "crash" | "hang";
  index: number;
  message: string;
  input?: Uint8Array;
}

/** Builds input `index` of a run: a seed, mutated, from a corpus that grows by outcome. */
export class InputMaker {
  readonly corpus: Uint8Array[];
  private readonly dict: Uint8Array[];
  private readonly seen = new Set<string>();
  private readonly maxLen: number;
  constructor(
    private readonly target: Target,
    private readonly seed: number,
  ) {
    this.corpus = target.seeds();
    if (this.corpus.length === 0) this.corpus.push(new Uint8Array());
    const enc = new TextEncoder();
    this.dict = target.dictionary.map((t) => enc.encode(t));
    this.maxLen = target.maxLen ?? 64 * 1024;
  }

  make(index: number): Uint8Array {
    const r = rng(inputSeed(this.seed, index));
    const base = this.corpus[r.int(this.corpus.length)];
    // a few inputs are the seeds themselves
    if (r.chance(0.01)) return base;
    return mutate(base, r, this.corpus, this.dict, this.maxLen);
  }

  /** Keeps `input` when its outcome is new (the corpus stays bounded). */
  learn(input: Uint8Array, outcome: string): void {
    if (this.seen.has(outcome) || this.seen.size >= 2000) return;
    this.seen.add(outcome);
    if (input.length <= 16 * 1024) this.corpus.push(input);
  }

  get outcomes(): number {
    return this.seen.size;
  }
}

/**
 * Runs inputs `from`..`to` of `target` in this thread. When `shared` is given,
 * the index being run and its bytes are kept there, so a watchdog in another
 * thread can report an input that never returns.
 */
export async function runRange(
  target: Target,
  seed: number,
  from: number,
  to: number,
  opts: { shared?: SharedInput; hangMs: number; checkEvery?: number; onFinding: (f: Finding) => void },
): Promise<{ runs: number; outcomes: number }> {
  const maker = new InputMaker(target, seed);
  let runs = 0;
  for (let i = from; i < to; i++) {
    const input = maker.make(i);
    opts.shared?.put(i, input);
    const start = performance.now();
    let label: string;
    try {
      label = await target.run(input);
    } catch (e) {
      if (!target.expected(e) || isJsFault(e)) {
        opts.onFinding({ kind: "crash", index: i, message: e instanceof Error ? `${e.name}: ${e.message}` : String(e), input });
      }
      label = outcomeOf(e);
    }
    const ms = performance.now() - start;
    if (ms > opts.hangMs) opts.onFinding({ kind: "hang", index: i, message: `took ${Math.round(ms)} ms`, input });
    maker.learn(input, label);
    runs++;
    if (target.check && opts.checkEvery && runs % opts.checkEvery === 0) {
      try {
        await target.check();
      } catch (e) {
        opts.onFinding({ kind: "crash", index: i, message: `invariant broken: ${(e as Error).message}` });
      }
    }
  }
  return { runs, outcomes: maker.outcomes };
}

/** The input being run, in memory shared with a watchdog: [index, length, started (ms, low 31 bits)] then the bytes. */
export class SharedInput {
  readonly head: Int32Array;
  readonly bytes: Uint8Array;
  constructor(readonly buffer: SharedArrayBuffer) {
    this.head = new Int32Array(buffer, 0, 4);
    this.bytes = new Uint8Array(buffer, 16);
  }
  static create(maxLen: number): SharedInput {
    return new SharedInput(new SharedArrayBuffer(16 + maxLen));
  }
  put(index: number, input: Uint8Array): void {
    const n = Math.min(input.length, this.bytes.length);
    this.bytes.set(input.subarray(0, n));
    Atomics.store(this.head, 1, n);
    Atomics.store(this.head, 2, Date.now() & 0x7fffffff);
    Atomics.store(this.head, 0, index);
  }
  get index(): number {
    return Atomics.load(this.head, 0);
  }
  /** Milliseconds the current input has been running. */
  get runningMs(): number {
    return ((Date.now() & 0x7fffffff) - Atomics.load(this.head, 2) + 0x80000000) % 0x80000000;
  }
  current(): Uint8Array {
    return this.bytes.slice(0, Atomics.load(this.head, 1));
  }
}
