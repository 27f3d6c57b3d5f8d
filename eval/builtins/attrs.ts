// Attribute set builtins.
import { EvalError, Lazy, NixAttrs, Thunk, allSimple, compareStrings, sortNames, force, forceAttrs, forceList, forceString } from "../value";
import type { Definer } from "./registry";
import { mapAttrsThunk, zipThunk } from "../call";
import { missingAttr } from "../compile";

export function register(def: Definer): void {
  def("attrNames", 1, ([s], pos) => forceAttrs(s, pos).names.slice());
  def("attrValues", 1, ([s], pos) => forceAttrs(s, pos).values.slice());
  def("getAttr", 2, ([n, s], pos) => {
    const name = forceString(n, pos);
    const a = forceAttrs(s, pos);
    const v = a.get(name);
    if (v === undefined) throw missingAttr(name, a, pos);
    return force(v);
  });
  def("hasAttr", 2, ([n, s], pos) => {
    const name = forceString(n, pos);
    return forceAttrs(s, pos).has(name);
  });
  def("removeAttrs", 2, ([s, l], pos) => {
    const a = forceAttrs(s, pos);
    const xs = forceList(l, pos);
    // where the names to drop are (usually a few of a set's names)
    let at: number[] | null = null;
    for (let i = 0; i < xs.length; i++) {
      const k = a.indexOf(forceString(xs[i], pos));
      if (k >= 0) (at ??= []).push(k);
    }
    if (at === null) return a;
    if (at.length > 1) at.sort((x, y) => x - y);
    let dropped = 0;
    for (let i = 0; i < at.length; i++) if (i === 0 || at[i] !== at[i - 1]) dropped++;
    const n = a.names.length - dropped;
    const keep: string[] = new Array(n);
    const values: Lazy[] = new Array(n);
    let o = 0;
    let from = 0;
    for (let i = 0; i <= at.length; i++) {
      const to = i < at.length ? at[i] : a.names.length;
      for (let j = from; j < to; j++) {
        keep[o] = a.names[j];
        values[o++] = a.values[j];
      }
      if (to + 1 > from) from = to + 1;
    }
    const r = new NixAttrs(keep, values, a.positions);
    if (a.simpleNames === 1) r.simpleNames = 1;
    return r;
  });
  def("intersectAttrs", 2, ([x, y], pos) => {
    const a = forceAttrs(x, pos);
    const b = forceAttrs(y, pos);
    const names: string[] = [];
    const values: Lazy[] = [];
    if (a.size * 16 < b.size) {
      // a few names looked up in a big set (callPackage: a function's
      // arguments in the whole package set): a's sorted names, searched for
      // in b, give the result in order without a pass over b
      for (let i = 0; i < a.names.length; i++) {
        const j = b.indexOf(a.names[i]);
        if (j < 0) continue;
        names.push(b.names[j]);
        values.push(b.values[j]);
      }
    } else {
      for (let i = 0; i < b.names.length; i++) {
        if (!a.has(b.names[i])) continue;
        names.push(b.names[i]);
        values.push(b.values[i]);
      }
    }
    return new NixAttrs(names, values, b.positions);
  });
  def("catAttrs", 2, ([n, l], pos) => {
    const name = forceString(n, pos);
    const out: Lazy[] = [];
    for (const x of forceList(l, pos)) {
      const v = forceAttrs(x, pos).get(name);
      if (v !== undefined) out.push(v);
    }
    return out;
  });
  def("listToAttrs", 1, ([l], pos) => {
    const xs = forceList(l, pos);
    // Every pair in list order (the first occurrence of a name wins); names
    // often come sorted (`attrNames s` mapped), else one sort of the indices
    // by (name, index) puts them in order with each name's first pair first.
    const names: string[] = [];
    const values: Lazy[] = [];
    let ascending = true;
    // the names so far, made the first time a pair has no value (rare)
    let seen: Set<string> | null = null;
    for (let i = 0; i < xs.length; i++) {
      const a = forceAttrs(xs[i], pos);
      const n = a.get("name");
      if (n === undefined) throw new EvalError("attribute 'name' missing", pos).addTrace("in a {name=...; value=...;} pair", pos);
      const name = forceString(n, pos);
      const v = a.get("value");
      if (v === undefined) {
        // only a name's first pair needs a value
        if ((seen ??= new Set(names)).has(name)) continue;
        throw new EvalError("attribute 'value' missing", pos).addTrace("in a {name=...; value=...;} pair", pos);
      }
      if (ascending && names.length > 0 && !(names[names.length - 1] < name)) ascending = false;
      seen?.add(name);
      names.push(name);
      values.push(v);
    }
    const simple = allSimple(names);
    // strictly ascending in UTF-16 order: Nix's byte order for simple names, no duplicates
    if (!(ascending && simple)) return sortedPairs(names, values, simple);
    const r = new NixAttrs(names, values);
    r.simpleNames = 1;
    return r;
  });
  def("mapAttrs", 2, ([f, s], pos) => {
    // the function is not forced until an attribute is (Nix is lazy in it)
    const a = forceAttrs(s, pos);
    const names = a.names;
    const values: Lazy[] = new Array(names.length);
    const src = { fn: f, pos, names, values: a.values };
    for (let i = 0; i < names.length; i++) values[i] = mapAttrsThunk(src, i);
    return new NixAttrs(names, values); // Nix's mapAttrs drops the attribute positions
  });
  def("zipAttrsWith", 2, ([f, l], pos) => {
    const fn = force(f);
    const groups = new Map<string, Lazy[]>();
    for (const x of forceList(l, pos)) {
      const a = forceAttrs(x, pos);
      for (let i = 0; i < a.names.length; i++) {
        const k = a.names[i];
        const g = groups.get(k);
        if (g) g.push(a.values[i]);
        else groups.set(k, [a.values[i]]);
      }
    }
    // the names sorted, and each one's thunk made in that order (no second Map)
    const names = [...groups.keys()];
    const simple = sortNames(names);
    const values: Lazy[] = new Array(names.length);
    for (let i = 0; i < names.length; i++) values[i] = zipThunk({ fn, pos, name: names[i], vs: groups.get(names[i])! });
    const r = new NixAttrs(names, values);
    r.simpleNames = simple ? 1 : 2;
    return r;
  });
}

/** The set of pairs (names[i], values[i]) in any order, the first of equal names winning. */
function sortedPairs(names: string[], values: Lazy[], simple: boolean): NixAttrs {
  const order: number[] = new Array(names.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  // a sort of indices (stable: equal names keep list order) costs about half of a Map's inserts and lookups
  order.sort(simple ? (x, y) => (names[x] < names[y] ? -1 : names[x] > names[y] ? 1 : x - y) : (x, y) => compareStrings(names[x], names[y]) || x - y);
  const rn: string[] = [];
  const rv: Lazy[] = [];
  for (let j = 0; j < order.length; j++) {
    const name = names[order[j]];
    if (rn.length > 0 && rn[rn.length - 1] === name) continue;
    rn.push(name);
    rv.push(values[order[j]]);
  }
  const r = new NixAttrs(rn, rv);
  r.simpleNames = simple ? 1 : 2;
  return r;
}
