// The evaluation front end shared by `tvix eval`, `tvix instantiate` and the
// nix-instantiate drop-in: read the expression, auto-call it with --arg and
// --argstr, walk -A attribute paths, print the results as Nix 2.26 does, and
// turn evaluation errors into Nix-style messages.
import type { Expr, Pos } from "./ast";
import { EvalState, EvalOptions } from "./state";
import { installBuiltins } from "./builtins";
import { ParseError, formatPos, parse } from "./parser";
import { EvalError, Lazy, NixAttrs, NixFloat, Thunk, Value, force, forceDeep, forceString, showType, Lambda, elemLazy, materialize, strValue } from "./value";
import { coerceToString } from "./coerce";
import { isDerivation } from "./operators";
import { printValue } from "./print";
import { toJSON } from "./builtins/json";
import { toXML } from "./builtins/xml";
import { callFunction, restoreCallDepth, setMaxCallDepth } from "./call";
import { showExpr } from "./show";
import { linesOf, sourcePos } from "./positions";
import type { EvalIO } from "./io";
import type { BuiltinExtension } from "./builtins/registry";
import { canonPath } from "./paths";
import { RestrictedIO } from "./restricted-io";
import { OutOfRoom, isStackOverflow, passFatal, trialOutcome } from "./limits";

export interface EvalRequest {
  /** -E: the expression text (or stdin's, for the file "-"); else `file` (default ./default.nix). */
  expr?: string;
  file?: string;
  attrPaths: string[];
  /** --arg NAME EXPR and --argstr NAME STR, in order. */
  args: { name: string; kind: "expr" | "str"; value: string }[];
  nixPath: string[];
  strict: boolean;
  /** raw: a string as it is (coerced as interpolation does), with no newline (nix-instantiate --eval --raw) */
  output: "nix" | "json" | "xml" | "raw";
  /** --xml without --no-location prints positions of lambdas and attributes. */
  location: boolean;
  showTrace: boolean;
  /** --parse: print the parsed expression instead of evaluating it. */
  parseOnly: boolean;
  cwd: string;
  storeDir?: string;
  /** --read-write-mode: store objects the evaluation creates are written (and materialised). */
  readWrite?: boolean;
  /** --option NAME VALUE (abort-on-warn is honoured; others are accepted). */
  options?: Record<string, string>;
}

/** Where an evaluation's output goes. */
export interface EvalOutput {
  out(s: string): void;
  err(s: string): void;
}

/** What the embedding gives the evaluator: its EvalIO and the builtins beyond the language's own (glue/). */
export interface EvalHost {
  io: EvalIO;
  extensions: BuiltinExtension[];
  home?: string;
}

/** Creates an evaluator with builtins and the search path (-I first, then NIX_PATH). */
function ttlOption(options: Record<string, string> | undefined): number | undefined {
  const v = options?.["tarball-ttl"];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new EvalError(`invalid value '${v}' for setting 'tarball-ttl'`);
  return n;
}

function boolOption(options: Record<string, string> | undefined, name: string): boolean {
  const v = options?.[name];
  if (v === undefined) return false;
  if (v !== "true" && v !== "false") throw new EvalError(`invalid value '${v}' for setting '${name}'`);
  return v === "true";
}

/** Applies --option settings that the evaluator honours. */
function applyOptions(options: Record<string, string> | undefined): void {
  const depth = options?.["max-call-depth"];
  if (depth !== undefined) {
    const n = Number(depth);
    if (!Number.isInteger(n) || n <= 0) throw new EvalError(`invalid value '${depth}' for setting 'max-call-depth'`);
    setMaxCallDepth(n);
  }
}

export function makeEvalState(nixPath: string[], host: EvalHost, opts: Partial<Omit<EvalOptions, "io" | "extensions">> = {}): EvalState {
  const envPath = (process.env.NIX_PATH ?? "").split(":").filter(Boolean);
  const state = new EvalState({ home: host.home, ...opts, io: host.io, extensions: host.extensions, nixPath: [...nixPath, ...envPath] });
  installBuiltins(state);
  return state;
}

function readSource(req: EvalRequest): { expr: Expr } | { file: string } {
  if (req.expr !== undefined) return { expr: parse(req.expr, "", req.cwd) };
  const f = req.file ?? "./default.nix";
  return { file: canonPath(f.startsWith("/") ? f : `${req.cwd}/${f}`) };
}

/** Evaluates --arg / --argstr values into an attribute set for auto-calling. */
function autoArgs(state: EvalState, req: EvalRequest): NixAttrs | null {
  if (req.args.length === 0) return null;
  const m = new Map<string, Lazy>();
  for (const a of req.args) {
    if (a.kind === "str") m.set(a.name, a.value);
    else {
      const e = parse(a.value, "", req.cwd);
      m.set(a.name, Thunk.of(() => state.evalExpr(e)));
    }
  }
  return NixAttrs.fromMap(m);
}

/**
 * Nix's autoCallFunction: a function taking an attribute set pattern is
 * called with the matching --arg values (and its defaults); other values pass through.
 */
export function autoCall(v: Lazy, args: NixAttrs | null, pos: Pos | null): Value {
  const fv = force(v);
  if (fv instanceof NixAttrs && fv.get("__functor") !== undefined) {
    // a functor: Nix calls it when it has a formals argument; calling through __functor
    const inner = callFunction(force(fv.get("__functor")!), fv, pos);
    if (inner instanceof Lambda && inner.info.formals) return callFunction(inner, argsFor(inner, args), pos);
    return fv;
  }
  if (!(fv instanceof Lambda) || !fv.info.formals) return fv;
  return callFunction(fv, argsFor(fv, args), pos);
}

function argsFor(fn: Lambda, args: NixAttrs | null): NixAttrs {
  const m = new Map<string, Lazy>();
  const formals = fn.info.formals!;
  if (formals.ellipsis && args) {
    for (const [k, v] of args.map) m.set(k, v);
  } else {
    formals.names.forEach((name, i) => {
      const a = args?.get(name);
      if (a !== undefined) m.set(name, a);
      else if (!formals.defaults[i])
        throw new EvalError(
          `cannot evaluate a function that has an argument without a value ('${name}')\n` +
            `Nix attempted to evaluate a function as a top level expression; in this case it must have its arguments supplied either by default values, or passed explicitly with '--arg' or '--argstr'. See https://nix.dev/manual/nix/stable/language/constructs.html#functions.`,
          fn.info.pos,
        );
    });
  }
  return NixAttrs.fromMap(m);
}

/** Follows an -A attribute path ("a.b.0.c"; quoted components allowed), auto-calling at each step. */
export function findAlongAttrPath(state: EvalState, path: string, args: NixAttrs | null, root: Lazy): Lazy {
  const tokens = splitAttrPath(path);
  let v: Lazy = root;
  for (const tok of tokens) {
    const cur = autoCall(v, args, null);
    if (/^[0-9]+$/.test(tok)) {
      if (!Array.isArray(cur))
        throw new EvalError(`the expression selected by the selection path '${path}' should be a list but is ${showType(cur)}`);
      const i = Number(tok);
      if (i >= cur.length) throw new EvalError(`list index ${i} in selection path '${path}' is out of range`);
      v = elemLazy(cur, i);
    } else {
      if (!(cur instanceof NixAttrs))
        throw new EvalError(`the expression selected by the selection path '${path}' should be a set but is ${showType(cur)}`);
      const a = cur.get(tok);
      if (a === undefined) throw new EvalError(`attribute '${tok}' in selection path '${path}' not found`);
      v = a;
    }
  }
  return v;
}

export function splitAttrPath(path: string): string[] {
  if (path === "") return [];
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === ".") {
      out.push(cur);
      cur = "";
    } else if (c === '"') {
      const end = path.indexOf('"', i + 1);
      if (end < 0) throw new EvalError(`missing closing quote in selection path '${path}'`);
      cur += path.slice(i + 1, end);
      i = end;
    } else cur += c;
  }
  out.push(cur);
  if (out.some((t) => t === "")) throw new EvalError(`empty attribute name in selection path '${path}'`);
  return out;
}

/** Loads the top-level value of a request (file or expression). */
export function loadRoot(state: EvalState, req: EvalRequest): Lazy {
  const src = readSource(req);
  if ("expr" in src) return Thunk.of(() => state.evalExpr(src.expr));
  // a missing file is reported now, not when the value is first needed
  if (state.io.resolvedType(src.file) === null) throw new EvalError(`path '${src.file}' does not exist`);
  return Thunk.of(() => state.importFile(src.file, null));
}

/** The evaluator for a request: its --option settings, store and trace output. */
function stateFor(req: EvalRequest, output: EvalOutput, host: EvalHost): EvalState {
  restoreCallDepth(0); // an earlier evaluation in this thread may have failed deep down
  applyOptions(req.options);
  const pureEval = boolOption(req.options, "pure-eval");
  const restrictEval = boolOption(req.options, "restrict-eval");
  const mode = pureEval ? "pure" : restrictEval ? "restricted" : null;
  const io = mode ? new RestrictedIO(host.io, mode) : null;
  const state = makeEvalState(req.nixPath, io ? { ...host, io } : host, {
    cwd: req.cwd,
    abortOnWarn: req.options?.["abort-on-warn"] === "true",
    tarballTtl: ttlOption(req.options),
    pureEval,
    restrictEval,
    allowedUris: (req.options?.["allowed-uris"] ?? "").split(/\s+/).filter(Boolean),
  });
  // restricted mode reads the search path's entries (as Nix)
  if (io && mode === "restricted") for (const e of state.searchPath) if (e.path.startsWith("/")) io.allowPath(e.path);
  state.traceSink = (m) => output.err(m + "\n");
  return state;
}

/** Calls `each` with the value at every -A path (the root when there is none), in order. */
function forEachSelected(state: EvalState, req: EvalRequest, each: (v: Lazy, args: NixAttrs | null) => void): void {
  const root = loadRoot(state, req);
  const args = autoArgs(state, req);
  for (const ap of req.attrPaths.length ? req.attrPaths : [""]) each(findAlongAttrPath(state, ap, args, root), args);
}

/** Runs `nix-instantiate --eval`-style evaluation; returns the exit code. */
export function runEval(req: EvalRequest, io: EvalOutput, host: EvalHost): number {
  try {
    if (req.parseOnly) {
      // like Nix, --parse also resolves variables (undefined ones are errors)
      const state = makeEvalState(req.nixPath, host, { cwd: req.cwd });
      const src = readSource(req);
      const e = "expr" in src ? src.expr : parse(state.readSourceFile(src.file), src.file, src.file.replace(/\/[^/]*$/, "") || "/");
      state.compiler.compileTop(e, state.globalNames);
      io.out(showExpr(e) + "\n");
      return 0;
    }
    const state = stateFor(req, io, host);
    const t0 = Date.now();
    forEachSelected(state, req, (v, args) => {
      const res: Lazy = args ? autoCall(v, args, null) : force(v);
      // raw bytes stay lone surrogates here: the writer prints them as bytes (core/bytes.ts)
      io.out(printResult(state, res, req) + (req.output === "raw" ? "" : "\n"));
    });
    if (process.env.TVIX_PHASES) {
      const { files, parse, compile } = state.loadTimes;
      io.err(`tvix: evaluation ${Date.now() - t0} ms, of which ${files} files read and parsed in ${parse.toFixed(0)} ms, compiled in ${compile.toFixed(0)} ms; ${(process.uptime() * 1000).toFixed(0)} ms since start\n`);
    }
    return 0;
  } catch (e) {
    const outcome = trialOutcome(e);
    if (outcome instanceof OutOfRoom) throw outcome;
    io.err(formatEvalError(e, req.showTrace));
    return 1;
  }
}

export function printResult(state: EvalState, v: Lazy, req: Pick<EvalRequest, "output" | "strict" | "location">): string {
  switch (req.output) {
    case "raw":
      try {
        return strValue(coerceToString(state, v, null, { coerceMore: false, copyToStore: true }));
      } catch (e) {
        if (e instanceof EvalError) e.addTrace("while generating the nix-instantiate output");
        throw e;
      }
    case "json":
      // the value itself is evaluated; below it, without --strict, a thunk is an error (as Nix)
      return toJSON(state, req.strict ? v : force(v), null, new Set(), req.strict);
    case "xml":
      return toXML(req.strict ? forceDeep(v) : v, req.location, null, new Set(), req.strict).replace(/\n$/, "");
    default:
      if (req.strict) forceDeep(v);
      return printValue(v, { strict: req.strict });
  }
}

/** Nix-style error text: "error: ...", positions, and the trace with --show-trace. */
export function formatEvalError(e: unknown, showTrace: boolean): string {
  if (e instanceof ParseError) return `error: ${e.message}\n       at ${formatPos(e.pos)}:\n${snippet(e.pos)}`;
  if (e instanceof EvalError) {
    const trace = showTrace ? e.trace : e.trace.slice(-1);
    const hint = e.hint ? `\n       ${e.hint}` : "";
    // a message's further lines are indented under its first, as Nix does
    const message = e.message.replace(/\n/g, "\n       ");
    if (trace.length === 0) return `error: ${message}${e.pos ? `\n       at ${formatPos(e.pos)}:\n${snippet(e.pos)}` : ""}`.replace(/\n+$/, "") + hint + "\n";
    let out = "error:";
    for (const t of [...trace].reverse()) {
      out += `\n       … ${t.msg}`;
      // the snippet's own last newline is the one that ends this frame
      if (t.pos) out += `\n         at ${formatPos(t.pos)}:` + `\n${snippet(t.pos)}`.replace(/\n$/, "");
      out += "\n";
    }
    out += `\n       error: ${message}`;
    if (e.pos && (e.ownPos || !trace.some((t) => t.pos === e.pos))) out += `\n       at ${formatPos(e.pos)}:\n${snippet(e.pos)}`;
    out = out.replace(/\n+$/, "") + hint;
    if (!showTrace && e.trace.length > 1) out += `\n       (use '--show-trace' to show detailed location information)`;
    return out.replace(/\n+$/, "") + "\n";
  }
  if (isStackOverflow(e)) return "error: stack overflow (possible infinite recursion)\n";
  const err = e as Error;
  if (process.env.TVIX_DEBUG) return `${err?.stack}\nerror: ${err?.message ?? String(e)}\n`;
  return `error: ${err?.message ?? String(e)}\n`;
}

function snippet(p: Pos): string {
  const pos = sourcePos(p);
  const lines = linesOf(p);
  if (lines === undefined) return "";
  const line = lines[pos.line - 1];
  if (line === undefined) return "";
  // as Nix: the line before, the line, a caret under the column, the line after
  const num = (n: number) => String(n).padStart(13);
  let out = "";
  if (pos.line >= 2 && lines[pos.line - 2] !== undefined) out += `${num(pos.line - 1)}| ${lines[pos.line - 2]}\n`;
  out += `${num(pos.line)}| ${line}\n${" ".repeat(13)}| ${" ".repeat(Math.max(0, pos.column - 1))}^\n`;
  if (lines[pos.line] !== undefined && !(pos.line === lines.length - 1 && lines[pos.line] === "")) out += `${num(pos.line + 1)}| ${lines[pos.line]}\n`;
  return out;
}


/**
 * Nix's getDerivations: the derivations a value denotes. A derivation is
 * taken as is; an attribute set's attributes are searched (one level, deeper
 * where `recurseForDerivations = true`); a list's elements likewise.
 */
export function collectDerivations(v: Lazy, out: string[], recurse = true, seen = new Set<unknown>()): void {
  const x = force(v);
  if (seen.has(x)) return;
  seen.add(x);
  if (x instanceof NixAttrs) {
    if (isDerivation(x)) {
      const dp = x.get("drvPath");
      if (dp === undefined) throw new EvalError("derivation has no 'drvPath' attribute");
      // nix-instantiate prints drvPath!output when the selected output is not "out"
      const on = x.get("outputName");
      const outName = on === undefined ? "out" : forceString(on);
      out.push(forceString(dp) + (outName !== "out" ? `!${outName}` : ""));
      return;
    }
    if (!recurse) return;
    for (const k of x.keys()) {
      const a = force(x.get(k)!);
      if (isDerivation(a)) collectDerivations(a, out, false, seen);
      else if (a instanceof NixAttrs) {
        const rec = a.get("recurseForDerivations");
        if (rec !== undefined && force(rec) === true) collectDerivations(a, out, true, seen);
      }
    }
  } else if (Array.isArray(x)) {
    for (const e of materialize(x)) collectDerivations(e, out, true, seen);
  } else if (x === null || typeof x === "string" || typeof x === "boolean" || typeof x === "bigint" || typeof x === "number" || x instanceof NixFloat) {
    throw new EvalError(`expression does not evaluate to a derivation (or a set or list of those)`);
  }
  // other values (paths, functions that could not be auto-called): nothing to instantiate, as in Nix
}

/** `nix-instantiate` without --eval: evaluates, writes .drv files, prints their paths. */
export function instantiate(req: EvalRequest, io: EvalOutput, host: EvalHost): { code: number; drvPaths: string[] } {
  try {
    const state = stateFor(req, io, host);
    const drvPaths: string[] = [];
    forEachSelected(state, req, (v, args) => collectDerivations(autoCall(v, args, null), drvPaths));
    return { code: 0, drvPaths };
  } catch (e) {
    const outcome = trialOutcome(e);
    if (outcome instanceof OutOfRoom) throw outcome;
    io.err(formatEvalError(e, req.showTrace));
    return { code: 1, drvPaths: [] };
  }
}
