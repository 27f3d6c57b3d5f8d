// String context builtins. Context elements are encoded as C++ Nix does:
// "/nix/store/x" (a plain path), "=/nix/store/x.drv" (a derivation with all
// its outputs), "!out!/nix/store/x.drv" (one output of a derivation).
import { EvalError, Lazy, NixAttrs, force, forceAttrs, forceBool, forceList, forceString, forceStringValue, mkString, strValue, ctxOf } from "../value";
import type { Definer } from "./registry";
import { coerceToString, AS_TEXT } from "../coerce";
import { canonPath } from "../paths";
import { isStorePath } from "../../core/store-path";

export function register(def: Definer): void {
  // builtins.storePath: a store path (or a path inside one) as a string that
  // depends on that store path. Read-only evaluation does not check validity.
  def("storePath", 1, ([p], pos, state) => {
    if (state.options.pureEval) throw new EvalError("'builtins.storePath' is not allowed in pure evaluation mode", pos);
    const path = canonPath(strValue(coerceToString(state, p, pos, AS_TEXT)));
    const dir = state.options.storeDir + "/";
    if (!path.startsWith(dir) || path.length === dir.length) throw new EvalError(`path '${path}' is not in the Nix store`, pos);
    const slash = path.indexOf("/", dir.length);
    const storePath = slash < 0 ? path : path.slice(0, slash);
    if (!isStorePath(storePath, state.options.storeDir)) throw new EvalError(`path '${path}' is not in the Nix store`, pos);
    return mkString(path, new Set([storePath]));
  });
  def("hasContext", 1, ([s], pos) => ctxOf(forceStringValue(s, pos)).size > 0);
  def("unsafeDiscardStringContext", 1, ([s], pos) => strValue(forceStringValue(s, pos)));
  def("unsafeDiscardOutputDependency", 1, ([s], pos) => {
    const v = forceStringValue(s, pos);
    const ctx = new Set<string>();
    for (const c of ctxOf(v)) ctx.add(c.startsWith("=") ? c.slice(1) : c);
    return mkString(strValue(v), ctx);
  });
  def("addDrvOutputDependencies", 1, ([s], pos) => {
    const v = forceStringValue(s, pos);
    const ctx = [...ctxOf(v)];
    if (ctx.length !== 1) throw new EvalError(`context of string '${strValue(v)}' must have exactly one element, but has ${ctx.length}`, pos);
    const c = ctx[0];
    if (c.startsWith("!")) throw new EvalError(`\`addDrvOutputDependencies\` can only act on derivations, not on a derivation output such as '${c.split("!")[1]}'`, pos);
    if (c.startsWith("=")) return v;
    if (!c.endsWith(".drv")) throw new EvalError(`path '${c}' is not a derivation`, pos);
    return mkString(strValue(v), new Set(["=" + c]));
  });
  def("getContext", 1, ([s], pos) => {
    const v = forceStringValue(s, pos);
    const info = new Map<string, { path: boolean; all: boolean; outputs: string[] }>();
    const get = (p: string) => {
      let e = info.get(p);
      if (!e) info.set(p, (e = { path: false, all: false, outputs: [] }));
      return e;
    };
    for (const c of ctxOf(v)) {
      if (c.startsWith("=")) get(c.slice(1)).all = true;
      else if (c.startsWith("!")) {
        const j = c.indexOf("!", 1);
        get(c.slice(j + 1)).outputs.push(c.slice(1, j));
      } else get(c).path = true;
    }
    const m = new Map<string, Lazy>();
    for (const [p, e] of info) {
      const a = new Map<string, Lazy>();
      if (e.all) a.set("allOutputs", true);
      if (e.outputs.length) a.set("outputs", e.outputs.sort());
      if (e.path) a.set("path", true);
      m.set(p, NixAttrs.fromMap(a));
    }
    return NixAttrs.fromMap(m);
  });
  def("appendContext", 2, ([s, c], pos, state) => {
    const v = forceStringValue(s, pos);
    const ctx = new Set(ctxOf(v));
    const attrs = forceAttrs(c, pos);
    for (const p of attrs.keys()) {
      if (!isStorePath(p, state.options.storeDir)) throw new EvalError(`context key '"${p}"' is not a store path`, pos);
      const info = forceAttrs(attrs.get(p)!, pos);
      const path = info.get("path");
      if (path !== undefined && forceBool(path, pos)) ctx.add(p);
      const all = info.get("allOutputs");
      if (all !== undefined && forceBool(all, pos)) {
        if (!p.endsWith(".drv")) throw new EvalError(`tried to add all-outputs context of "${p}", which is not a derivation, to a string`, pos);
        ctx.add("=" + p);
      }
      const outs = info.get("outputs");
      if (outs !== undefined) {
        const list = forceList(outs, pos);
        if (list.length && !p.endsWith(".drv")) throw new EvalError(`tried to add derivation output context of "${p}", which is not a derivation, to a string`, pos);
        for (const o of list) ctx.add(`!${forceString(o, pos)}!${p}`);
      }
    }
    return mkString(strValue(v), ctx);
  });
  void force;
}
