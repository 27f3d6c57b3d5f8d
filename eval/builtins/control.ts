// Control, types and evaluation-order builtins: throw, abort, tryEval, seq,
// deepSeq, trace, type predicates, functionArgs, genericClosure, ...
import {
  AbortError, EvalError, Lambda, Lazy, NixAttrs, NixFloat, NixPath, PrimOp, PrimOpApp, ThrownError, Thunk, Value,
  force, forceAttrs, forceDeep, forceFunction, forceList, forceString, isFunction, isString, isInt, typeOf, strValue,
} from "../value";
import type { Definer } from "./registry";
import { fileOf } from "../positions";
import { callFunction, callDepthNow, restoreCallDepth } from "../call";
import { coerceToString, AS_TEXT } from "../coerce";
import { eqValues, lessThan } from "../operators";
import { posToAttrs } from "../compile";
import { printValue } from "../print";
import { passFatal } from "../limits";

export function register(def: Definer): void {
  def("throw", 1, ([m], pos, state) => {
    const s = coerceToString(state, m, pos, AS_TEXT);
    throw new ThrownError(strValue(s), pos).addTrace("while calling the 'throw' builtin", pos);
  });
  def("abort", 1, ([m], pos, state) => {
    const s = coerceToString(state, m, pos, AS_TEXT);
    throw new AbortError(`evaluation aborted with the following error message: '${strValue(s)}'`, pos);
  });
  def("tryEval", 1, ([e]) => {
    const depth = callDepthNow();
    try {
      const v = force(e);
      return NixAttrs.from([["success", true], ["value", v]]);
    } catch (err) {
      if (err instanceof EvalError && err.catchable) {
        restoreCallDepth(depth);
        return NixAttrs.from([["success", false], ["value", false]]);
      }
      throw err;
    }
  });
  def("seq", 2, ([a, b]) => {
    force(a);
    return force(b);
  });
  def("deepSeq", 2, ([a, b]) => {
    forceDeep(a);
    return force(b);
  });
  def("trace", 2, ([m, v], _pos, state) => {
    const mv = force(m);
    state.traceSink(`trace: ${isString(mv) ? strValue(mv) : printValue(m, { trace: true })}`);
    return force(v);
  });
  def("traceVerbose", 2, ([, v]) => force(v));
  def("warn", 2, ([m, v], pos, state) => {
    const mv = force(m);
    if (!isString(mv)) throw new EvalError(`expected a string but found ${typeOf(mv)}`, pos);
    state.traceSink(`evaluation warning: ${strValue(mv)}`);
    if (state.options.abortOnWarn) throw new AbortError("aborting to reveal stack trace of warning, as abort-on-warn is set", pos);
    return force(v);
  });
  def("break", 1, ([v]) => force(v));
  def("addErrorContext", 2, ([ctx, v], pos, state) => {
    try {
      return force(v);
    } catch (err) {
      if (err instanceof EvalError) {
        try {
          err.addTrace(strValue(coerceToString(state, ctx, pos, AS_TEXT)));
        } catch (e2) {
          passFatal(e2);
          /* the context itself failed: keep the original error */
        }
      }
      throw err;
    }
  });
  def("typeOf", 1, ([v]) => typeOf(force(v)));
  def("isNull", 1, ([v]) => force(v) === null);
  def("isInt", 1, ([v]) => isInt(force(v)));
  def("isFloat", 1, ([v]) => force(v) instanceof NixFloat);
  def("isBool", 1, ([v]) => typeof force(v) === "boolean");
  def("isString", 1, ([v]) => isString(force(v)));
  def("isPath", 1, ([v]) => force(v) instanceof NixPath);
  def("isList", 1, ([v]) => Array.isArray(force(v)));
  def("isAttrs", 1, ([v]) => force(v) instanceof NixAttrs);
  def("isFunction", 1, ([v]) => isFunction(force(v)));
  def("functionArgs", 1, ([f], pos) => {
    const v = forceFunction(f, pos);
    if (v instanceof PrimOp || v instanceof PrimOpApp) return NixAttrs.empty;
    if (!(v instanceof Lambda)) return NixAttrs.empty;
    const formals = v.info.formals;
    if (!formals) return NixAttrs.empty;
    if (formals.args === null) {
      const at = new Map(formals.names.map((n, i) => [n, formals.positions[i]]));
      formals.args = NixAttrs.fromMap(new Map(formals.names.map((n, i) => [n, formals.defaults[i] !== null])), { get: (n) => at.get(n) });
    }
    return formals.args;
  });
  def("unsafeGetAttrPos", 2, ([n, s], pos) => {
    const name = forceString(n, pos);
    const attrs = forceAttrs(s, pos);
    const p = attrs.positions?.get(name);
    // positions in -E text have no file: Nix reports none
    if (!attrs.has(name) || !p || fileOf(p) === "") return null;
    return posToAttrs(p);
  });
  def("genericClosure", 1, ([args], pos) => {
    const a = forceAttrs(args, pos);
    const start = a.get("startSet");
    const op = a.get("operator");
    if (start === undefined) throw new EvalError("attribute 'startSet' missing", pos);
    if (op === undefined) throw new EvalError("attribute 'operator' missing", pos);
    const work = [...forceList(start, pos)];
    const opFn = force(op);
    const result: Lazy[] = [];
    // Seen keys, kept sorted: like Nix's std::set ordered by `<`, so keys
    // that cannot be compared (functions, mixed types) are an error.
    const keys: Value[] = [];
    const insertKey = (k: Value): boolean => {
      let lo = 0;
      let hi = keys.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (lessThan(keys[mid], k, pos)) lo = mid + 1;
        else hi = mid;
      }
      if (lo < keys.length && !lessThan(k, keys[lo], pos)) return false;
      keys.splice(lo, 0, k);
      return true;
    };
    for (let i = 0; i < work.length; i++) {
      const ea = forceAttrs(work[i], pos);
      work[i] = null; // let processed elements be collected
      const key = ea.get("key");
      if (key === undefined) throw new EvalError("attribute 'key' missing", pos);
      if (!insertKey(force(key))) continue;
      result.push(ea);
      for (const x of forceList(callFunction(opFn, ea, pos), pos)) work.push(x);
    }
    return result;
  });
}

export { Thunk };
