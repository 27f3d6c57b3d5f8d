// The REPL session: `tvix repl`'s evaluator side. Bindings (`x = expr`,
// `:l file`) persist across inputs and shadow the builtins, as in nix repl;
// they do not change what already-imported files see.
import type { Expr } from "./ast";
import { parse } from "./parser";
import { EvalState } from "./state";
import { Lazy, NixAttrs, Thunk, force, forceAttrs, forceDeep, showType, materialize } from "./value";
import { printValue } from "./print";
import { formatEvalError, makeEvalState, type EvalHost } from "./driver";
import { canonPath } from "./paths";
import { callDepthNow, restoreCallDepth } from "./call";

export const REPL_HELP = `The following commands are available:

  <expr>                       Evaluate and print expression
  <x> = <expr>                 Bind expression to variable
  :a, :add <expr>              Add attributes from resulting set to scope
  :l, :load <path>             Load Nix expression and add it to scope
  :p, :print <expr>            Evaluate and print expression recursively
  :t <expr>                    Describe result of evaluation
  :?, :help                    Brings up this help menu
  :q, :quit                    Exit nix-repl
`;

export class ReplSession {
  readonly state: EvalState;
  private readonly names = new Map<string, number>();
  private values: Lazy[] = [];

  constructor(nixPath: string[], private readonly cwd: string, host: EvalHost) {
    this.state = makeEvalState(nixPath, host, { cwd });
  }

  /** Handles one input line; returns the text to print and whether to quit. */
  handle(line: string): { out: string; quit?: boolean } {
    const input = line.trim();
    if (input === "") return { out: "" };
    restoreCallDepth(0); // a line that failed left its depth behind
    try {
      if (input.startsWith(":")) return this.command(input);
      const bind = /^([a-zA-Z_][a-zA-Z0-9_'-]*)\s*=(?!=)([\s\S]*)$/.exec(input);
      if (bind) {
        this.bind(bind[1], this.lazyExpr(this.parse(bind[2])));
        return { out: "" };
      }
      const v = this.lazyExpr(this.parse(input));
      forceChildren(v);
      return { out: printValue(v) + "\n" };
    } catch (e) {
      return { out: formatEvalError(e, false) };
    }
  }

  private command(input: string): { out: string; quit?: boolean } {
    const sp = input.search(/\s/);
    const cmd = sp < 0 ? input : input.slice(0, sp);
    const arg = sp < 0 ? "" : input.slice(sp + 1).trim();
    switch (cmd) {
      case ":q":
      case ":quit":
        return { out: "", quit: true };
      case ":?":
      case ":help":
        return { out: REPL_HELP };
      case ":p":
      case ":print": {
        const v = this.lazyExpr(this.parse(arg));
        forceDeep(v);
        return { out: printValue(v, { strict: true }) + "\n" };
      }
      case ":t":
        return { out: showType(force(this.lazyExpr(this.parse(arg)))) + "\n" };
      case ":a":
      case ":add":
        return { out: this.addAttrs(this.lazyExpr(this.parse(arg))) };
      case ":l":
      case ":load": {
        const file = canonPath(arg.startsWith("/") ? arg : `${this.cwd}/${arg}`);
        return { out: this.addAttrs(this.state.importFile(file, null)) };
      }
      default:
        return { out: `error: unknown command '${cmd}'\n` };
    }
  }

  private parse(src: string): Expr {
    return parse(src, "", this.cwd);
  }

  /** An input expression as a thunk over the current bindings (evaluated when needed). */
  private lazyExpr(e: Expr): Lazy {
    const code = this.state.compiler.compileWithNames(e, this.state.globalNames, this.names);
    return new Thunk(code, [this.state.baseEnv, ...this.values]);
  }

  private bind(name: string, v: Lazy): void {
    const i = this.names.get(name);
    if (i !== undefined) this.values[i] = v;
    else {
      this.names.set(name, this.values.length);
      this.values.push(v);
    }
  }

  private addAttrs(v: Lazy): string {
    const attrs: NixAttrs = forceAttrs(v);
    for (const k of attrs.keys()) this.bind(k, attrs.get(k)!);
    return `Added ${attrs.size} variables.\n`;
  }
}

/** Like nix repl: a set's or list's immediate values are shown evaluated when they evaluate without error. */
function forceChildren(v: Lazy): void {
  const x = force(v);
  const kids = x instanceof NixAttrs ? x.values : Array.isArray(x) ? materialize(x) : [];
  for (const k of kids) {
    const depth = callDepthNow();
    try {
      force(k);
    } catch {
      restoreCallDepth(depth); /* left unevaluated */
    }
  }
}
