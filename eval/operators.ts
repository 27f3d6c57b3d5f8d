// The arithmetic, comparison, equality, list and attribute-set operators.
import { encodeBytes, hasRawBytes, rawBytes } from "./utf8";
import type { Pos } from "./ast";
import {
  EvalError, Lazy, NixAttrs, NixFloat, NixPath, NixString, Value, checkedInt, force, isFunction, isInt, isString,
  mkInt, numberOf, showType, strValue, toBigInt, ctxOf, typeOf, compareStrings, searchNames, searchSimpleNames, materialize, elemLazy, settleElement,
  type Positions,
} from "./value";
import type { EvalState } from "./state";
import { coerceToString, AS_INTERPOLATED, AS_TEXT } from "./coerce";
import { canonPath } from "./paths";

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export function add(state: EvalState, a: Value, b: Value, pos: Pos): Value {
  if (typeof a === "number" && typeof b === "number") {
    const r = a + b;
    // exact whenever the true sum is a safe integer
    return r <= MAX_SAFE && r >= -MAX_SAFE ? r : checkedInt(BigInt(a) + BigInt(b), "adding", a, b);
  }
  if (isInt(a)) {
    if (isInt(b)) return checkedInt(toBigInt(a) + toBigInt(b), "adding", a, b);
    if (b instanceof NixFloat) return new NixFloat(Number(a) + b.v);
    throw new EvalError(`cannot add ${showType(b)} to an integer`, pos);
  }
  if (a instanceof NixFloat) {
    if (b instanceof NixFloat) return new NixFloat(a.v + b.v);
    if (isInt(b)) return new NixFloat(a.v + Number(b));
    throw new EvalError(`cannot add ${showType(b)} to a float`, pos);
  }
  if (typeof a === "string" && typeof b === "string") return a + b;
  if (a instanceof NixPath) {
    if (b instanceof NixPath) return new NixPath(canonPath(a.path + b.path));
    const s = coerceToString(state, b, pos, AS_TEXT);
    if (ctxOf(s).size > 0) throw new EvalError("a string that refers to a store path cannot be appended to a path", pos);
    return new NixPath(canonPath(a.path + strValue(s)));
  }
  const sa = coerceToString(state, a, pos, AS_INTERPOLATED);
  const sb = coerceToString(state, b, pos, AS_INTERPOLATED);
  const ca = ctxOf(sa);
  const cb = ctxOf(sb);
  const s = strValue(sa) + strValue(sb);
  if (ca.size === 0 && cb.size === 0) return s;
  return new NixString(s, new Set([...ca, ...cb]));
}

/** Both operands as numbers for float arithmetic, or a type error naming the operation. */
function floatOperands(name: string, a: Value, b: Value, pos: Pos | null): [number, number] {
  if (!isInt(a) && !(a instanceof NixFloat)) throw new EvalError(`expected an integer but found ${showType(a)}`, pos).addTrace(`while evaluating the first argument of ${name}`);
  if (!isInt(b) && !(b instanceof NixFloat)) throw new EvalError(`expected an integer but found ${showType(b)}`, pos).addTrace(`while evaluating the second argument of ${name}`);
  return [numberOf(a), numberOf(b)];
}

export function sub(a: Value, b: Value, pos: Pos | null): Value {
  if (typeof a === "number" && typeof b === "number") {
    const r = a - b;
    return r <= MAX_SAFE && r >= -MAX_SAFE ? r : checkedInt(BigInt(a) - BigInt(b), "subtracting", a, b);
  }
  if (isInt(a) && isInt(b)) return checkedInt(toBigInt(a) - toBigInt(b), "subtracting", a, b);
  const [x, y] = floatOperands("subtraction", a, b, pos);
  return new NixFloat(x - y);
}

export function mul(a: Value, b: Value, pos: Pos | null): Value {
  if (typeof a === "number" && typeof b === "number") {
    const r = a * b;
    // exact whenever the true product is a safe integer; + 0 turns -0 into 0
    return r <= MAX_SAFE && r >= -MAX_SAFE ? r + 0 : checkedInt(BigInt(a) * BigInt(b), "multiplying", a, b);
  }
  if (isInt(a) && isInt(b)) return checkedInt(toBigInt(a) * toBigInt(b), "multiplying", a, b);
  const [x, y] = floatOperands("multiplication", a, b, pos);
  return new NixFloat(x * y);
}

export function div(a: Value, b: Value, pos: Pos | null): Value {
  if (isInt(a) && isInt(b)) {
    if (b === 0) throw new EvalError("division by zero", pos);
    // for safe integers the rounded quotient never crosses an integer, so trunc is exact
    if (typeof a === "number" && typeof b === "number") return Math.trunc(a / b) + 0;
    const x = toBigInt(a);
    const y = toBigInt(b);
    if (x === -(2n ** 63n) && y === -1n) throw new EvalError(`integer overflow in dividing ${x} / ${y}`, pos);
    return mkInt(x / y);
  }
  const [x, y] = floatOperands("division", a, b, pos);
  if (y === 0) throw new EvalError("division by zero", pos);
  return new NixFloat(x / y);
}

export function concatLists(a: Value, b: Value, pos: Pos): Value {
  if (!Array.isArray(a)) throw new EvalError(`expected a list but found ${showType(a)}`, pos);
  if (!Array.isArray(b)) throw new EvalError(`expected a list but found ${showType(b)}`, pos);
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  return materialize(a).concat(materialize(b));
}

/**
 * The positions of `a // b`'s attributes: b's for the names b has, else a's.
 * It keeps b's positions, not b itself (whose values the result may not
 * need), and b's names only when b's positions do not tell by themselves
 * which names b has (exactCount). Only unsafeGetAttrPos and errors ask,
 * rarely.
 */
class UpdatePositions implements Positions {
  constructor(
    private readonly left: Positions,
    private readonly right: Positions | null,
    /** b's names, or null when `right` has a position for exactly b's names. */
    private readonly rightNames: readonly string[] | null,
    readonly exactCount: number | undefined,
  ) {}

  get(name: string): Pos | undefined {
    if (this.rightNames === null) return this.right!.get(name) ?? this.left.get(name);
    return this.rightNames.includes(name) ? this.right?.get(name) : this.left.get(name);
  }
}

/** The positions of a // b, made of r's names and values. */
function updatePositions(a: NixAttrs, b: NixAttrs, size: number): Positions | null {
  const pa = a.positions;
  const pb = b.positions;
  if (pa === null) return pb;
  const bExact = pb !== null && pb.exactCount === b.size;
  const exact = bExact && pa.exactCount === a.size ? size : undefined;
  return new UpdatePositions(pa, pb, bExact ? null : b.names, exact);
}

/** spliceSmall copies runs natively for small sides up to this many names (its concat takes ~2 arguments a name). */
const MAX_SPLICED = 16;

export function update(a: Value, b: Value, pos: Pos): Value {
  if (!(a instanceof NixAttrs)) throw new EvalError(`expected a set but found ${showType(a)}`, pos);
  if (!(b instanceof NixAttrs)) throw new EvalError(`expected a set but found ${showType(b)}`, pos);
  if (b.size === 0) return a;
  if (a.size === 0) return b;
  // both sides are sorted: merge them, b winning on equal names
  const an = a.names;
  const av = a.values;
  const bn = b.names;
  const bv = b.values;
  // JS's own string comparison is Nix's order when no name has a code unit from U+D800 up
  const simple = a.namesAreSimple() && b.namesAreSimple();
  let r: [string[], Lazy[]];
  if (bn.length * 8 <= an.length) {
    // one side is much smaller (`acc // { x = ...; }` in a fold)
    r = spliceSmall(an, av, bn, bv, true, simple);
  } else if (an.length * 8 <= bn.length) {
    r = spliceSmall(bn, bv, an, av, false, simple);
  } else r = mergeSorted(an, av, bn, bv, simple);
  // positions are looked up through both operands instead of being copied
  const set = new NixAttrs(r[0], r[1], updatePositions(a, b, r[0].length));
  set.simpleNames = simple ? 1 : 2;
  return set;
}

/**
 * The names and values of the large side with the small side's merged in,
 * the small side's value winning on equal names if smallWins. Each small
 * name is found by binary search; the copies are the engine's own (slice,
 * with, toSpliced, concat) where they can be: a loop over the big side costs
 * ~50 ns an element until V8 has optimised it, a native copy ~1. When every
 * small name is in the large side, the names array is shared (a set's
 * arrays are never changed), and so are the values if the large side wins.
 */
function spliceSmall(
  ln: readonly string[],
  lv: readonly Lazy[],
  sn: readonly string[],
  sv: readonly Lazy[],
  smallWins: boolean,
  simple: boolean,
): [string[], Lazy[]] {
  // where each small name is (>= 0) or would go (-1 - index)
  const at: number[] = new Array(sn.length);
  let inserts = 0;
  let i = 0;
  for (let j = 0; j < sn.length; j++) {
    i = simple ? searchSimpleNames(ln, sn[j], i) : searchNames(ln, sn[j], i);
    if (i < ln.length && ln[i] === sn[j]) at[j] = i++;
    else {
      at[j] = -1 - i;
      inserts++;
    }
  }
  if (inserts === 0) {
    if (!smallWins) return [ln as string[], lv as Lazy[]];
    if (sn.length === 1) return [ln as string[], lv.with(at[0], sv[0])];
    const values = lv.slice();
    for (let j = 0; j < sn.length; j++) values[at[j]] = sv[j];
    return [ln as string[], values];
  }
  // the commonest of all, `acc // { x = ...; }` with a new x: one copy each
  if (sn.length === 1) {
    const q = -1 - at[0];
    return [ln.toSpliced(q, 0, sn[0]), lv.toSpliced(q, 0, sv[0])];
  }
  // many new names: one loop over both sides (V8 optimises it soon in a
  // fold that does this often)
  if (sn.length > MAX_SPLICED) {
    const names: string[] = new Array(ln.length + inserts);
    const values: Lazy[] = new Array(ln.length + inserts);
    let k = 0;
    let from = 0;
    const copyTo = (end: number) => {
      for (; from < end; from++, k++) {
        names[k] = ln[from];
        values[k] = lv[from];
      }
    };
    for (let j = 0; j < sn.length; j++) {
      const p = at[j];
      if (p >= 0 && !smallWins) continue;
      copyTo(p >= 0 ? p : -1 - p);
      names[k] = sn[j];
      values[k++] = sv[j];
      if (p >= 0) from++;
    }
    copyTo(ln.length);
    return [names, values];
  }
  // runs of the large side, with the small side's entries between them
  const nparts: (readonly string[] | string)[] = [];
  const vparts: (readonly Lazy[])[] = [];
  let from = 0;
  for (let j = 0; j < sn.length; j++) {
    const p = at[j];
    if (p < 0) {
      const q = -1 - p;
      nparts.push(ln.slice(from, q), sn[j]);
      // (in arrays of one: a value may be an array itself, a Nix list, which concat would spread)
      vparts.push(lv.slice(from, q), [sv[j]]);
      from = q;
    } else if (smallWins) {
      vparts.push(lv.slice(from, p), [sv[j]]);
      nparts.push(ln.slice(from, p + 1));
      from = p + 1;
    }
  }
  nparts.push(ln.slice(from));
  vparts.push(lv.slice(from));
  return [Array.prototype.concat.apply([], nparts) as string[], Array.prototype.concat.apply([], vparts) as Lazy[]];
}

/** a // b of sets of similar sizes: one merge of the two sorted name lists, b winning on equal names. */
export function mergeSorted(an: readonly string[], av: readonly Lazy[], bn: readonly string[], bv: readonly Lazy[], simple: boolean): [string[], Lazy[]] {
  const names: string[] = new Array(an.length + bn.length);
  const values: Lazy[] = new Array(an.length + bn.length);
  let k = 0;
  let i = 0;
  let j = 0;
  while (i < an.length && j < bn.length) {
    const x = an[i];
    const y = bn[j];
    if (x === y) i++;
    else if (simple ? x < y : compareStrings(x, y) < 0) {
      names[k] = x;
      values[k++] = av[i++];
      continue;
    }
    names[k] = y;
    values[k++] = bv[j++];
  }
  for (; i < an.length; i++, k++) {
    names[k] = an[i];
    values[k] = av[i];
  }
  for (; j < bn.length; j++, k++) {
    names[k] = bn[j];
    values[k] = bv[j];
  }
  names.length = k;
  values.length = k;
  return [names, values];
}

/** `==` on two evaluated operands (functions never compare equal here). */
export function equals(a: Value, b: Value, pos: Pos | null): boolean {
  return eqValues(a, b, pos);
}

/** Equality of two possibly lazy elements of lists/sets: pointer-equal ones are equal. */
export function eqLazy(a: Lazy, b: Lazy, pos: Pos | null): boolean {
  if (a === b) {
    force(a);
    return true;
  }
  return eqValues(force(a), force(b), pos);
}

export function eqValues(a: Value, b: Value, pos: Pos | null): boolean {
  // pointer equality only counts for elements of lists and sets (eqLazy)
  if (a === b && !isFunction(a) && !Array.isArray(a) && !(a instanceof NixAttrs)) return true;
  if (typeof a === "number" || typeof a === "bigint") {
    if (b instanceof NixFloat) return Number(a) === b.v;
    return a === b; // ints are canonical: a bigint is never a safe integer
  }
  if (a instanceof NixFloat) {
    if (b instanceof NixFloat) return a.v === b.v;
    if (isInt(b)) return a.v === Number(b);
    return false;
  }
  if (isString(a)) return isString(b) && (strValue(a) === strValue(b) || (rawBytes.seen && sameBytes(strValue(a), strValue(b))));
  if (a === null || typeof a === "boolean") return a === b;
  if (a instanceof NixPath) return b instanceof NixPath && a.path === b.path;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      const x = elemLazy(a, i);
      const y = elemLazy(b, i);
      const same = eqLazy(x, y, pos);
      settleElement(a, i, x);
      settleElement(b, i, y);
      if (!same) return false;
    }
    return true;
  }
  if (a instanceof NixAttrs) {
    if (!(b instanceof NixAttrs)) return false;
    // derivations compare by their output paths
    if (isDerivation(a) && isDerivation(b)) {
      const oa = a.get("outPath");
      const ob = b.get("outPath");
      if (oa !== undefined && ob !== undefined) return eqLazy(oa, ob, pos);
    }
    if (a.size !== b.size) return false;
    // same size and sorted: equal sets have the same names at the same indices
    const an = a.names;
    const bn = b.names;
    for (let i = 0; i < an.length; i++) if (an[i] !== bn[i] || !eqLazy(a.values[i], b.values[i], pos)) return false;
    return true;
  }
  return false; // functions are incomparable
}

export function isDerivation(v: Value): boolean {
  if (!(v instanceof NixAttrs)) return false;
  const t = v.get("type");
  if (t === undefined) return false;
  const tv = force(t);
  return isString(tv) && strValue(tv) === "derivation";
}

/** `<` (builtins.lessThan). */
export function lessThan(a: Value, b: Value, pos: Pos | null): boolean {
  if (typeof a === "number" && typeof b === "number") return a < b;
  if ((isInt(a) || a instanceof NixFloat) && (isInt(b) || b instanceof NixFloat)) {
    if (isInt(a) && isInt(b)) return a < b; // number/bigint comparisons are exact in JS
    return numberOf(a) < numberOf(b);
  }
  if (isString(a) && isString(b)) return compareStrings(strValue(a), strValue(b)) < 0;
  if (a instanceof NixPath && b instanceof NixPath) return compareStrings(a.path, b.path) < 0;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; ; i++) {
      if (i === b.length) return false;
      if (i === a.length) return true;
      const x = elemLazy(a, i);
      const y = elemLazy(b, i);
      if (!eqLazy(x, y, pos)) return lessThan(force(x), force(y), pos);
    }
  }
  const same = showType(a) === showType(b);
  throw new EvalError(`cannot compare ${showType(a)} with ${showType(b)}${same ? "; values of that type are incomparable" : ""}`, pos);
}

export { typeOf };

/** Whether two strings that differ as JS strings have the same bytes (raw bytes joined back, eval/utf8.ts). */
function sameBytes(a: string, b: string): boolean {
  return (hasRawBytes(a) || hasRawBytes(b)) && encodeBytes(a).equals(encodeBytes(b));
}
