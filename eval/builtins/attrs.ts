// Attribute set builtins.
import { EvalError, Lazy, NixAttrs, Thunk, force, forceAttrs, forceList, forceString } from "../value";
import type { Definer } from "./registry";
import { callFunction } from "../call";
import { missingAttr } from "../compile";

export function register(def: Definer): void {
  def("attrNames", 1, ([s], pos) => forceAttrs(s, pos).keys().slice());
  def("attrValues", 1, ([s], pos) => {
    const a = forceAttrs(s, pos);
    return a.keys().map((k) => a.map.get(k)!);
  });
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
    const names = forceList(l, pos).map((x) => forceString(x, pos));
    if (!names.some((n) => a.has(n))) return a;
    const m = new Map(a.map);
    for (const n of names) m.delete(n);
    return new NixAttrs(m, a.positions);
  });
  def("intersectAttrs", 2, ([x, y], pos) => {
    const a = forceAttrs(x, pos);
    const b = forceAttrs(y, pos);
    const m = new Map<string, Lazy>();
    for (const [k, v] of b.map) if (a.has(k)) m.set(k, v);
    return new NixAttrs(m, b.positions);
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
    const m = new Map<string, Lazy>();
    for (const x of forceList(l, pos)) {
      const a = forceAttrs(x, pos);
      const n = a.get("name");
      if (n === undefined) throw new EvalError("attribute 'name' missing", pos).addTrace("in a {name=...; value=...;} pair", pos);
      const name = forceString(n, pos);
      if (m.has(name)) continue; // the first occurrence wins
      const v = a.get("value");
      if (v === undefined) throw new EvalError("attribute 'value' missing", pos).addTrace("in a {name=...; value=...;} pair", pos);
      m.set(name, v);
    }
    return new NixAttrs(m);
  });
  def("mapAttrs", 2, ([f, s], pos) => {
    // the function is not forced until an attribute is (Nix is lazy in it)
    const a = forceAttrs(s, pos);
    const m = new Map<string, Lazy>();
    for (const [k, v] of a.map) m.set(k, Thunk.of(() => callFunction(callFunction(force(f), k, pos), v, pos)));
    return new NixAttrs(m); // Nix's mapAttrs drops the attribute positions
  });
  def("zipAttrsWith", 2, ([f, l], pos) => {
    const fn = force(f);
    const groups = new Map<string, Lazy[]>();
    for (const x of forceList(l, pos)) {
      for (const [k, v] of forceAttrs(x, pos).map) {
        const g = groups.get(k);
        if (g) g.push(v);
        else groups.set(k, [v]);
      }
    }
    const m = new Map<string, Lazy>();
    for (const [k, vs] of groups) m.set(k, Thunk.of(() => callFunction(callFunction(fn, k, pos), vs, pos)));
    return new NixAttrs(m);
  });
}
