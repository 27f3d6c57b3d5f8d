// List builtins.
import {
  EvalError, Lazy, NixAttrs, Value, force, forceBool, forceFunction, forceInt, forceList, forceListLazy, forceString,
  LAZY_LIST_MIN, pendingList, elemLazy, elemForce, settleElement,
} from "../value";
import type { Definer } from "./registry";
import type { Pos } from "../ast";
import { applyThunk, call2, callFunction, indexCallSource, mapSource } from "../call";
import { eqLazy, eqValues, lessThan } from "../operators";

export function register(def: Definer): void {
  def("length", 1, ([l], pos) => forceListLazy(l, pos).length);
  def("head", 1, ([l], pos) => {
    const xs = forceListLazy(l, pos);
    if (xs.length === 0) throw new EvalError("'builtins.head' called on an empty list", pos);
    return elemForce(xs, 0);
  });
  def("tail", 1, ([l], pos) => {
    const xs = forceList(l, pos);
    if (xs.length === 0) throw new EvalError("'builtins.tail' called on an empty list", pos);
    return xs.slice(1);
  });
  def("elemAt", 2, ([l, n], pos) => {
    const xs = forceListLazy(l, pos);
    const i = forceInt(n, pos);
    if (typeof i !== "number" || i < 0 || i >= xs.length) throw new EvalError(`'builtins.elemAt' called with index ${i} on a list of size ${xs.length}`, pos);
    return elemForce(xs, i);
  });
  def("elem", 2, ([x, l], pos) => {
    const xs = forceListLazy(l, pos);
    for (let i = 0; i < xs.length; i++) {
      const e = elemLazy(xs, i);
      const found = eqLazy(x, e, pos);
      settleElement(xs, i, e);
      if (found) return true;
    }
    return false;
  });
  def("map", 2, ([f, l], pos) => {
    const xs = forceListLazy(l, pos);
    const fn = force(f);
    if (xs.length >= LAZY_LIST_MIN) return pendingList(xs.length, mapSource(fn, xs, pos));
    const site = { fn, pos };
    const out: Lazy[] = new Array(xs.length);
    for (let i = 0; i < xs.length; i++) out[i] = applyThunk(site, xs[i]);
    return out;
  });
  def("filter", 2, ([f, l], pos) => {
    const fn = force(f);
    const xs = forceListLazy(l, pos);
    const out: Lazy[] = [];
    for (let i = 0; i < xs.length; i++) {
      const x = elemLazy(xs, i);
      const keep = forceBool(callFunction(fn, x, pos), pos);
      settleElement(xs, i, x);
      if (keep) out.push(xs[i]);
    }
    return out;
  });
  def("concatLists", 1, ([l], pos) => {
    // indexed loops: for-of allocates an iterator result per element here
    const xs = forceList(l, pos);
    const parts: Lazy[][] = new Array(xs.length);
    for (let i = 0; i < xs.length; i++) parts[i] = forceList(xs[i], pos);
    return flatten(parts);
  });
  def("concatMap", 2, ([f, l], pos) => {
    const fn = force(f);
    const xs = forceList(l, pos);
    const parts: Lazy[][] = new Array(xs.length);
    for (let i = 0; i < xs.length; i++) parts[i] = forceList(callFunction(fn, xs[i], pos), pos);
    return flatten(parts);
  });
  def("genList", 2, ([f, n], pos) => {
    const len = forceInt(n, pos);
    if (len < 0) throw new EvalError(`cannot create list of size ${len}`, pos);
    const fn = force(f);
    forceFunction(fn, pos);
    if (len >= LAZY_LIST_MIN) return pendingList(Number(len), indexCallSource(fn, pos));
    const out: Lazy[] = new Array(Number(len));
    const site = { fn, pos };
    for (let i = 0; i < out.length; i++) out[i] = applyThunk(site, i);
    return out;
  });
  def("foldl'", 3, ([f, init, l], pos) => {
    const fn = force(f);
    const xs = forceListLazy(l, pos);
    // the initial accumulator is only forced when the list is empty
    if (xs.length === 0) return force(init);
    let acc: Lazy = init;
    for (let i = 0; i < xs.length; i++) {
      const x = elemLazy(xs, i);
      acc = force(call2(fn, acc, x, pos));
      settleElement(xs, i, x);
    }
    return acc as Value;
  });
  def("all", 2, ([f, l], pos) => !someElement(force(f), forceListLazy(l, pos), false, pos));
  def("any", 2, ([f, l], pos) => someElement(force(f), forceListLazy(l, pos), true, pos));
  def("sort", 2, ([f, l], pos) => {
    // as Nix: the list first, and for a list that is not empty the
    // comparator (a function, even for one element) and every element
    const list = forceList(l, pos);
    if (list.length === 0) return list;
    let fn: Value;
    try {
      fn = forceFunction(f, pos);
    } catch (e) {
      if (e instanceof EvalError) e.addTrace("while evaluating the first argument passed to builtins.sort");
      throw e;
    }
    for (let i = 0; i < list.length; i++) force(list[i]);
    const xs = list.slice();
    const lt = (a: Lazy, b: Lazy) => forceBool(call2(fn, a, b, pos), pos);
    return mergeSort(xs, lt);
  });
  def("partition", 2, ([f, l], pos) => {
    const fn = force(f);
    const right: Lazy[] = [];
    const wrong: Lazy[] = [];
    const xs = forceList(l, pos);
    for (let i = 0; i < xs.length; i++) (forceBool(callFunction(fn, xs[i], pos), pos) ? right : wrong).push(xs[i]);
    return NixAttrs.from([["right", right], ["wrong", wrong]]);
  });
  def("groupBy", 2, ([f, l], pos) => {
    const fn = force(f);
    const groups = new Map<string, Lazy[]>();
    for (const x of forceList(l, pos)) {
      const k = forceString(callFunction(fn, x, pos), pos);
      const g = groups.get(k);
      if (g) g.push(x);
      else groups.set(k, [x]);
    }
    return NixAttrs.fromMap(new Map(groups));
  });
  def("lessThan", 2, ([a, b], pos) => lessThan(force(a), force(b), pos));
}

/** Whether `fn x` is `want` for some element x of xs (any; all is its negation). */
function someElement(fn: Value, xs: Lazy[], want: boolean, pos: Pos | null): boolean {
  for (let i = 0; i < xs.length; i++) {
    const x = elemLazy(xs, i);
    const r = forceBool(callFunction(fn, x, pos), pos);
    settleElement(xs, i, x);
    if (r === want) return true;
  }
  return false;
}

/** Stable merge sort calling the Nix comparator as `lt a b`. */
function mergeSort(xs: Lazy[], lt: (a: Lazy, b: Lazy) => boolean): Lazy[] {
  if (xs.length < 2) return xs;
  let src = xs;
  let dst = new Array<Lazy>(xs.length);
  for (let width = 1; width < src.length; width *= 2) {
    for (let lo = 0; lo < src.length; lo += 2 * width) {
      const mid = Math.min(lo + width, src.length);
      const hi = Math.min(lo + 2 * width, src.length);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        // take from the right only if strictly less: keeps equal elements in order
        if (lt(src[j], src[i])) dst[k++] = src[j++];
        else dst[k++] = src[i++];
      }
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    [src, dst] = [dst, src];
  }
  return src;
}

/** Concatenates lists into one preallocated array. */
function flatten(parts: Lazy[][]): Lazy[] {
  let n = 0;
  for (let i = 0; i < parts.length; i++) n += parts[i].length;
  const out: Lazy[] = new Array(n);
  let o = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    for (let j = 0; j < p.length; j++) out[o++] = p[j];
  }
  return out;
}
