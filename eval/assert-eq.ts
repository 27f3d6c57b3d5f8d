// Why `a == b` is false, for failed `assert a == b;` (Nix 2.26 explains
// the first difference instead of printing "assertion ... failed").
import type { Pos } from "./ast";
import { EvalError, Lambda, Lazy, NixAttrs, NixFloat, NixPath, ThrownError, Value, force, isString, showType, materialize } from "./value";
import { eqLazy, eqValues, isDerivation } from "./operators";
import { describeLambda, printValue } from "./print";

const show = (v: Value) => (v instanceof Lambda ? describeLambda(v) : printValue(v));

function fail(msg: string, pos: Pos | null): EvalError {
  return new ThrownError(msg, pos);
}

/** Throws an error describing the first difference between a and b (which are not equal). */
export function explainInequality(a: Lazy, b: Lazy, pos: Pos | null): never {
  const x = force(a);
  const y = force(b);
  const numeric = (v: Value) => typeof v === "bigint" || typeof v === "number" || v instanceof NixFloat;
  if (numeric(x) && numeric(y)) throw fail(`${showType(x)} with value '${show(x)}' is not equal to ${showType(y)} with value '${show(y)}'`, pos);
  if (showType(x) !== showType(y)) throw fail(`${showType(x)} of value '${show(x)}' is not equal to ${showType(y)} of value '${show(y)}'`, pos);
  if (isString(x) && isString(y)) throw fail(`string '${show(x)}' is not equal to string '${show(y)}'`, pos);
  if (typeof x === "boolean") throw fail(`boolean '${x}' is not equal to boolean '${y}'`, pos);
  if (x instanceof NixPath && y instanceof NixPath) throw fail(`path '${x.path}' is not equal to path '${y.path}'`, pos);
  if (Array.isArray(x) && Array.isArray(y)) {
    materialize(x);
    materialize(y);
    if (x.length !== y.length)
      throw fail(`list of size '${x.length}' is not equal to list of size '${y.length}', left hand side is '${show(x)}', right hand side is '${show(y)}'`, pos);
    for (let i = 0; i < x.length; i++) {
      if (eqLazy(x[i], y[i], pos)) continue;
      try {
        explainInequality(x[i], y[i], pos);
      } catch (e) {
        if (e instanceof EvalError) e.addTrace(`while comparing list element ${i}`, pos);
        throw e;
      }
    }
  }
  if (x instanceof NixAttrs && y instanceof NixAttrs) {
    if (isDerivation(x) && isDerivation(y) && x.get("outPath") && y.get("outPath")) {
      try {
        explainInequality(x.get("outPath")!, y.get("outPath")!, pos);
      } catch (e) {
        if (e instanceof EvalError) e.addTrace("while comparing a derivation by its 'outPath' attribute", pos);
        throw e;
      }
    }
    for (const k of x.keys()) if (!y.has(k)) throw fail(`attribute name '${k}' is contained in '${show(x)}', but not in '${show(y)}'`, pos);
    for (const k of y.keys()) if (!x.has(k)) throw fail(`attribute name '${k}' is missing in '${show(x)}', but is contained in '${show(y)}'`, pos);
    for (const k of x.keys()) {
      if (eqLazy(x.get(k)!, y.get(k)!, pos)) continue;
      try {
        explainInequality(x.get(k)!, y.get(k)!, pos);
      } catch (e) {
        if (e instanceof EvalError) e.addTrace(`where left hand side is '${show(force(x.get(k)!))}' and right hand side is '${show(force(y.get(k)!))}'`).addTrace(`while comparing attribute '${k}'`, pos);
        throw e;
      }
    }
  }
  if (eqValues(x, y, pos)) throw new EvalError("internal error: values compare equal after an equality assertion failed", pos);
  throw fail(`${showType(x)} of value '${show(x)}' is not equal to ${showType(y)} of value '${show(y)}'`, pos);
}

