// Function application: lambdas (plain and with formals), builtins with
// partial application, and attribute sets with __functor.
import type { Pos } from "./ast";
import { JIT_AT, jitCompile } from "./jit";
import { Env, newEnv, EvalError, Lambda, type LambdaInfo, Lazy, NixAttrs, NixFloat, PrimOp, PrimOpApp, Thunk, Value, force, showType, searchSimpleNames, slotThunk, elemLazy, settleElement, isPending, type ElementSource } from "./value";

function lambdaName(l: Lambda): string {
  return `'${l.info.name ?? "anonymous lambda"}'`;
}

// Nix's max-call-depth: unbounded recursion fails fast with a clear error
// instead of filling the worker's 1 GB stack. Deep but finite recursion
// (100,000 levels and more) stays well below the default.
//
// The depth goes up on entering a Lambda and down on returning from it; an
// error leaves it where it was when thrown (no try/finally on the hottest
// path), so whatever catches an evaluation error and goes on evaluating
// (tryEval, the REPL, an evaluation's start) puts back the depth it saw
// before (callDepthNow/restoreCallDepth).
let callDepth = 0;
let maxCallDepth = 250_000;
export function setMaxCallDepth(n: number): void {
  maxCallDepth = n;
}
export function callDepthNow(): number {
  return callDepth;
}
export function restoreCallDepth(d: number): void {
  callDepth = d;
}

function tooDeep(pos: Pos | null): EvalError {
  callDepth = 0; // the error unwinds everything
  return new EvalError("stack overflow; max-call-depth exceeded", pos);
}

export function callFunction(fn: Value, arg: Lazy, pos: Pos | null): Value {
  if (fn instanceof Lambda) {
    if (++callDepth > maxCallDepth) throw tooDeep(pos);
    const r = callLambda(fn, arg, pos);
    callDepth--;
    return r;
  }
  return callOther(fn, arg, pos);
}

/**
 * `fn a b`. For `x: y: body` it binds both arguments without making the
 * intermediate closure (foldl', sort and two-argument calls are common).
 */
export function call2(fn: Value, a: Lazy, b: Lazy, pos: Pos | null): Value {
  if (fn instanceof Lambda) {
    const inner = fn.info.inner;
    if (inner !== undefined && fn.info.formals === undefined) {
      if (++inner.calls === JIT_AT) jitCompile(inner);
      if ((callDepth += 2) > maxCallDepth) throw tooDeep(pos);
      // the inner lambda is flat: one Env holds fn's slots, a and b
      const k = fn.info.flat;
      let r: Value;
      if (k === undefined && inner.slots === 2) r = inner.body([fn.env, a, b]);
      else {
        const env = calleeEnv(fn, inner.slots);
        const at = (k ?? 0) + 1;
        env[at] = a;
        env[at + 1] = b;
        r = inner.body(env);
      }
      callDepth -= 2;
      return r;
    }
  }
  if (fn instanceof PrimOp && fn.arity === 2) return fn.fn([a, b], pos, fn.state);
  return callFunction(callFunction(fn, a, pos), b, pos);
}

/**
 * A fresh Env of `slots` slots for code called through the closure `fn`: under
 * fn's Env, or, when fn is flat, continuing it (its parent and its `flat`
 * copied slots come first).
 */
function calleeEnv(fn: Lambda, slots: number): Env {
  const k = fn.info.flat;
  if (k === undefined) return newEnv(fn.env, slots);
  const outer = fn.env;
  const env = newEnv(null, slots);
  for (let i = 0; i <= k; i++) env[i] = outer[i];
  return env;
}

// small, so that V8 inlines it into its callers; pattern lambdas take the long way
function callLambda(fn: Lambda, arg: Lazy, pos: Pos | null): Value {
  const info = fn.info;
  if (++info.calls === JIT_AT) jitCompile(info);
  if (info.formals !== undefined) return callWithFormals(fn, info, arg, pos);
  if (info.flat === undefined && info.slots === 1) return info.body([fn.env, arg]);
  const env = calleeEnv(fn, info.slots); // a let body's slots follow the argument
  env[(info.flat ?? 0) + 1] = arg;
  return info.body(env);
}

function callWithFormals(fn: Lambda, info: LambdaInfo, arg: Lazy, pos: Pos | null): Value {
  const formals = info.formals!;
  const attrs = force(arg);
  if (!(attrs instanceof NixAttrs))
    throw new EvalError(`expected a set but found ${showType(attrs)}`, pos).addTrace(`while calling the function ${lambdaName(fn)}`, info.pos);
  const env = newEnv(fn.env, info.slots);
  const names = formals.names;
  let used = 0;
  // a big set with sorted formals: find them in one pass over the set's names
  // (attrs.get would build a Map index of each such set)
  const order = attrs.names.length > 8 && attrs.namesAreSimple() ? formals.order : null;
  const an = attrs.names;
  let from = 0;
  for (let j = 0; j < names.length; j++) {
    let i = j;
    let v: Lazy | undefined;
    if (order === null) v = attrs.get(names[i]);
    else {
      i = order[j];
      from = searchSimpleNames(an, names[i], from);
      if (from < an.length && an[from] === names[i]) v = attrs.values[from++];
    }
    if (v !== undefined) {
      env[i + 1] = v;
      used++;
    } else {
      const d = formals.defaults[i];
      if (d === null) missingArgument(fn, attrs, pos);
      env[i + 1] = new Thunk(d, env);
    }
  }
  if (!formals.ellipsis && used < attrs.size) {
    for (const k of attrs.keys()) {
      if (!formals.set.has(k)) throw new EvalError(`function ${lambdaName(fn)} called with unexpected argument '${k}'`, pos);
    }
  }
  if (info.arg !== undefined) env[names.length + 1] = attrs;
  return info.body(env);
}

/** The error for the first required formal (in the order written) that attrs lacks. */
function missingArgument(fn: Lambda, attrs: NixAttrs, pos: Pos | null): never {
  const { names, defaults } = fn.info.formals!;
  for (let i = 0; i < names.length; i++) {
    if (defaults[i] === null && !attrs.has(names[i]))
      throw new EvalError(`function ${lambdaName(fn)} called without required argument '${names[i]}'`, pos).addTrace(`from call site`, pos);
  }
  throw new Error("internal error: no missing argument");
}

function callOther(fn: Value, arg: Lazy, pos: Pos | null): Value {
  if (fn instanceof PrimOp) {
    if (fn.arity === 1) return fn.fn([arg], pos, fn.state);
    return new PrimOpApp(fn, [arg]);
  }
  if (fn instanceof PrimOpApp) {
    const prev = fn.args;
    const args: Lazy[] = new Array(prev.length + 1);
    for (let i = 0; i < prev.length; i++) args[i] = prev[i];
    args[prev.length] = arg;
    if (args.length === fn.op.arity) return fn.op.fn(args, pos, fn.op.state);
    return new PrimOpApp(fn.op, args);
  }
  if (fn instanceof NixAttrs) {
    const functor = fn.get("__functor");
    if (functor !== undefined) return callFunction(callFunction(force(functor), fn, pos), arg, pos);
  }
  throw new EvalError(`attempt to call something which is not a function but ${showType(fn)}${briefValue(fn)}`, pos);
}

function briefValue(v: Value): string {
  if (typeof v === "string") return `: "${v.length > 40 ? v.slice(0, 40) + "..." : v}"`;
  if (typeof v === "bigint" || typeof v === "number" || typeof v === "boolean") return `: ${v}`;
  if (v instanceof NixFloat) return `: ${v.v}`;
  return "";
}

/** What the `fn x` thunks of one map/genList call share. */
export interface CallSite {
  fn: Value;
  pos: Pos | null;
}

// The call site is the thunk's env and the argument waits in its value slot,
// so each list element costs one plain Thunk (these lists can have millions
// of elements, and every object that survives a scavenge is copied).
const applyCode = (site: Env, self?: Thunk): Value => {
  const s = site as unknown as CallSite;
  return callFunction(s.fn, self!.value, s.pos);
};

/**
 * Thunks of function applications made by builtins (map, genList, mapAttrs,
 * zipAttrsWith): Nix makes these "function application" values, which is
 * what `--json` names when it meets one unevaluated.
 */
const applicationCodes = new WeakSet<object>();
export function isApplication(v: Lazy): boolean {
  return v instanceof Thunk && v.code !== null && (applicationCodes.has(v.code) || isPending(v));
}

/** What the thunks of one mapAttrs call share: value i is `fn names[i] values[i]`. */
interface MapAttrsSource {
  fn: Lazy;
  pos: Pos | null;
  names: readonly string[];
  values: readonly Lazy[];
}
const mapAttrsCode = (src: Env, self?: Thunk): Value => {
  const s = src as unknown as MapAttrsSource;
  const i = self!.value as number;
  return call2(force(s.fn), s.names[i], s.values[i], s.pos);
};
/** The thunk of `fn names[i] values[i]` (mapAttrs; fn is forced only when a value is). */
export function mapAttrsThunk(src: MapAttrsSource, i: number): Thunk {
  return slotThunk(mapAttrsCode, src, i);
}

/** What a zipAttrsWith value applies: `fn name values`. */
interface ZipSource {
  fn: Value;
  pos: Pos | null;
  name: string;
  vs: Lazy[];
}
const zipCode = (src: Env): Value => {
  const s = src as unknown as ZipSource;
  return callFunction(callFunction(s.fn, s.name, s.pos), s.vs, s.pos);
};
export function zipThunk(src: ZipSource): Thunk {
  return new Thunk(zipCode, src as unknown as Env);
}

/** The source of a lazy list whose element i is `fn i` (genList). */
export function indexCallSource(fn: Value, pos: Pos | null): CallSite & ElementSource {
  return { fn, pos, code: applyCode };
}

/** The source of a lazy list whose element i is `fn xs[i]` (map). */
interface MapSource extends CallSite, ElementSource {
  xs: Lazy[];
}
const mapElementCode = (src: Env, self?: Thunk): Value => {
  const s = src as unknown as MapSource;
  const i = self!.value as number;
  const x = elemLazy(s.xs, i);
  const r = callFunction(s.fn, x, s.pos);
  settleElement(s.xs, i, x);
  return r;
};
export function mapSource(fn: Value, xs: Lazy[], pos: Pos | null): MapSource {
  return { fn, pos, xs, code: mapElementCode };
}

/** A thunk of `site.fn arg`. */
export function applyThunk(site: CallSite, arg: Lazy): Thunk {
  return slotThunk(applyCode, site, arg);
}

/** Calls fn with several arguments in turn. */
export function callN(fn: Value, ...args: Lazy[]): Value {
  let v = fn;
  for (const a of args) v = callFunction(v, a, null);
  return v;
}

for (const c of [applyCode, mapElementCode, mapAttrsCode, zipCode]) applicationCodes.add(c);
