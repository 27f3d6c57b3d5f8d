// The arithmetic, comparison, equality, list and attribute-set operators.
import type { Pos } from "./ast";
import {
  EvalError, Lazy, NixAttrs, NixPath, NixString, Value, checkedInt, force, isFunction, isString,
  showType, strValue, ctxOf, typeOf, compareStrings,
} from "./value";
import type { EvalState } from "./state";
import { coerceToString } from "./coerce";
import { canonPath } from "./paths";

export function add(state: EvalState, a: Value, b: Value, pos: Pos): Value {
  if (typeof a === "bigint") {
    if (typeof b === "bigint") return checkedInt(a + b, "adding", a, b);
    if (typeof b === "number") return Number(a) + b;
    throw new EvalError(`cannot add ${showType(b)} to an integer`, pos);
  }
  if (typeof a === "number") {
    if (typeof b === "number") return a + b;
    if (typeof b === "bigint") return a + Number(b);
    throw new EvalError(`cannot add ${showType(b)} to a float`, pos);
  }
  if (typeof a === "string" && typeof b === "string") return a + b;
  if (a instanceof NixPath) {
    if (b instanceof NixPath) return new NixPath(canonPath(a.path + b.path));
    const s = coerceToString(state, b, pos, { coerceMore: false, copyToStore: false });
    if (ctxOf(s).size > 0) throw new EvalError("a string that refers to a store path cannot be appended to a path", pos);
    return new NixPath(canonPath(a.path + strValue(s)));
  }
  const sa = coerceToString(state, a, pos, { coerceMore: false, copyToStore: true });
  const sb = coerceToString(state, b, pos, { coerceMore: false, copyToStore: true });
  const ca = ctxOf(sa);
  const cb = ctxOf(sb);
  const s = strValue(sa) + strValue(sb);
  if (ca.size === 0 && cb.size === 0) return s;
  return new NixString(s, new Set([...ca, ...cb]));
}

function numOp(name: string, a: Value, b: Value, pos: Pos): [bigint, bigint] | [number, number] {
  if (typeof a === "bigint" && typeof b === "bigint") return [a, b];
  const na = typeof a === "bigint" ? Number(a) : a;
  const nb = typeof b === "bigint" ? Number(b) : b;
  if (typeof na !== "number") throw new EvalError(`expected an integer but found ${showType(a)}`, pos).addTrace(`while evaluating the first argument of ${name}`);
  if (typeof nb !== "number") throw new EvalError(`expected an integer but found ${showType(b)}`, pos).addTrace(`while evaluating the second argument of ${name}`);
  return [na, nb];
}

export function sub(a: Value, b: Value, pos: Pos | null): Value {
  const [x, y] = numOp("subtraction", a, b, pos as Pos);
  if (typeof x === "bigint") return checkedInt(x - (y as bigint), "subtracting", x, y as bigint);
  return x - (y as number);
}

export function mul(a: Value, b: Value, pos: Pos | null): Value {
  const [x, y] = numOp("multiplication", a, b, pos as Pos);
  if (typeof x === "bigint") return checkedInt(x * (y as bigint), "multiplying", x, y as bigint);
  return x * (y as number);
}

export function div(a: Value, b: Value, pos: Pos | null): Value {
  const [x, y] = numOp("division", a, b, pos as Pos);
  if (y === 0n || y === 0) throw new EvalError("division by zero", pos);
  if (typeof x === "bigint") {
    if (x === -(2n ** 63n) && y === -1n) throw new EvalError(`integer overflow in dividing ${x} / ${y}`, pos);
    return x / (y as bigint);
  }
  return x / (y as number);
}

export function concatLists(a: Value, b: Value, pos: Pos): Value {
  if (!Array.isArray(a)) throw new EvalError(`expected a list but found ${showType(a)}`, pos);
  if (!Array.isArray(b)) throw new EvalError(`expected a list but found ${showType(b)}`, pos);
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  return a.concat(b);
}

export function update(a: Value, b: Value, pos: Pos): Value {
  if (!(a instanceof NixAttrs)) throw new EvalError(`expected a set but found ${showType(a)}`, pos);
  if (!(b instanceof NixAttrs)) throw new EvalError(`expected a set but found ${showType(b)}`, pos);
  if (b.size === 0) return a;
  if (a.size === 0) return b;
  const m = new Map(a.map);
  b.map.forEach((v, k) => m.set(k, v));
  // positions are looked up through both operands instead of being copied
  const pa = a.positions;
  const pb = b.positions;
  const bm = b.map;
  const positions = pa === null ? pb : { get: (k: string) => (bm.has(k) ? pb?.get(k) : pa.get(k)) };
  return new NixAttrs(m, positions);
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
  if (typeof a === "bigint") {
    if (typeof b === "bigint") return a === b;
    if (typeof b === "number") return Number(a) === b;
    return false;
  }
  if (typeof a === "number") {
    if (typeof b === "number") return a === b;
    if (typeof b === "bigint") return a === Number(b);
    return false;
  }
  if (isString(a)) return isString(b) && strValue(a) === strValue(b);
  if (a === null || typeof a === "boolean") return a === b;
  if (a instanceof NixPath) return b instanceof NixPath && a.path === b.path;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!eqLazy(a[i], b[i], pos)) return false;
    return true;
  }
  if (a instanceof NixAttrs) {
    if (!(b instanceof NixAttrs)) return false;
    // derivations compare by their output paths
    if (isDerivation(a) && isDerivation(b)) {
      const oa = a.map.get("outPath");
      const ob = b.map.get("outPath");
      if (oa !== undefined && ob !== undefined) return eqLazy(oa, ob, pos);
    }
    if (a.size !== b.size) return false;
    for (const k of a.keys()) {
      const vb = b.map.get(k);
      if (vb === undefined) return false;
      if (!eqLazy(a.map.get(k)!, vb, pos)) return false;
    }
    return true;
  }
  return false; // functions are incomparable
}

export function isDerivation(v: Value): boolean {
  if (!(v instanceof NixAttrs)) return false;
  const t = v.map.get("type");
  if (t === undefined) return false;
  const tv = force(t);
  return isString(tv) && strValue(tv) === "derivation";
}

/** `<` (builtins.lessThan). */
export function lessThan(a: Value, b: Value, pos: Pos | null): boolean {
  if ((typeof a === "bigint" || typeof a === "number") && (typeof b === "bigint" || typeof b === "number")) {
    if (typeof a === "bigint" && typeof b === "bigint") return a < b;
    return Number(a) < Number(b);
  }
  if (isString(a) && isString(b)) return compareStrings(strValue(a), strValue(b)) < 0;
  if (a instanceof NixPath && b instanceof NixPath) return compareStrings(a.path, b.path) < 0;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; ; i++) {
      if (i === b.length) return false;
      if (i === a.length) return true;
      if (!eqLazy(a[i], b[i], pos)) return lessThan(force(a[i]), force(b[i]), pos);
    }
  }
  const same = showType(a) === showType(b);
  throw new EvalError(`cannot compare ${showType(a)} with ${showType(b)}${same ? "; values of that type are incomparable" : ""}`, pos);
}

export { typeOf };
