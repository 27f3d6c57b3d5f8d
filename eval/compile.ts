// The compiler: resolves every variable to (depth, slot) at compile time and
// turns the syntax tree into a tree of JS closures `(env) => Value`. Only
// `with` is resolved at run time (lexical bindings always win over `with`).
import { flattenCall, type AttrName, type Bindings, type Expr, type LambdaExpr, type Pos } from "./ast";
import { showExpr } from "./show";
import { explainInequality } from "./assert-eq";
import {
  Code, Env, newEnv, EvalError, Lambda, LambdaInfo, Lazy, LiteralPositions, NixAttrs, NixFloat, mkInt, NixPath, NixString, type Positions, PrimOp, Thunk, ThrownError, Value,
  force, forceAttrs, forceBool, showType, typeError, mkString, sortNames, allSimple, compareStrings, searchNames, ctxOf, strValue, isString,
} from "./value";
import { formatPos } from "./parser";
import { sourcePos } from "./positions";
import type { EvalState } from "./state";
import * as ops from "./operators";
import { call2, callFunction } from "./call";
import { coerceToString, AS_INTERPOLATED } from "./coerce";

/** A compile-time scope: the names of one Env's slots, or a `with`. */
export interface Scope {
  names: Map<string, number> | null; // null for a with-scope
  parent: Scope | null;
}

export type LazyCode = (env: Env) => Lazy;

export class Compiler {
  constructor(readonly state: EvalState) {}

  /** Compiles an expression with extra names (the REPL's bindings) in scope above the globals. */
  compileWithNames(e: Expr, globals: Map<string, number>, names: Map<string, number>): Code {
    return this.compile(e, { names, parent: { names: globals, parent: null } });
  }

  /**
   * Compiles a whole file/expression against the global scope. With
   * `lazyBodies`, for trees known to compile without errors, each lambda's
   * body is compiled on the lambda's first call.
   */
  compileTop(e: Expr, globals: Map<string, number>, extraWith = false, lazyBodies = false): Code {
    let scope: Scope = { names: globals, parent: null };
    if (extraWith) scope = { names: null, parent: scope };
    const prev = this.lazyBodies;
    this.lazyBodies = lazyBodies;
    try {
      return this.compile(e, scope);
    } finally {
      this.lazyBodies = prev;
    }
  }

  /** Whether lambda bodies compiled now wait for their first call (compileTop). */
  private lazyBodies = false;

  /** The (depth, slot) of a statically bound name, or null when it needs a `with` lookup. */
  resolveStatic(name: string, scope: Scope): { depth: number; idx: number } | null {
    let depth = 0;
    for (let s: Scope | null = scope; s; s = s.parent, depth++) {
      if (s.names === null) continue;
      const idx = s.names.get(name);
      if (idx !== undefined) return { depth, idx };
    }
    return null;
  }

  private resolve(name: string, scope: Scope, pos: Pos): LazyCode {
    let depth = 0;
    const withDepths: number[] = [];
    for (let s: Scope | null = scope; s; s = s.parent, depth++) {
      if (s.names === null) {
        withDepths.push(depth);
        continue;
      }
      const idx = s.names.get(name);
      if (idx !== undefined) return slotAccess(depth, idx);
    }
    if (withDepths.length === 0) throw new EvalError(`undefined variable '${name}'`, pos);
    return (env) => {
      for (const d of withDepths) {
        let e = env;
        for (let i = 0; i < d; i++) e = e[0];
        const attrs = forceAttrs(e[1], pos);
        const v = attrs.get(name);
        if (v !== undefined) return v;
      }
      throw new EvalError(`undefined variable '${name}'`, pos);
    };
  }

  /** Code giving a possibly unevaluated value, avoiding thunks where cheap. */
  lazy(e: Expr, scope: Scope): LazyCode {
    switch (e.kind) {
      case "int":
      case "float":
        return this.compile(e, scope); // constants need no thunk
      case "str":
        if (e.parts.length === 1 && typeof e.parts[0] === "string") return this.compile(e, scope);
        break;
      case "path": // a literal path is a value in Nix too (`~/` is resolved at run time here)
        if (e.parts.length === 1 && typeof e.parts[0] === "string" && !e.parts[0].startsWith("~/")) return this.compile(e, scope);
        break;
      case "list":
        if (e.elems.length === 0) return this.compile(e, scope); // an empty list is a value in Nix too
        break;
      case "var":
        // A statically bound variable is passed as the same lazy value (Nix's
        // pointer equality depends on it); a `with` lookup gets its own thunk
        // so that the `with` set is only forced when the value is needed.
        if (e.name !== "__curPos" && this.resolveStatic(e.name, scope)) return this.resolve(e.name, scope, e.pos);
        break;
    }
    const code = this.compile(e, scope);
    return (env) => new Thunk(code, env);
  }

  // The compile methods call these instead of mapping with an arrow that
  // uses `scope`: such an arrow puts `scope` into the V8 context that the
  // method's run-time closures share, and every closure would keep its
  // compile-time scope (and its names) alive.

  /** lazy() of each expression. */
  lazyAll(es: readonly Expr[], scope: Scope): LazyCode[] {
    const out: LazyCode[] = new Array(es.length);
    for (let i = 0; i < es.length; i++) out[i] = this.lazy(es[i], scope);
    return out;
  }

  private attrNames(path: readonly AttrName[], scope: Scope): (string | ((env: Env) => string | null))[] {
    const out: (string | ((env: Env) => string | null))[] = new Array(path.length);
    for (let i = 0; i < path.length; i++) out[i] = this.compileAttrName(path[i], scope);
    return out;
  }

  compile(e: Expr, scope: Scope): Code {
    switch (e.kind) {
      case "int": {
        const v = mkInt(e.value);
        return () => v;
      }
      case "float": {
        const v = new NixFloat(e.value);
        return () => v;
      }
      case "str":
        return this.compileString(e.parts, scope, e.pos);
      case "path":
        return this.compilePath(e.parts, e.baseDir, scope, e.pos);
      case "searchPath": {
        const state = this.state;
        const p = e.path;
        const pos = e.pos;
        return () => state.findSearchPath(p, pos);
      }
      case "var": {
        if (e.name === "__curPos") {
          const pos = e.pos;
          return () => posToAttrs(pos);
        }
        const r = this.resolveStatic(e.name, scope);
        if (r !== null) return forcedSlot(r.depth, r.idx);
        const get = this.resolve(e.name, scope, e.pos);
        return (env) => force(get(env));
      }
      case "select":
        return this.compileSelect(e.expr, e.path, e.default, scope, e.pos);
      case "hasAttr":
        return this.compileHasAttr(e.expr, e.path, scope);
      case "attrs":
        return e.rec ? this.compileRecAttrs(e.bindings, scope, e.pos) : this.compileAttrs(e.bindings, scope, e.pos);
      case "list": {
        const elems = this.lazyAll(e.elems, scope);
        if (elems.length === 0) return () => [];
        return (env) => elems.map((c) => c(env));
      }
      case "lambda":
        return this.compileLambda(e, scope);
      case "call": {
        const { fn: f, args } = flattenCall(e);
        const fn = this.compile(f, scope);
        const argCodes = this.lazyAll(args, scope);
        const pos = e.pos;
        if (argCodes.length === 1) {
          const a0 = argCodes[0];
          return (env) => callFunction(fn(env), a0(env), pos);
        }
        const n = argCodes.length;
        return (env) => {
          const f = fn(env);
          if (f instanceof PrimOp && f.arity === n) {
            // a builtin given all its arguments: no partial applications
            const args: Lazy[] = new Array(n);
            for (let i = 0; i < n; i++) args[i] = argCodes[i](env);
            return f.fn(args, pos, f.state);
          }
          let v = call2(f, argCodes[0](env), argCodes[1](env), pos);
          for (let i = 2; i < argCodes.length; i++) v = callFunction(v, argCodes[i](env), pos);
          return v;
        };
      }
      case "let": {
        const { slots, init } = this.compileRecBindings(e.bindings, scope, e.pos);
        const body = this.compile(e.body, slots.scope);
        const n = slots.count;
        return (env) => {
          const inner = newEnv(env, n);
          init(inner);
          return body(inner);
        };
      }
      case "with": {
        const attrs = this.lazy(e.env, scope);
        const body = this.compile(e.body, { names: null, parent: scope });
        return (env) => body([env, attrs(env)]);
      }
      case "if": {
        const cond = this.compile(e.cond, scope);
        const th = this.compile(e.then, scope);
        const el = this.compile(e.else, scope);
        const pos = e.cond.pos;
        return (env) => {
          const c = cond(env);
          if (c === true) return th(env);
          if (c === false) return el(env);
          throw branchConditionError(c, pos);
        };
      }
      case "assert": {
        const cond = this.compile(e.cond, scope);
        const body = this.compile(e.body, scope);
        const pos = e.pos;
        // `assert a == b`: on failure, say where a and b differ (as Nix 2.26)
        const eq = e.cond.kind === "binop" && e.cond.op === "==" ? [this.lazy(e.cond.left, scope), this.lazy(e.cond.right, scope)] : null;
        const failed = assertionFailure(eq, e.cond, pos);
        return (env) => {
          const c = cond(env);
          if (c === true) return body(env);
          throw failed(c, env);
        };
      }
      case "not": {
        const x = this.compile(e.expr, scope);
        const pos = e.pos;
        return (env) => {
          const v = x(env);
          if (typeof v !== "boolean") throw typeError("bool", v, pos);
          return !v;
        };
      }
      case "neg": {
        const x = this.compile(e.expr, scope);
        const pos = e.pos;
        return (env) => ops.sub(0, x(env), pos);
      }
      case "binop":
        return this.compileBinOp(e.op, e.left, e.right, scope, e.pos);
    }
  }

  private compileBinOp(op: string, l: Expr, r: Expr, scope: Scope, pos: Pos): Code {
    const a = this.compile(l, scope);
    const b = this.compile(r, scope);
    const state = this.state;
    switch (op) {
      case "+":
        return (env) => ops.add(state, a(env), b(env), pos);
      case "-":
        return (env) => ops.sub(a(env), b(env), pos);
      case "*":
        return (env) => ops.mul(a(env), b(env), pos);
      case "/":
        return (env) => ops.div(a(env), b(env), pos);
      case "++":
        return (env) => ops.concatLists(a(env), b(env), pos);
      case "//":
        return (env) => ops.update(a(env), b(env), pos);
      case "==":
        return (env) => ops.equals(a(env), b(env), pos);
      case "!=":
        return (env) => !ops.equals(a(env), b(env), pos);
      case "<":
        return (env) => ops.lessThan(a(env), b(env), pos);
      case ">": {
        return (env) => {
          const x = a(env);
          return ops.lessThan(b(env), x, pos);
        };
      }
      case "<=":
        return (env) => {
          const x = a(env);
          return !ops.lessThan(b(env), x, pos);
        };
      case ">=":
        return (env) => !ops.lessThan(a(env), b(env), pos);
      case "&&":
        return (env) => {
          const x = a(env);
          if (typeof x !== "boolean") throw logicOperandError(x, pos, "left", op);
          if (!x) return false;
          const y = b(env);
          if (typeof y !== "boolean") throw logicOperandError(y, pos, "right", op);
          return y;
        };
      case "||":
        return (env) => {
          const x = a(env);
          if (typeof x !== "boolean") throw logicOperandError(x, pos, "left", op);
          if (x) return true;
          const y = b(env);
          if (typeof y !== "boolean") throw logicOperandError(y, pos, "right", op);
          return y;
        };
      case "->":
        return (env) => {
          const x = a(env);
          if (typeof x !== "boolean") throw logicOperandError(x, pos, "left", op);
          if (!x) return true;
          const y = b(env);
          if (typeof y !== "boolean") throw logicOperandError(y, pos, "right", op);
          return y;
        };
    }
    throw new Error(`internal error: unknown operator ${op}`);
  }

  private compileString(parts: (string | Expr)[], scope: Scope, pos: Pos): Code {
    if (parts.length === 1 && typeof parts[0] === "string") {
      const v = parts[0];
      return () => v;
    }
    const state = this.state;
    const codes: (string | Code)[] = new Array(parts.length);
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      codes[i] = typeof p === "string" ? p : this.compile(p, scope);
    }
    return (env) => {
      let s = "";
      let ctx: Set<string> | null = null;
      for (let i = 0; i < codes.length; i++) {
        const c = codes[i];
        if (typeof c === "string") {
          s += c;
          continue;
        }
        const v = coerceToString(state, c(env), pos, AS_INTERPOLATED);
        if (typeof v === "string") s += v;
        else {
          s += v.s;
          if (v.ctx.size) {
            ctx ??= new Set();
            for (const x of v.ctx) ctx.add(x);
          }
        }
      }
      return ctx ? new NixString(s, ctx) : s;
    };
  }

  private compilePath(parts: (string | Expr)[], baseDir: string, scope: Scope, pos: Pos): Code {
    const state = this.state;
    if (parts.length === 1 && typeof parts[0] === "string") {
      const text = parts[0];
      if (text.startsWith("~/")) return () => new NixPath(state.resolvePath(text, baseDir, pos));
      const p = new NixPath(state.resolvePath(text, baseDir, pos));
      return () => p;
    }
    const str = this.compileString(parts, scope, pos);
    return (env) => {
      const v = str(env);
      if (isString(v) && ctxOf(v).size > 0) throw new EvalError("a string that refers to a store path cannot be appended to a path", pos);
      return new NixPath(state.resolvePath(strValue(v as string | NixString), baseDir, pos));
    };
  }

  /** Attribute names: static strings or code giving a string (or null to skip). */
  private compileAttrName(a: AttrName, scope: Scope): string | ((env: Env) => string | null) {
    if (a.kind === "static") return a.name;
    const c = this.compile(a.expr, scope);
    const state = this.state;
    const pos = a.pos;
    return (env) => {
      const v = c(env);
      if (v === null) return null;
      if (!isString(v)) throw typeError("string", v, pos).addTrace("while evaluating an attribute name", pos);
      void state;
      return strValue(v);
    };
  }

  private compileSelect(target: Expr, path: AttrName[], def: Expr | undefined, scope: Scope, pos: Pos): Code {
    const t = this.compile(target, scope);
    const names = this.attrNames(path, scope);
    const d = def ? this.compile(def, scope) : null;
    if (!d && names.length === 1 && typeof names[0] === "string") {
      // the most common case, `x.a`: one static name, no `or`
      const name = names[0];
      return (env) => {
        const v = t(env);
        if (!(v instanceof NixAttrs)) throw selectFromNonSet(v, pos);
        const next = v.get(name);
        if (next === undefined) throw missingAttr(name, v, pos);
        return next instanceof Thunk ? force(next) : next;
      };
    }
    return (env) => {
      let v: Value = t(env);
      for (let i = 0; i < names.length; i++) {
        const n = names[i];
        const name = typeof n === "string" ? n : n(env);
        if (!(v instanceof NixAttrs)) {
          if (d) return d(env);
          if (name === null) throw typeError("string", null, pos);
          throw typeError("set", v, pos).addTrace(`while selecting an attribute`, pos);
        }
        const next = name === null ? undefined : v.get(name);
        if (next === undefined) {
          if (d) return d(env);
          throw missingAttr(name ?? "", v, pos);
        }
        v = force(next);
      }
      return v;
    };
  }

  private compileHasAttr(target: Expr, path: AttrName[], scope: Scope): Code {
    const t = this.compile(target, scope);
    const names = this.attrNames(path, scope);
    return (env) => {
      let v: Value = t(env);
      for (let i = 0; i < names.length; i++) {
        if (!(v instanceof NixAttrs)) return false;
        const n = names[i];
        const name = typeof n === "string" ? n : n(env);
        const next = name === null ? undefined : v.get(name);
        if (next === undefined) return false;
        if (i < names.length - 1) v = force(next);
      }
      return true;
    };
  }

  /** The static attributes' positions, for their names sorted (`sorted`, sortNames' `simple`); kept apart from the syntax tree. */
  private positionsOf(b: Bindings, sorted: readonly string[], simple: boolean): Positions {
    const at: Pos[] = new Array(sorted.length);
    for (let i = 0; i < sorted.length; i++) at[i] = b.static.get(sorted[i])!.pos;
    return new LiteralPositions(sorted, at, simple, b.dynamic.length === 0);
  }

  private compileAttrs(b: Bindings, scope: Scope, pos: Pos): Code {
    const fromCodes = this.lazyAll(b.inheritFrom, scope);
    // names and codes in two arrays, sorted together: every set this literal
    // makes shares the names array. (No entry pairs, Map iterator or second
    // Map: files are compiled while this code is still cold, and most set
    // literals are small.)
    const names: string[] = new Array(b.static.size);
    const codes: (LazyCode | { from: number; name: string; pos: Pos })[] = new Array(names.length);
    let k = 0;
    for (const [name, bind] of b.static) {
      const v = bind.value;
      names[k] = name;
      if (v.kind === "expr") codes[k] = this.lazy(v.expr, scope);
      else if (v.kind === "inherit") codes[k] = this.lazy(v.expr, scope); // (from a `with`: looked up when needed, as in Nix)
      else codes[k] = { from: v.from, name: v.name, pos: v.pos };
      k++;
    }
    const dyn = this.compileDynamic(b, scope);
    // known once for every set this literal makes (update and lookups ask)
    const simple = allSimple(names);
    const simpleNames = simple ? 1 : 2;
    sortTogether(names, codes, simple);
    const positions = this.positionsOf(b, names, simple);
    return (env) => {
      const froms = fromCodes.length ? fromCodes.map((c) => c(env)) : null;
      const values: Lazy[] = new Array(codes.length);
      for (let i = 0; i < codes.length; i++) {
        const c = codes[i];
        values[i] = typeof c === "function" ? c(env) : selectThunk(froms![c.from], c.name, c.pos);
      }
      if (dyn) return withDynamic(names, simple, values, dyn, env, positions);
      const r = new NixAttrs(names, values, positions);
      r.simpleNames = simpleNames;
      return r;
    };
  }

  /** The dynamic attributes' name and value codes, in source order (null when there are none). */
  private compileDynamic(b: Bindings, scope: Scope): DynamicAttr[] | null {
    if (b.dynamic.length === 0) return null;
    const ds: DynamicAttr[] = [];
    for (const d of b.dynamic)
      ds.push({ name: this.compileAttrName({ kind: "dynamic", expr: d.name, pos: d.pos }, scope) as (env: Env) => string | null, value: this.lazy(d.value, scope), pos: d.pos });
    return ds;
  }

  /**
   * Slots and initialiser for rec sets and let: every static name gets a slot
   * in a new Env whose values are compiled in the new scope (inherit x: in
   * the outer one). With `mergeAt`, the bindings instead take the slots from
   * `mergeAt` on in the Env of `scope` itself (a lambda whose body is a let:
   * one Env per call instead of two); they shadow scope's names.
   */
  compileRecBindings(b: Bindings, scope: Scope, _pos: Pos, mergeAt?: number, rec = false) {
    const offset = mergeAt ?? 0;
    const names = new Map<string, number>(mergeAt === undefined ? [] : scope.names!);
    let count = 0;
    for (const name of b.static.keys()) names.set(name, offset + count++);
    const inner: Scope = { names, parent: mergeAt === undefined ? scope : scope.parent };
    const overridable = rec && b.static.has("__overrides");
    // `inherit (e)` sources may refer to bindings not initialised yet: thunks
    const fromCodes = b.inheritFrom.map((x) => {
      const c = this.compile(x, inner);
      return (env: Env): Lazy => new Thunk(c, env);
    });
    const inits: ((env: Env, froms: Lazy[] | null) => Lazy)[] = [];
    let index = 0;
    for (const [, bind] of b.static) {
      const v = bind.value;
      const myIndex = index++;
      if (v.kind === "expr") {
        // `a = b;` where b is a later sibling: b's slot is still empty, so
        // defer; an earlier sibling is aliased (the same value, as in Nix)
        const r = v.expr.kind === "var" ? this.resolveStatic(v.expr.name, inner) : null;
        // (with `__overrides` in a rec set a sibling's slot may still be
        // replaced: every value is a thunk of its own there, as in Nix)
        const later = overridable || (r !== null && r.depth === 0 && r.idx >= offset + myIndex);
        const code = later ? this.compile(v.expr, inner) : null;
        const c = this.lazy(v.expr, inner);
        inits.push(code ? (env) => new Thunk(code, env) : (env) => c(env));
      } else if (v.kind === "inherit") {
        const c = this.lazy(v.expr, scope); // (from a `with`: looked up when needed, as in Nix)
        inits.push(mergeAt === undefined ? (env) => c(env[0]) : (env) => c(env));
      } else {
        const { from, name, pos } = v;
        inits.push((_env, froms) => selectThunk(froms![from], name, pos));
      }
    }
    const init = (env: Env) => {
      const froms = fromCodes.length ? fromCodes.map((c) => c(env)) : null;
      for (let i = 0; i < inits.length; i++) env[offset + i + 1] = inits[i](env, froms);
    };
    return { slots: { scope: inner, count }, init, names };
  }

  private compileRecAttrs(b: Bindings, scope: Scope, pos: Pos): Code {
    const { slots, init, names } = this.compileRecBindings(b, scope, pos, undefined, true);
    const dyn = this.compileDynamic(b, slots.scope);
    const n = slots.count;
    const sorted = [...names.keys()];
    // known once for every set this literal makes (update and lookups ask)
    const simpleNames = sortNames(sorted) ? 1 : 2;
    const positions = this.positionsOf(b, sorted, simpleNames === 1);
    const envIndex = sorted.map((name) => names.get(name)! + 1);
    if (names.has("__overrides")) return this.withOverrides(names, sorted, envIndex, init, dyn, n, positions);
    return (env) => {
      const inner = newEnv(env, n);
      init(inner);
      const values: Lazy[] = new Array(sorted.length);
      for (let i = 0; i < sorted.length; i++) values[i] = inner[envIndex[i]];
      if (dyn) return withDynamic(sorted, simpleNames === 1, values, dyn, inner, positions);
      const r = new NixAttrs(sorted, values, positions);
      r.simpleNames = simpleNames;
      return r;
    };
  }

  /**
   * A rec set with an `__overrides` attribute (a legacy feature): that
   * attribute is forced when the set is made, and its attributes replace the
   * set's own, in the recursive scope too, or are added; dynamic attributes
   * come after. Nix then knows no attribute's position.
   */
  private withOverrides(names: Map<string, number>, sorted: string[], envIndex: number[], init: (env: Env) => void, dyn: ReturnType<Compiler["compileDynamic"]>, n: number, positions: Positions): Code {
    const at = names.get("__overrides")! + 1;
    return (env) => {
      const inner = newEnv(env, n);
      init(inner);
      const map = new Map<string, Lazy>();
      for (let i = 0; i < sorted.length; i++) map.set(sorted[i], inner[envIndex[i]]);
      let over: NixAttrs;
      try {
        over = forceAttrs(inner[at]);
      } catch (e) {
        if (e instanceof EvalError) e.addTrace("while evaluating the `__overrides` attribute");
        throw e;
      }
      for (let i = 0; i < over.names.length; i++) {
        const name = over.names[i];
        const slot = names.get(name);
        if (slot !== undefined) inner[slot + 1] = over.values[i];
        map.set(name, over.values[i]);
      }
      if (dyn) addDynamicToMap(dyn, inner, map, { get: (name) => (over.has(name) ? over.positions?.get(name) : positions.get(name)) });
      return NixAttrs.fromMap(map);
    };
  }

  private compileLambda(e: LambdaExpr, scope: Scope, flatScope?: Scope): Code {
    const names = new Map<string, number>();
    let info: LambdaInfo;
    if (e.formals) {
      for (const f of e.formals.entries) names.set(f.name, names.size);
      if (e.arg !== undefined) names.set(e.arg, names.size);
      const inner: Scope = { names, parent: scope };
      const defaults = e.formals.entries.map((f) => (f.default ? this.compile(f.default, inner) : null));
      const formalNames = e.formals.entries.map((f) => f.name);
      info = lambdaInfo(e, names.size, undefined, {
        names: formalNames,
        positions: e.formals.entries.map((f) => f.pos),
        defaults,
        ellipsis: e.formals.ellipsis,
        set: new Set(formalNames),
        order: allSimple(formalNames) ? formalNames.map((_, i) => i).sort((i, j) => (formalNames[i] < formalNames[j] ? -1 : 1)) : null,
        args: null,
      });
      this.compileLambdaBody(e, info, inner);
    } else if (flatScope) {
      // `y` of `x: y: body`: x's slots and y share one Env (see LambdaInfo.flat)
      const k = flatScope.names!.size;
      for (const [n, i] of flatScope.names!) names.set(n, i);
      names.set(e.arg!, k);
      info = lambdaInfo(e, k + 1, k, undefined);
      this.compileLambdaBody(e, info, { names, parent: flatScope.parent });
    } else {
      names.set(e.arg!, 0);
      info = lambdaInfo(e, 1, undefined, undefined);
      this.compileLambdaBody(e, info, { names, parent: scope });
    }
    this.lambdaInfos.set(e, info);
    return (env) => new Lambda(info, env);
  }

  /**
   * A lambda's body. A plain lambda right inside a plain one is compiled
   * flat into the same Env, and so are the bindings of a `let` body.
   */
  private compileLambdaBody(e: LambdaExpr, info: LambdaInfo, bodyScope: Scope): void {
    // (a body the parse cache has not decoded yet is not a lambda: its outline tells the rest)
    const o = e.outline;
    if (!this.lazyBodies || (o === undefined && e.body.kind === "lambda" && !e.body.formals && !e.formals)) return this.compileLambdaBodyNow(e, info, bodyScope);
    // compiled on the first call; the Env's size is needed before that (a
    // let body's bindings take the slots after the arguments)
    const slots = info.slots;
    if (o !== undefined) {
      if (o.let) info.slots += o.letSize;
    } else if (e.body.kind === "let") info.slots += e.body.bindings.static.size;
    info.body = (env) => {
      info.slots = slots;
      const prev = this.lazyBodies;
      this.lazyBodies = true; // lambdas inside wait for their own first call
      try {
        this.compileLambdaBodyNow(e, info, bodyScope);
      } finally {
        this.lazyBodies = prev;
      }
      return info.body(env);
    };
  }

  /** Compiles a lambda's body now (see compileLambdaBody). */
  private compileLambdaBodyNow(e: LambdaExpr, info: LambdaInfo, bodyScope: Scope): void {
    const body = e.body;
    if (body.kind === "lambda" && !body.formals && !e.formals) {
      info.body = this.compileLambda(body, bodyScope, bodyScope);
      info.inner = this.lambdaInfos.get(body);
    } else if (body.kind === "let") {
      const { slots, init } = this.compileRecBindings(body.bindings, bodyScope, body.pos, info.slots);
      const letBody = this.compile(body.body, slots.scope);
      info.slots += slots.count;
      info.body = (env) => {
        init(env);
        return letBody(env);
      };
      info.jit = { compiler: this, body: body.body, scope: slots.scope, init };
    } else {
      info.body = this.compile(body, bodyScope);
      info.jit = { compiler: this, body, scope: bodyScope, init: null };
    }
  }

  /** The LambdaInfo compiled for each lambda expression (for LambdaInfo.inner and the JIT). */
  readonly lambdaInfos = new WeakMap<LambdaExpr, LambdaInfo>();
}

/**
 * Sorts distinct names into Nix's order, each value moving with its name
 * (`simple`: allSimple(names), so that JS's `<` is that order).
 */
function sortTogether<T>(names: string[], values: T[], simple: boolean): void {
  const n = names.length;
  if (n <= 16) {
    // insertion sort: most set literals are small
    for (let i = 1; i < n; i++) {
      const name = names[i];
      const value = values[i];
      let j = i - 1;
      for (; j >= 0 && (simple ? names[j] > name : compareStrings(names[j], name) > 0); j--) {
        names[j + 1] = names[j];
        values[j + 1] = values[j];
      }
      names[j + 1] = name;
      values[j + 1] = value;
    }
    return;
  }
  // a big one: the native sort, then each value found again by its name
  const byName = new Map<string, T>();
  for (let i = 0; i < n; i++) byName.set(names[i], values[i]);
  names.sort(simple ? undefined : compareStrings);
  for (let i = 0; i < n; i++) values[i] = byName.get(names[i])!;
}

/** A lambda's compile-time information, every field present (one object shape for all of them). */
function lambdaInfo(e: LambdaExpr, slots: number, flat: number | undefined, formals: LambdaInfo["formals"]): LambdaInfo {
  return { name: e.name, arg: e.arg, formals, body: null as unknown as Code, pos: e.pos, slots, inner: undefined, flat, calls: 0, jit: null };
}

/** A dynamic attribute of a set literal (`${e} = v;`): the codes of its name and value. */
interface DynamicAttr {
  name: (env: Env) => string | null;
  value: LazyCode;
  pos: Pos;
}

function duplicateDynamic(name: string, other: Pos | null | undefined, pos: Pos): EvalError {
  return new EvalError(`dynamic attribute '${name}' already defined at ${other === undefined || other === null ? "«none»:0" : formatPos(other)}`, pos);
}

/**
 * A set literal's static attributes (sorted `names`, their `values`) plus
 * its dynamic ones, evaluated in source order (a name already there is an
 * error that shows where it was defined). The few added names are merged
 * into the sorted arrays directly: `{ ${name} = value; }` is common (the
 * module system makes one for every option definition).
 */
function withDynamic(names: readonly string[], simple: boolean, values: Lazy[], ds: DynamicAttr[], env: Env, positions: Positions): NixAttrs {
  let an: string[] | null = null;
  let av: Lazy[] = [];
  let ap: Pos[] = [];
  for (let i = 0; i < ds.length; i++) {
    const d = ds[i];
    const name = d.name(env);
    if (name === null) continue;
    const j = searchNames(names, name, 0);
    if (names[j] === name) throw duplicateDynamic(name, positions.get(name), d.pos);
    if (an === null) {
      an = [name];
      av = [d.value(env)];
      ap = [d.pos];
      continue;
    }
    const k = an.indexOf(name);
    if (k >= 0) throw duplicateDynamic(name, ap[k], d.pos);
    an.push(name);
    av.push(d.value(env));
    ap.push(d.pos);
  }
  if (an === null) {
    const r = new NixAttrs(names, values, positions);
    r.simpleNames = simple ? 1 : 2;
    return r;
  }
  const dynamicPositions = new DynamicPositions(positions, an.slice(), ap, positions.exactCount === names.length ? names.length + an.length : undefined);
  // the added names sorted with their values, then merged with the static ones (as `//` merges; no name is on both sides)
  const addedSimple = allSimple(an);
  sortTogether(an, av, addedSimple);
  const [rn, rv] = ops.mergeSorted(names, values, an, av, simple && addedSimple);
  const r = new NixAttrs(rn, rv, dynamicPositions);
  r.simpleNames = simple && addedSimple ? 1 : 2;
  return r;
}

/** The positions of a set literal with dynamic attributes: the static ones', then those of the names added. */
class DynamicPositions implements Positions {
  constructor(
    private readonly base: Positions,
    private readonly names: readonly string[],
    private readonly at: readonly Pos[],
    readonly exactCount: number | undefined,
  ) {}

  get(name: string): Pos | undefined {
    const i = this.names.indexOf(name);
    return i >= 0 ? this.at[i] : this.base.get(name);
  }
}

/** Adds the dynamic attributes to `map` (a set being made from a Map); a name already there is an error that shows where it was defined. */
function addDynamicToMap(ds: DynamicAttr[], env: Env, map: Map<string, Lazy>, positions: Positions): void {
  const added: string[] = [];
  for (let i = 0; i < ds.length; i++) {
    const d = ds[i];
    const name = d.name(env);
    if (name === null) continue;
    if (map.has(name)) {
      const j = added.indexOf(name);
      throw duplicateDynamic(name, j >= 0 ? ds[j].pos : positions.get(name), d.pos);
    }
    added[i] = name;
    map.set(name, d.value(env));
  }
}

// Variable reads are the commonest node: one closure per (depth, slot) serves
// them all, instead of one made for each occurrence.
const forcedSlots: Code[][] = [];
const slotAccesses: LazyCode[][] = [];
const SHARED_DEPTHS = 16;
const SHARED_SLOTS = 256;

function forcedSlot(depth: number, slot: number): Code {
  if (depth >= SHARED_DEPTHS || slot >= SHARED_SLOTS) return makeForcedSlot(depth, slot);
  const row = (forcedSlots[depth] ??= []);
  return (row[slot] ??= makeForcedSlot(depth, slot));
}

function slotAccess(depth: number, slot: number): LazyCode {
  if (depth >= SHARED_DEPTHS || slot >= SHARED_SLOTS) return makeSlotAccess(depth, slot);
  const row = (slotAccesses[depth] ??= []);
  return (row[slot] ??= makeSlotAccess(depth, slot));
}

/** A variable's value, forced: one closure (the most common node, so no call to slotAccess's). */
function makeForcedSlot(depth: number, slot: number): Code {
  const idx = slot + 1;
  switch (depth) {
    case 0:
      return (env) => {
        const v = env[idx];
        return v instanceof Thunk ? force(v) : v;
      };
    case 1:
      return (env) => {
        const v = env[0][idx];
        return v instanceof Thunk ? force(v) : v;
      };
    case 2:
      return (env) => {
        const v = env[0][0][idx];
        return v instanceof Thunk ? force(v) : v;
      };
    default:
      return (env) => {
        let e = env;
        for (let i = 0; i < depth; i++) e = e[0];
        const v = e[idx];
        return v instanceof Thunk ? force(v) : v;
      };
  }
}

function makeSlotAccess(depth: number, slot: number): LazyCode {
  const idx = slot + 1; // slot 0 of an Env is its parent
  switch (depth) {
    case 0:
      return (env) => env[idx];
    case 1:
      return (env) => env[0][idx];
    case 2:
      return (env) => env[0][0][idx];
    default:
      return (env) => {
        let e = env;
        for (let i = 0; i < depth; i++) e = e[0];
        return e[idx];
      };
  }
}

function selectThunk(from: Lazy, name: string, pos: Pos): Lazy {
  // one shared code over a small array, not a closure per attribute
  return new Thunk(selectFrom, [from, name, pos] as unknown as Env);
}

/** `inherit (from) name`'s value: env is [from, name, pos] (selectThunk). */
function selectFrom(env: Env): Value {
  const [from, name, pos] = env as unknown as [Lazy, string, Pos];
  const a = forceAttrs(from, pos);
  const v = a.get(name);
  if (v === undefined) throw missingAttr(name, a, pos);
  return force(v);
}

/** The error of an `if` whose condition is not a Boolean. */
export function branchConditionError(c: Value, pos: Pos): EvalError {
  return typeError("bool", c, pos).addTrace("while evaluating a branch condition", pos);
}

const LOGIC_NAMES: Record<string, string> = { "&&": "AND (&&)", "||": "OR (||)", "->": "IMPL (->)" };
/** The error of a non-Boolean operand of `&&`, `||` or `->`. */
export function logicOperandError(v: Value, pos: Pos, side: "left" | "right", op: string): EvalError {
  return typeError("bool", v, pos).addTrace(`in the ${side} operand of the ${LOGIC_NAMES[op]} operator`, pos);
}

/** The error of `v.name` where v is not a set. */
export function selectFromNonSet(v: Value, pos: Pos): EvalError {
  return typeError("set", v, pos).addTrace(`while selecting an attribute`, pos);
}

/**
 * What a failed `assert cond` throws, given the condition's value `c` (not
 * true): for `assert a == b` Nix 2.26 explains where a and b differ (`eq`
 * holds their lazy codes). The condition's text is printed only then.
 */
export function assertionFailure(eq: LazyCode[] | null, cond: Expr, pos: Pos): (c: Value, env: Env) => EvalError {
  return (c, env) => {
    if (c !== false) return typeError("bool", c, pos);
    const text = showExpr(cond);
    if (eq) {
      try {
        explainInequality(eq[0](env), eq[1](env), pos);
      } catch (err) {
        if (err instanceof EvalError) err.addTrace(`while evaluating the condition of the assertion '${text}'`, pos);
        throw err;
      }
    }
    return new ThrownError(`assertion '${text}' failed`, pos);
  };
}

export function missingAttr(name: string, attrs: NixAttrs, pos: Pos | null): EvalError {
  const names = attrs.keys();
  const similar = names.filter((n) => levenshtein(n, name) <= 2).slice(0, 5);
  const err = new EvalError(`attribute '${name}' missing`, pos);
  if (similar.length)
    err.hint = `Did you mean ${similar.length === 1 ? similar[0] : "one of " + similar.slice(0, -1).join(", ") + " or " + similar[similar.length - 1]}?`;
  return err;
}

function levenshtein(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const d: number[] = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length];
}

export function posToAttrs(p: Pos): NixAttrs {
  const pos = sourcePos(p);
  return NixAttrs.from([
    ["column", pos.column],
    ["file", pos.file],
    ["line", pos.line],
  ]);
}

export { forceBool, showType, mkString };
