// Nix values and the primitives every part of the evaluator uses.
//
// Representation (chosen for speed of the common cases):
//   null -> null, bool -> boolean, int -> number while it is a safe integer
//   (|n| <= 2^53 - 1: small ints are V8 Smis, no allocation) and bigint
//   beyond (64-bit, overflow checked; never a bigint in the safe range, so
//   `===` compares ints), float -> NixFloat (a box: floats are rare in Nix
//   code, ints are everywhere), string -> JS string (no context) or NixString (with
//   context), path -> NixPath, list -> Lazy[] (JS array), attrs -> NixAttrs,
//   functions -> Lambda | PrimOp | PrimOpApp. Unevaluated values are Thunks.
// A `Lazy` is either a value or a thunk; `force` gives the value (in weak
// head normal form).
import { encodeBytes } from "./utf8";
import { printErrorValue } from "./print";
import type { Pos } from "./ast";
import type { EvalState } from "./state";
import type { JitSource } from "./jit";

export type Value =
  | null
  | boolean
  | number
  | bigint
  | NixFloat
  | string
  | NixString
  | NixPath
  | Lazy[]
  | NixAttrs
  | Lambda
  | PrimOp
  | PrimOpApp;

export type Lazy = Value | Thunk;

/** A Nix integer: a safe-integer number, or a bigint outside that range (see above). */
export type NixInt = number | bigint;

/** A Nix float. */
export class NixFloat {
  constructor(public readonly v: number) {}
}

export function isInt(v: Value): v is NixInt {
  return typeof v === "number" || typeof v === "bigint";
}

/** The canonical Nix int of a bigint (a number when it is a safe integer). */
export function mkInt(b: bigint): NixInt {
  return b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b;
}

export function toBigInt(v: NixInt): bigint {
  return typeof v === "bigint" ? v : BigInt(v);
}

/** Ints and floats as a JS number (ints past 2^53 rounded, as Nix converts them). */
export function numberOf(v: NixInt | NixFloat): number {
  return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : v.v;
}

/**
 * A variable environment: one array per scope, the parent Env in slot 0 and
 * the values (slots resolved at compile time) from index 1, so that a call
 * allocates a single object for its scope.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Env = any[];

/** A fresh Env of n value slots under `parent`. */
export function newEnv(parent: Env | null, n: number): Env {
  const e = new Array(n + 1);
  e[0] = parent;
  return e;
}

/** Compiled code; a thunk's code also gets the thunk itself (see applyThunk). */
export type Code = (env: Env, self?: Thunk) => Value;

const BLACKHOLE: Code = () => {
  throw new EvalError("infinite recursion encountered");
};

/** Whether a thunk is being evaluated now (its code is the black hole). */
export function beingEvaluated(t: Thunk): boolean {
  return t.code === BLACKHOLE;
}

export class Thunk {
  value: Value = null;
  constructor(public code: Code | null, public env: Env | null) {}

  /** A thunk of a native computation (used by builtins). */
  static of(fn: () => Value): Thunk {
    return new Thunk(fn as unknown as Code, null);
  }

  static done(v: Value): Thunk {
    const t = new Thunk(null, null);
    t.value = v;
    return t;
  }
}

// A check run every GUARD_INTERVAL thunk evaluations: the trial run's heap
// limit (eval/limits.ts). A counter costs next to nothing on this path.
const GUARD_INTERVAL = 1 << 14;
let forcesToGuard = 2 ** 30;
let heapGuard: (() => void) | null = null;
export function setHeapGuard(fn: (() => void) | null): void {
  heapGuard = fn;
  forcesToGuard = GUARD_INTERVAL;
}
function runHeapGuard(): void {
  forcesToGuard = heapGuard ? GUARD_INTERVAL : 2 ** 30;
  heapGuard?.();
}

export function force(v: Lazy): Value {
  if (!(v instanceof Thunk)) return v;
  const code = v.code;
  if (code === null) return v.value;
  if (--forcesToGuard === 0) runHeapGuard();
  v.code = BLACKHOLE;
  try {
    const r = code(v.env!, v);
    v.value = r;
    v.code = null;
    v.env = null;
    return r;
  } catch (e) {
    v.code = code; // may be forced again (e.g. after tryEval)
    throw e;
  }
}

// ---------------------------------------------------------------- lazy lists
//
// A long genList (or map) result starts with its elements pending: every
// slot holds the one marker thunk PENDING_MARKER instead of a thunk of its
// own, and element i is made (by the list's ElementSource) when it is first
// read. A million-element `range` then costs no million long-lived thunks,
// each of which V8's young-generation GC would copy twice before anything
// reads it. The marker is made at start-up, so it is in the old generation
// by the time a long list is made: a scavenge that meets the young list
// then only checks its slots (when they pointed to a young object, the
// scavenges while the list was young rewrote each of them: ~25 ms for a
// million). Readers that know about pending slots take the list from
// forceListLazy and read it with elemLazy/elemForce; every other reader goes
// through forceList or materialize, which fill all slots first, so nothing
// else ever sees the marker.

/** Makes the thunk of element i of a lazy list (see pendingList). */
export interface ElementSource {
  /** Thunk code of an element: runs with the source as env and the element's index in the thunk's value slot. */
  code: Code;
}

/** The code of the marker: never run, a marker is replaced before it is forced. */
const PENDING: Code = () => {
  throw new Error("internal error: a pending list element was forced without its index");
};
const PENDING_MARKER = new Thunk(PENDING, null);

/** Lists shorter than this are made with all their thunks at once. */
export const LAZY_LIST_MIN = 32;

/** The source of each list that may still have pending slots. */
const pendingSources = new WeakMap<Lazy[], ElementSource>();
// The last two lists whose source was looked up (a loop reads one or two
// lists, zipListsWith's two, in turn): most reads skip the WeakMap. They
// keep those two lists alive until others are read (or they are made whole).
let recentList: Lazy[] | null = null;
let recentSource: ElementSource | null = null;
let olderList: Lazy[] | null = null;
let olderSource: ElementSource | null = null;

/** A list of n pending elements, element i being `source`'s thunk for i. */
export function pendingList(n: number, source: ElementSource): Lazy[] {
  const xs: Lazy[] = new Array(n).fill(PENDING_MARKER);
  pendingSources.set(xs, source);
  return xs;
}

function sourceOf(xs: Lazy[]): ElementSource {
  if (xs !== olderList) {
    olderList = recentList;
    olderSource = recentSource;
    recentList = xs;
    recentSource = pendingSources.get(xs)!;
    return recentSource;
  }
  const s = olderSource!;
  olderList = recentList;
  olderSource = recentSource;
  recentList = xs;
  recentSource = s;
  return s;
}

function makeElement(xs: Lazy[], i: number): Thunk {
  const src = xs === recentList ? recentSource! : sourceOf(xs);
  return slotThunk(src.code, src, i);
}

/**
 * A thunk whose code gets a shared record as its env and what differs per
 * thunk (an index, an argument) in the value slot: one object per thunk,
 * where a closure would make two (builtins make these by the million).
 */
export function slotThunk(code: Code, shared: object, slot: Lazy): Thunk {
  const t = new Thunk(code, shared as unknown as Env);
  t.value = slot as Value;
  return t;
}

/** Element i of a list as a lazy value (a pending element is made, and kept in its slot). */
export function elemLazy(xs: Lazy[], i: number): Lazy {
  const v = xs[i];
  if (v === PENDING_MARKER) return (xs[i] = makeElement(xs, i));
  return v;
}

/**
 * Element i of a list, forced. A value without identity (an int, a string,
 * a bool, null) replaces its forced thunk in the slot, so that the thunk can
 * die young; sets, lists and functions keep their thunk, whose identity
 * pointer equality (eqLazy) may see.
 */
export function elemForce(xs: Lazy[], i: number): Value {
  let v = xs[i];
  if (!(v instanceof Thunk)) return v;
  if (v === PENDING_MARKER) v = xs[i] = makeElement(xs, i);
  const r = force(v);
  if (typeof r !== "object" || r === null) xs[i] = r;
  return r;
}

/** After a reader forced element `el` of xs (read by elemLazy): keeps its value in the slot, as elemForce does. */
export function settleElement(xs: Lazy[], i: number, el: Lazy): void {
  if (el instanceof Thunk && el.code === null) {
    const r = el.value;
    if (typeof r !== "object" || r === null) xs[i] = r;
  }
}

/** Makes every pending element of xs (for readers that index lists directly); returns xs. */
export function materialize(xs: Lazy[]): Lazy[] {
  if (xs.length < LAZY_LIST_MIN || !pendingSources.has(xs)) return xs;
  for (let i = 0; i < xs.length; i++) if (xs[i] === PENDING_MARKER) xs[i] = makeElement(xs, i);
  pendingSources.delete(xs);
  if (recentList === xs) recentList = recentSource = null;
  if (olderList === xs) olderList = olderSource = null;
  return xs;
}

/** Whether a list element is still pending (not made yet): it prints as unevaluated. */
export function isPending(v: Lazy): boolean {
  return v === PENDING_MARKER;
}

export class NixString {
  constructor(public readonly s: string, public readonly ctx: ReadonlySet<string>) {}
}

export class NixPath {
  constructor(public readonly path: string) {}
}

/** Attribute positions: a set literal's, or a lookup through the operands of `//`. */
export interface Positions {
  get(name: string): Pos | undefined;
  /**
   * When get() gives a position for exactly this many names and no other: a
   * set carrying these positions with as many names has a position for each
   * of its names and only those (`//` then need not keep the set's names).
   * Undefined when that is not known (a literal with dynamic attributes).
   */
  readonly exactCount?: number;
}

/** A set literal's positions: its static names (sorted) with their positions, looked up without a Map. */
export class LiteralPositions implements Positions {
  readonly exactCount: number | undefined;
  constructor(
    private readonly names: readonly string[],
    private readonly at: readonly Pos[],
    private readonly simple: boolean,
    /** Whether the literal has no dynamic attributes (then these are all its names). */
    complete: boolean,
  ) {
    this.exactCount = complete ? names.length : undefined;
  }

  get(name: string): Pos | undefined {
    const names = this.names;
    if (names.length <= 8) {
      for (let i = 0; i < names.length; i++) if (names[i] === name) return this.at[i];
      return undefined;
    }
    const i = this.simple ? searchSimpleNames(names, name, 0) : searchNames(names, name, 0);
    return names[i] === name ? this.at[i] : undefined;
  }
}

/**
 * An attribute set, as Nix keeps it: names sorted byte-wise with their
 * values in two arrays. Set literals share one names array between all the
 * sets they make (sorted at compile time), `mapAttrs` shares its input's,
 * and `//` merges two sorted sets in one pass, so most sets never hash or
 * sort anything. Lookups scan small sets and use a Map index, built on the
 * first lookup, for larger ones. The arrays are never changed.
 */
export class NixAttrs {
  private index: Map<string, Lazy> | null = null;
  /** Lookups by binary search so far: the Map index pays off only for sets looked up often. */
  private searches = 0;
  /** 1: no name has a code unit from U+D800 up, so JS string order is Nix's byte order; 2: some has; 0: not known yet. */
  simpleNames = 0;
  constructor(
    /** Sorted byte-wise (compareStrings), no duplicates. */
    readonly names: readonly string[],
    readonly values: readonly Lazy[],
    /** Source positions of attributes (static ones), for unsafeGetAttrPos. */
    public positions: Positions | null = null,
  ) {}

  /** Whether JS's own string order (`<`) is Nix's order for these names (see simpleNames). */
  namesAreSimple(): boolean {
    if (this.simpleNames === 0) this.simpleNames = allSimple(this.names) ? 1 : 2;
    return this.simpleNames === 1;
  }

  /** A Map of names[i] to values[i]. */
  static entriesMap(names: readonly string[], values: readonly Lazy[]): Map<string, Lazy> {
    const m = new Map<string, Lazy>();
    for (let i = 0; i < names.length; i++) m.set(names[i], values[i]);
    return m;
  }

  /** A set of a Map's entries (in any order). */
  static fromMap(map: Map<string, Lazy>, positions: Positions | null = null): NixAttrs {
    const names = [...map.keys()];
    const simple = sortNames(names);
    const values: Lazy[] = new Array(names.length);
    for (let i = 0; i < names.length; i++) values[i] = map.get(names[i])!;
    const a = new NixAttrs(names, values, positions);
    // get() scans small sets: their Map would only take room
    if (names.length > 8) a.index = map;
    a.simpleNames = simple ? 1 : 2; // (known from the sort: namesAreSimple need not check again)
    return a;
  }

  get(name: string): Lazy | undefined {
    const names = this.names;
    if (names.length <= 8) {
      for (let i = 0; i < names.length; i++) if (names[i] === name) return this.values[i];
      return undefined;
    }
    const index = this.index;
    if (index !== null) return index.get(name);
    // a Map costs ~n entry insertions; until a set has been searched about
    // n/4 times, binary search over the sorted names is cheaper. Up to 64
    // names (six comparisons) a Map is never worth its ~1.5 KB: a package
    // set's evaluation keeps thousands of such sets
    if (names.length <= 64 || this.searches++ < names.length >> 2) {
      const i = this.namesAreSimple() ? searchSimpleNames(names, name, 0) : searchNames(names, name, 0);
      return names[i] === name ? this.values[i] : undefined;
    }
    return this.map.get(name);
  }
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
  /** Where name is in names, or -1 (without building the Map index). */
  indexOf(name: string): number {
    const names = this.names;
    if (names.length <= 8) {
      for (let i = 0; i < names.length; i++) if (names[i] === name) return i;
      return -1;
    }
    const i = this.namesAreSimple() ? searchSimpleNames(names, name, 0) : searchNames(names, name, 0);
    return names[i] === name ? i : -1;
  }
  get size(): number {
    return this.names.length;
  }
  /** Names in Nix's order (byte-wise lexicographic); not to be modified. */
  keys(): readonly string[] {
    return this.names;
  }
  /** The entries as a Map (built once, on first use). */
  get map(): ReadonlyMap<string, Lazy> {
    let m = this.index;
    if (m === null) {
      m = new Map();
      for (let i = 0; i < this.names.length; i++) m.set(this.names[i], this.values[i]);
      this.index = m;
    }
    return m;
  }
  static empty = new NixAttrs([], []);
  static from(entries: [string, Lazy][]): NixAttrs {
    return NixAttrs.fromMap(new Map(entries));
  }
}

/** Byte-wise (UTF-8) ordering, as C++ Nix's std::string comparisons. */
/** The first index >= from in sorted `names` (compareStrings order) whose name is not below `name`. */
export function searchNames(names: readonly string[], name: string, from: number): number {
  let lo = from;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid] !== name && compareStrings(names[mid], name) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  // UTF-16 order equals UTF-8 byte order except where a surrogate meets a
  // code unit >= 0xE000, so only the first difference needs a look
  const n = a.length < b.length ? a.length : b.length;
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length < b.length ? -1 : 1;
  const x = a.charCodeAt(i);
  const y = b.charCodeAt(i);
  if (x < 0xd800 && y < 0xd800) return x < y ? -1 : 1;
  return Buffer.compare(encodeBytes(a), encodeBytes(b)); // (raw bytes as themselves, eval/utf8.ts)
}

const BEYOND_BMP_ORDER = /[\ud800-\uffff]/;

/** Whether no string has a code unit from 0xD800 up (then UTF-16 order, JS's `<`, is UTF-8 byte order). */
export function allSimple(l: readonly string[]): boolean {
  for (let i = 0; i < l.length; i++) if (BEYOND_BMP_ORDER.test(l[i])) return false;
  return true;
}

/**
 * Sorts names in place into Nix's byte order, and says whether they are
 * simple (allSimple): the default sort (UTF-16 order, no JS comparator
 * calls) is byte order unless a string has a code unit from 0xD800 up.
 */
export function sortNames(l: string[]): boolean {
  const simple = allSimple(l);
  l.sort(simple ? undefined : compareStrings);
  return simple;
}

/** searchNames for names that are all simple (allSimple): JS's own comparison. */
export function searchSimpleNames(names: readonly string[], name: string, from: number): number {
  let lo = from;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid] < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Compile-time information of a lambda shared by all its closures. */
export interface LambdaInfo {
  name?: string;
  arg?: string;
  formals?: {
    names: string[];
    /** Where each formal is written (builtins.functionArgs's positions). */
    positions: Pos[];
    defaults: (Code | null)[];
    ellipsis: boolean;
    set: Set<string>;
    /** Indices into names in Nix's (byte) order, when JS's order is that order for them (no code unit from U+D800 up). */
    order: number[] | null;
    /** builtins.functionArgs's answer, made on first use (sets are immutable, so one serves every call). */
    args: NixAttrs | null;
  };
  body: Code;
  pos: Pos;
  /** Number of slots of the lambda's environment. */
  slots: number;
  /** `x: y: body`: the inner plain lambda, so that a call with two arguments needs no intermediate closure. */
  inner?: LambdaInfo;
  /**
   * Set on that inner lambda: its Env continues the outer lambda's, whose
   * `flat` slots it copies before its own argument, so `x: y: body` applied
   * to two arguments makes one Env (call2) instead of two.
   */
  flat?: number;
  /** Calls so far; at JIT_AT the body is compiled to JavaScript (eval/jit.ts). */
  calls: number;
  /** What eval/jit.ts compiles the body from; null once done (or when there is nothing to gain). */
  jit: JitSource | null;
}

export class Lambda {
  constructor(public readonly info: LambdaInfo, public readonly env: Env) {}
}

export type PrimOpFn = (args: Lazy[], pos: Pos | null, state: EvalState) => Value;

/** A builtin. Callers pass `state` back to `fn` (one call per application, no wrapper closure). */
export class PrimOp {
  constructor(public readonly name: string, public readonly arity: number, public readonly fn: PrimOpFn, public readonly state: EvalState) {}
}

export class PrimOpApp {
  constructor(public readonly op: PrimOp, public readonly args: Lazy[]) {}
}

// ---------------------------------------------------------------- errors

/** An evaluation error; catchable by builtins.tryEval unless `uncatchable`. */
export class EvalError extends Error {
  trace: { msg: string; pos?: Pos | null }[] = [];
  /** A suggestion printed after the position ("Did you mean ...?"). */
  hint?: string;
  /** The position is printed after the message even when a trace frame has the same one. */
  ownPos = false;
  constructor(
    message: string,
    public pos: Pos | null = null,
    /** throw/assert failures are catchable by tryEval; abort and others are not. */
    public catchable = false,
  ) {
    super(message);
    this.name = "EvalError";
  }

  addTrace(msg: string, pos?: Pos | null): this {
    this.trace.push({ msg, pos });
    return this;
  }
}

/**
 * Where Nix's native stack runs out in a recursion over a value's structure
 * (deepSeq, toJSON): its message, without a trace of the way down.
 */
export class StackOverflow extends EvalError {
  constructor() {
    super("stack overflow (possible infinite recursion)");
  }
  override addTrace(): this {
    return this;
  }
}

/** How many lists and sets forceDeep enters one inside the other: Nix 2.26's deepSeq goes through 80,000, not 85,000. */
const MAX_DEEP = 82_000;

/** builtins.throw / failed assertions: the catchable kind. */
export class ThrownError extends EvalError {
  constructor(message: string, pos: Pos | null = null) {
    super(message, pos, true);
  }
}

export class AbortError extends EvalError {}

// ---------------------------------------------------------------- types

export type TypeName = "int" | "float" | "bool" | "string" | "path" | "null" | "set" | "list" | "lambda";

export function typeOf(v: Value): TypeName {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return "bool";
    case "number":
    case "bigint":
      return "int";
    case "string":
      return "string";
  }
  if (v instanceof NixFloat) return "float";
  if (v instanceof NixString) return "string";
  if (v instanceof NixPath) return "path";
  if (Array.isArray(v)) return "list";
  if (v instanceof NixAttrs) return "set";
  return "lambda";
}

/** Type names as they appear in error messages ("a set", "an integer"). */
export function showType(v: Value): string {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return "a Boolean";
    case "number":
    case "bigint":
      return "an integer";
    case "string":
      return "a string";
  }
  if (v instanceof NixFloat) return "a float";
  if (v instanceof NixString) return "a string";
  if (v instanceof NixPath) return "a path";
  if (Array.isArray(v)) return "a list";
  if (v instanceof NixAttrs) return "a set";
  if (v instanceof PrimOp) return `the built-in function '${v.name}'`;
  if (v instanceof PrimOpApp) return `the partially applied built-in function '${v.op.name}'`;
  return "a function";
}

const TYPE_WORD: Record<string, string> = {
  int: "an integer",
  float: "a float",
  bool: "a Boolean",
  string: "a string",
  path: "a path",
  null: "null",
  set: "a set",
  list: "a list",
  lambda: "a function",
};

export function typeError(expected: TypeName | string, v: Value, pos: Pos | null = null): EvalError {
  // the value as Nix's error messages print it (print.ts)
  return new EvalError(`expected ${TYPE_WORD[expected] ?? expected} but found ${showType(v)}: ${printErrorValue(v)}`, pos);
}

export function isFunction(v: Value): boolean {
  return v instanceof Lambda || v instanceof PrimOp || v instanceof PrimOpApp;
}

export function isString(v: Value): v is string | NixString {
  return typeof v === "string" || v instanceof NixString;
}

export function strValue(v: string | NixString): string {
  return typeof v === "string" ? v : v.s;
}

export const EMPTY_CTX: ReadonlySet<string> = new Set();

export function ctxOf(v: string | NixString): ReadonlySet<string> {
  return typeof v === "string" ? EMPTY_CTX : v.ctx;
}

/** A string value with the given context (a plain JS string when empty). */
export function mkString(s: string, ctx: ReadonlySet<string> | null | undefined): string | NixString {
  return ctx && ctx.size > 0 ? new NixString(s, ctx) : s;
}

/** A store path as a string that depends on that path (its context). */
export function storePathString(p: string): NixString {
  return new NixString(p, new Set([p]));
}

export function forceInt(l: Lazy, pos: Pos | null = null): NixInt {
  const v = force(l);
  if (typeof v !== "number" && typeof v !== "bigint") throw typeError("int", v, pos);
  return v;
}

/** An int as a JS number, clamped to the safe range (for sizes and indices, where that is out of range anyway). */
export function forceIntNumber(l: Lazy, pos: Pos | null = null): number {
  const v = forceInt(l, pos);
  return typeof v === "number" ? v : v < 0n ? -Number.MAX_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
}

export function forceBool(l: Lazy, pos: Pos | null = null): boolean {
  const v = force(l);
  if (typeof v !== "boolean") throw typeError("bool", v, pos);
  return v;
}

/** A list with every element made (see materialize). */
export function forceList(l: Lazy, pos: Pos | null = null): Lazy[] {
  const v = force(l);
  if (!Array.isArray(v)) throw typeError("list", v, pos);
  return materialize(v);
}

/** A list that may still have pending elements: read it with elemLazy/elemForce only. */
export function forceListLazy(l: Lazy, pos: Pos | null = null): Lazy[] {
  const v = force(l);
  if (!Array.isArray(v)) throw typeError("list", v, pos);
  return v;
}

export function forceAttrs(l: Lazy, pos: Pos | null = null): NixAttrs {
  const v = force(l);
  if (!(v instanceof NixAttrs)) throw typeError("set", v, pos);
  return v;
}

export function forceFunction(l: Lazy, pos: Pos | null = null): Value {
  const v = force(l);
  if (!isFunction(v) && !(v instanceof NixAttrs && v.has("__functor"))) throw typeError("lambda", v, pos);
  return v;
}

/** A string without coercion (Nix's forceString). */
export function forceStringValue(l: Lazy, pos: Pos | null = null): string | NixString {
  const v = force(l);
  if (typeof v === "string" || v instanceof NixString) return v;
  throw typeError("string", v, pos);
}

export function forceString(l: Lazy, pos: Pos | null = null): string {
  return strValue(forceStringValue(l, pos));
}

export function forceNumber(l: Lazy, pos: Pos | null = null): NixInt | NixFloat {
  const v = force(l);
  if (typeof v === "number" || typeof v === "bigint" || v instanceof NixFloat) return v;
  throw new EvalError(`expected an integer but found ${showType(v)}: ${printErrorValue(v)}`, pos);
}

const INT_MIN = -(2n ** 63n);
const INT_MAX = 2n ** 63n - 1n;

/** Checks a 64-bit signed result like Nix 2.26 (which throws on overflow). */
export function checkedInt(r: bigint, op: string, a: NixInt, b: NixInt): NixInt {
  if (r < INT_MIN || r > INT_MAX) throw new EvalError(`integer overflow in ${op} ${a} ${op === "adding" ? "+" : op === "subtracting" ? "-" : op === "multiplying" ? "*" : "/"} ${b}`);
  return mkInt(r);
}

/** Deep-forces a value (for --strict printing and deepSeq). */
export function forceDeep(l: Lazy, seen: Set<unknown> = new Set(), depth = 0): Value {
  const v = force(l);
  if (seen.has(v)) return v;
  if (Array.isArray(v)) {
    if (depth >= MAX_DEEP) throw new StackOverflow();
    seen.add(v);
    for (let i = 0; i < v.length; i++) forceDeep(elemForce(v, i), seen, depth + 1);
  } else if (v instanceof NixAttrs) {
    if (depth >= MAX_DEEP) throw new StackOverflow();
    seen.add(v);
    for (let i = 0; i < v.names.length; i++) {
      try {
        forceDeep(v.values[i], seen, depth + 1);
      } catch (e) {
        if (e instanceof EvalError) e.addTrace(`while evaluating the attribute '${v.names[i]}'`);
        throw e;
      }
    }
  }
  return v;
}
