// A second tier for hot lambdas: after JIT_AT calls, a lambda's body is
// compiled again, to the source of one JavaScript function (new Function),
// which V8 then optimises like any other code.
//
// Why: the first tier (compile.ts) turns every node into a closure, and the
// closures of one kind share their code, so in a real program every call
// site inside them sees many targets and V8 cannot inline across nodes: a
// loop body of twenty nodes is twenty indirect calls per iteration. The
// function made here reads variables, tests ints and Booleans and branches
// inline, in code of its own with monomorphic call sites.
//
// It covers the nodes that dominate hot loops (variables, constants,
// arithmetic and comparisons, Boolean operators, if, calls, `e.name`,
// `let`). Every other node, and every lazily passed argument, is handed to
// closures the first tier compiles for it, so the two tiers run the very
// same code for everything that is not inlined here, and the inlined paths
// call the same operator functions and error helpers as the closures do:
// results, errors, positions and traces are identical (the conformance
// corpus and the tests run with TVIX_JIT_AT=1 check this).
import type { Expr, Pos } from "./ast";
import { flattenCall } from "./ast";
import * as ops from "./operators";
import { call2, callFunction } from "./call";
import {
  type Compiler, type Scope, branchConditionError, logicOperandError, selectFromNonSet, missingAttr, assertionFailure,
} from "./compile";
import { Code, Env, Lambda, LambdaInfo, NixAttrs, PrimOp, Thunk, force, newEnv, typeError } from "./value";
import { passFatal } from "./limits";
import { sourcePos } from "./positions";

/** What a lambda's body is compiled from: its expression, its scope and, for a `let` body, the bindings' initialiser. */
export interface JitSource {
  compiler: Compiler;
  body: Expr;
  scope: Scope;
  init: ((env: Env) => void) | null;
}

/** Calls after which a lambda's body is compiled (TVIX_JIT_AT; 0 turns the second tier off). */
export let JIT_AT = process.env.TVIX_JIT_AT === undefined ? 400 : Number(process.env.TVIX_JIT_AT);
/** Sets JIT_AT (for tests; lambdas already past the new count stay as they are). */
export function setJitAt(n: number): void {
  JIT_AT = n;
}

/** Compiles info's body to JavaScript and installs it; leaves the closures where that fails. */
export function jitCompile(info: LambdaInfo): void {
  const src = info.jit;
  info.jit = null;
  if (src === null) return;
  try {
    info.body = new FunctionBuilder(src).build(info);
  } catch (e) {
    passFatal(e);
    if (process.env.TVIX_DEBUG) process.stderr.write(`tvix: jit: ${(e as Error).message}\n`);
  }
}

// What generated code refers to by name (the parameters of its factory);
// made on first use (the modules it names import this one).
let helperNames: string[] = [];
let helperValues: unknown[] = [];
function helpers(): void {
  if (helperNames.length) return;
  const h: Record<string, unknown> = {
    Thunk, NixAttrs, PrimOp, Lambda, force, newEnv, typeError, callFunction, call2,
    add: ops.add, sub: ops.sub, mul: ops.mul, div: ops.div, lessThan: ops.lessThan, equals: ops.equals,
    concatLists: ops.concatLists, update: ops.update,
    branchConditionError, logicOperandError, selectFromNonSet, missingAttr,
  };
  helperNames = Object.keys(h);
  helperValues = helperNames.map((k) => h[k]);
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

class FunctionBuilder {
  private lines: string[] = [];
  private readonly consts: unknown[] = [];
  private temps = 0;
  /** The functions of lazily passed expressions (thunk code), defined next to the body's. */
  private readonly functions: string[] = [];
  private readonly compiler: Compiler;

  constructor(private readonly src: JitSource) {
    this.compiler = src.compiler;
  }

  build(info: LambdaInfo): Code {
    const { body, scope, init } = this.src;
    if (init !== null) this.emit(`${this.k(init)}(env);`);
    const r = this.value(body, scope, "env");
    this.emit(`return ${r};`);
    // named by line where someone looks (a dump, a profile): a line number
    // means reading the file and finding its lines, which a tree from the
    // parse cache otherwise never needs
    const debug = process.env.TVIX_JIT_DUMP || process.env.TVIX_CPU_PROFILE;
    const name = `nix_${(info.name ?? "lambda").replace(/[^A-Za-z0-9_]/g, "_")}_${debug ? sourcePos(info.pos).line : info.pos}`;
    const constNames = this.consts.map((_, i) => `k${i}`);
    const source = `"use strict";\n${this.functions.join("\n")}\nreturn function ${name}(env) {\n${this.lines.join("\n")}\n};`;
    helpers();
    if (process.env.TVIX_JIT_DUMP) process.stderr.write(source + "\n");
    const factory = new Function(...helperNames, ...constNames, source);
    return factory(...helperValues, ...this.consts) as Code;
  }

  private emit(line: string): void {
    this.lines.push(line);
  }

  /** A constant the generated code refers to. */
  private k(v: unknown): string {
    this.consts.push(v);
    return `k${this.consts.length - 1}`;
  }

  private temp(): string {
    return `t${this.temps++}`;
  }

  /** x as a name (a literal is given one), for code that refers to it as an object. */
  private named(x: string): string {
    if (/^[A-Za-z_$][\w$]*$/.test(x)) return x;
    const t = this.temp();
    this.emit(`const ${t} = ${x};`);
    return t;
  }

  /** JS for the Env holding `depth` scopes above the one of `envVar`. */
  private envAt(envVar: string, depth: number): string {
    return envVar + "[0]".repeat(depth);
  }

  /** A first-tier closure for e (run with the current Env). */
  private delegate(e: Expr, scope: Scope, envVar: string): string {
    const t = this.temp();
    this.emit(`const ${t} = ${this.k(this.compiler.compile(e, scope))}(${envVar});`);
    return t;
  }

  /** Code that evaluates e and names its value (forced), as compile(e) would compute it. */
  private value(e: Expr, scope: Scope, envVar: string): string {
    switch (e.kind) {
      case "int":
      case "float":
        return this.constant(e, scope);
      case "str":
        if (e.parts.length === 1 && typeof e.parts[0] === "string") return this.constant(e, scope);
        return this.delegate(e, scope, envVar);
      case "var": {
        const r = e.name === "__curPos" ? null : this.compiler.resolveStatic(e.name, scope);
        if (r === null) return this.delegate(e, scope, envVar);
        const t = this.temp();
        this.emit(`let ${t} = ${this.envAt(envVar, r.depth)}[${r.idx + 1}];`);
        this.emit(`if (${t} instanceof Thunk) ${t} = force(${t});`);
        return t;
      }
      case "binop":
        return this.binop(e.op, e.left, e.right, scope, envVar, e.pos);
      case "not": {
        const x = this.value(e.expr, scope, envVar);
        const p = this.k(e.pos);
        const t = this.temp();
        this.emit(`if (typeof ${x} !== "boolean") throw typeError("bool", ${x}, ${p});`);
        this.emit(`const ${t} = !${x};`);
        return t;
      }
      case "neg": {
        const x = this.value(e.expr, scope, envVar);
        const t = this.temp();
        this.emit(`const ${t} = typeof ${x} === "number" ? 0 - ${x} : sub(0, ${x}, ${this.k(e.pos)});`);
        return t;
      }
      case "if": {
        const c = this.value(e.cond, scope, envVar);
        const t = this.temp();
        this.emit(`let ${t};`);
        this.emit(`if (${c} === true) {`);
        this.emit(`${t} = ${this.value(e.then, scope, envVar)};`);
        this.emit(`} else if (${c} === false) {`);
        this.emit(`${t} = ${this.value(e.else, scope, envVar)};`);
        this.emit(`} else throw branchConditionError(${c}, ${this.k(e.cond.pos)});`);
        return t;
      }
      case "assert": {
        const c = this.value(e.cond, scope, envVar);
        const eq = e.cond.kind === "binop" && e.cond.op === "==" ? [this.compiler.lazy(e.cond.left, scope), this.compiler.lazy(e.cond.right, scope)] : null;
        const failed = this.k(assertionFailure(eq, e.cond, e.pos));
        this.emit(`if (${c} !== true) throw ${failed}(${c}, ${envVar});`);
        return this.value(e.body, scope, envVar);
      }
      case "call":
        return this.call(e, scope, envVar);
      case "select": {
        const a = e.path[0];
        if (e.default !== undefined || e.path.length !== 1 || a.kind !== "static") return this.delegate(e, scope, envVar);
        const v = this.named(this.value(e.expr, scope, envVar));
        const p = this.k(e.pos);
        const n = JSON.stringify(a.name);
        const t = this.temp();
        this.emit(`if (!(${v} instanceof NixAttrs)) throw selectFromNonSet(${v}, ${p});`);
        this.emit(`let ${t} = ${v}.get(${n});`);
        this.emit(`if (${t} === undefined) throw missingAttr(${n}, ${v}, ${p});`);
        this.emit(`if (${t} instanceof Thunk) ${t} = force(${t});`);
        return t;
      }
      case "let": {
        const { slots, init } = this.compiler.compileRecBindings(e.bindings, scope, e.pos);
        const inner = this.temp();
        this.emit(`const ${inner} = newEnv(${envVar}, ${slots.count});`);
        this.emit(`${this.k(init)}(${inner});`);
        return this.value(e.body, slots.scope, inner);
      }
      case "lambda": {
        const info = this.compiler.lambdaInfos.get(e);
        if (info === undefined) return this.delegate(e, scope, envVar);
        const t = this.temp();
        this.emit(`const ${t} = new Lambda(${this.k(info)}, ${envVar});`);
        return t;
      }
      default:
        return this.delegate(e, scope, envVar);
    }
  }

  /** Code that names e's lazy value (a slot, a constant or a new thunk), as compile.lazy(e) would make it. */
  private lazy(e: Expr, scope: Scope, envVar: string): string {
    switch (e.kind) {
      case "int":
      case "float":
      case "str":
      case "path": {
        const plain = e.kind === "int" || e.kind === "float" || (e.parts.length === 1 && typeof e.parts[0] === "string" && !(e.kind === "path" && e.parts[0].startsWith("~/")));
        if (plain) return this.constant(e, scope);
        break;
      }
      case "var": {
        const r = e.name === "__curPos" ? null : this.compiler.resolveStatic(e.name, scope);
        if (r !== null) return `${this.envAt(envVar, r.depth)}[${r.idx + 1}]`;
        break;
      }
    }
    return `new Thunk(${this.thunkFunction(e, scope)}, ${envVar})`;
  }

  /** The name of a function that evaluates e (in its own Env): the code of e's thunks. */
  private thunkFunction(e: Expr, scope: Scope): string {
    const outer = this.lines;
    this.lines = [];
    const r = this.value(e, scope, "env");
    const name = `th${this.functions.length}`;
    this.functions.push(`function ${name}(env) {\n${this.lines.join("\n")}\nreturn ${r};\n}`);
    this.lines = outer;
    return name;
  }

  /** A literal's value (numbers and strings inline, others as constants). */
  private constant(e: Expr, scope: Scope): string {
    if (e.kind === "int" && e.value >= -BigInt(MAX_SAFE) && e.value <= BigInt(MAX_SAFE)) return String(Number(e.value));
    if (e.kind === "str" && e.parts.length === 1 && typeof e.parts[0] === "string") return JSON.stringify(e.parts[0]);
    return this.k(this.compiler.compile(e, scope)(null as unknown as Env));
  }

  private call(e: Expr & { kind: "call" }, scope: Scope, envVar: string): string {
    const { fn, args } = flattenCall(e);
    const f = this.named(this.value(fn, scope, envVar));
    const p = this.k(e.pos);
    const argCodes = args.map((a) => this.lazy(a, scope, envVar));
    const t = this.temp();
    if (argCodes.length === 1) {
      this.emit(`const ${t} = callFunction(${f}, ${argCodes[0]}, ${p});`);
      return t;
    }
    const n = argCodes.length;
    this.emit(`let ${t};`);
    this.emit(`if (${f} instanceof PrimOp && ${f}.arity === ${n}) ${t} = ${f}.fn([${argCodes.join(", ")}], ${p}, ${f}.state);`);
    this.emit(`else {`);
    this.emit(`${t} = call2(${f}, ${argCodes[0]}, ${argCodes[1]}, ${p});`);
    for (let i = 2; i < n; i++) this.emit(`${t} = callFunction(${t}, ${argCodes[i]}, ${p});`);
    this.emit(`}`);
    return t;
  }

  private binop(op: string, l: Expr, r: Expr, scope: Scope, envVar: string, pos: Pos): string {
    const p = this.k(pos);
    const t = this.temp();
    if (op === "&&" || op === "||" || op === "->") {
      const x = this.value(l, scope, envVar);
      const opName = JSON.stringify(op);
      this.emit(`if (typeof ${x} !== "boolean") throw logicOperandError(${x}, ${p}, "left", ${opName});`);
      this.emit(`let ${t} = ${op === "||" ? "true" : op === "&&" ? "false" : "true"};`);
      this.emit(`if (${op === "||" ? `!${x}` : x}) {`);
      const y = this.value(r, scope, envVar);
      this.emit(`if (typeof ${y} !== "boolean") throw logicOperandError(${y}, ${p}, "right", ${opName});`);
      this.emit(`${t} = ${y};`);
      this.emit(`}`);
      return t;
    }
    const a = this.value(l, scope, envVar);
    const b = this.value(r, scope, envVar);
    const nums = `typeof ${a} === "number" && typeof ${b} === "number"`;
    switch (op) {
      case "+":
        this.emit(`let ${t} = ${nums} ? ${a} + ${b} : NaN;`);
        this.emit(`if (!(${t} <= ${MAX_SAFE} && ${t} >= -${MAX_SAFE})) ${t} = add(${this.k(this.compiler.state)}, ${a}, ${b}, ${p});`);
        return t;
      case "-":
        this.emit(`let ${t} = ${nums} ? ${a} - ${b} : NaN;`);
        this.emit(`if (!(${t} <= ${MAX_SAFE} && ${t} >= -${MAX_SAFE})) ${t} = sub(${a}, ${b}, ${p});`);
        return t;
      case "*":
        this.emit(`const ${t} = mul(${a}, ${b}, ${p});`);
        return t;
      case "/":
        this.emit(`const ${t} = div(${a}, ${b}, ${p});`);
        return t;
      case "++":
        this.emit(`const ${t} = concatLists(${a}, ${b}, ${p});`);
        return t;
      case "//":
        this.emit(`const ${t} = update(${a}, ${b}, ${p});`);
        return t;
      case "==":
      case "!=": {
        const neg = op === "!=" ? "!" : "";
        this.emit(`const ${t} = ${neg}((${nums}) || (typeof ${a} === "string" && typeof ${b} === "string") ? ${a} === ${b} : equals(${a}, ${b}, ${p}));`);
        return t;
      }
      case "<":
        this.emit(`const ${t} = ${nums} ? ${a} < ${b} : lessThan(${a}, ${b}, ${p});`);
        return t;
      case ">":
        this.emit(`const ${t} = ${nums} ? ${b} < ${a} : lessThan(${b}, ${a}, ${p});`);
        return t;
      case "<=":
        this.emit(`const ${t} = ${nums} ? !(${b} < ${a}) : !lessThan(${b}, ${a}, ${p});`);
        return t;
      case ">=":
        this.emit(`const ${t} = ${nums} ? !(${a} < ${b}) : !lessThan(${a}, ${b}, ${p});`);
        return t;
    }
    throw new Error(`internal error: unknown operator ${op}`);
  }
}
