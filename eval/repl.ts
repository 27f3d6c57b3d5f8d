// The REPL session: `tvix repl`'s evaluator side. Bindings (`x = expr`,
// `:a`, `:l file`) persist across inputs and shadow the builtins, as in nix
// repl; they do not change what already-imported files see. The terminal
// side (cmd/commands/repl.ts) owns line editing and history; it sends each
// input here and gets back the text to print, or word that the input is
// incomplete (a bracket, string or let still open: it then reads more).
import type { Expr } from "./ast";
import { parse, ParseError } from "./parser";
import { EvalState } from "./state";
import { Lambda, Lazy, NixAttrs, NixPath, Thunk, Value, force, forceAttrs, forceDeep, showType, PrimOp, PrimOpApp, NixString, forceString } from "./value";
import { formatEvalError, makeEvalState, autoCall, type EvalHost } from "./driver";
import { canonPath } from "./paths";
import { restoreCallDepth } from "./call";
import { replPrint } from "./repl-print";
import { builtinDoc } from "./builtin-docs";
import { isDerivation } from "./operators";
import { sourcePos, textBefore } from "./positions";

export const REPL_HELP = `The following commands are available:

  <expr>                       Evaluate and print expression
  <x> = <expr>                 Bind expression to variable
  :a, :add <expr>              Add attributes from resulting set to scope
  :b <expr>                    Build a derivation
  :e, :edit <expr>             Open package or function in $EDITOR
  :l, :load <path>             Load Nix expression and add it to scope
  :p, :print <expr>            Evaluate and print expression recursively
                               Strings are printed directly, without escaping.
  :q, :quit                    Exit the repl
  :r, :reload                  Reload all files
  :t <expr>                    Describe result of evaluation
  :doc <expr>                  Show documentation of a builtin function
  :log <expr>                  Show logs for a derivation
  :te, :trace-enable [bool]    Enable, disable or toggle showing traces for
                               errors
  :?, :help                    Brings up this help menu
`;

const COMMANDS = [":a", ":add", ":b", ":doc", ":e", ":edit", ":help", ":l", ":load", ":log", ":p", ":print", ":q", ":quit", ":r", ":reload", ":t", ":te", ":trace-enable", ":?"];
const KEYWORDS = ["assert", "else", "if", "in", "inherit", "let", "or", "rec", "then", "with"];

export interface ReplResult {
  out: string;
  /** error messages, for stderr (as nix repl) */
  err?: string;
  quit?: boolean;
  /** the input is cut short (an open bracket, string or let): read another line */
  incomplete?: boolean;
  /** the input changed the scope: replayed when the session is rebuilt (:r, an interrupted evaluation) */
  scoped?: boolean;
  /** a message for stderr (as nix repl: "Added N variables.") */
  note?: string;
  /** :e: the file to open in the editor (then :r) */
  edit?: { file: string; line: number };
  /** :b / :log: what handleAsync does next (through ReplOptions.builds) */
  build?: { kind: "build" | "log"; drvPath: string };
}

export interface ReplOptions {
  colour?: boolean;
  /** building for :b and :log, given by the CLI (the evaluator itself never builds) */
  builds?: ReplBuilds;
}

/** What :b and :log need from outside the evaluator. */
export interface ReplBuilds {
  /** Builds a derivation (writing what the evaluation made to the store first); its outputs as [name, path]. */
  build(drvPath: string): Promise<[string, string][]>;
  /** The stored build log of a derivation and where it came from, or null. */
  log(drvPath: string): Promise<{ text: string; from: string } | null>;
}

export class ReplSession {
  state: EvalState;
  private names = new Map<string, number>();
  private values: Lazy[] = [];
  private showTrace = false;
  /** the inputs that shaped the scope, in order (for :r) */
  private scopeInputs: string[] = [];

  constructor(
    private readonly nixPath: string[],
    private readonly cwd: string,
    private readonly host: EvalHost,
    private readonly opts: ReplOptions = {},
  ) {
    this.state = makeEvalState(nixPath, host, { cwd });
  }

  /** handle(), and then the build or log lookup that :b and :log ask for. */
  async handleAsync(line: string): Promise<ReplResult> {
    const r = this.handle(line);
    if (!r.build) return r;
    const { kind, drvPath } = r.build;
    delete r.build;
    const builds = this.opts.builds;
    if (!builds) return { ...r, err: `error: not implemented: ${kind === "build" ? "building" : "build logs"} in this repl (it has no store to build in)\n` };
    try {
      if (kind === "build") {
        const outs = await builds.build(drvPath);
        return { ...r, out: `\nThis derivation produced the following outputs:\n${outs.map(([n, p]) => `  ${n} -> ${p}\n`).join("")}` };
      }
      const log = await builds.log(drvPath);
      if (!log) return { ...r, err: `error: build log of '${drvPath}' is not available\n` };
      return { ...r, note: `got build log for '${drvPath}' from '${log.from}'\n`, out: log.text + (log.text.endsWith("\n") ? "" : "\n") };
    } catch (e) {
      return { ...r, err: this.formatError(e) };
    }
  }

  /** Handles one input (possibly several lines); returns the text to print and what follows. */
  handle(line: string): ReplResult {
    const input = line.trim();
    if (input === "") return { out: "" };
    restoreCallDepth(0); // a line that failed left its depth behind
    try {
      if (input.startsWith(":")) return this.command(input);
      const bind = /^([a-zA-Z_][a-zA-Z0-9_'-]*)\s*=(?!=)([\s\S]*)$/.exec(input);
      if (bind) {
        this.bind(bind[1], this.lazyExpr(this.parse(bind[2])));
        this.scopeInputs.push(input);
        return { out: "", scoped: true };
      }
      const v = this.lazyExpr(this.parse(input));
      return { out: replPrint(v, { maxDepth: 1, colour: !!this.opts.colour }) + "\n" };
    } catch (e) {
      if (e instanceof Incomplete) return { out: "", incomplete: true };
      return { out: "", err: this.formatError(e) };
    }
  }

  private formatError(e: unknown): string {
    const text = formatEvalError(e, this.showTrace).replace("(use '--show-trace' to show detailed location information)", "(use ':te' to show detailed location information)");
    return this.opts.colour ? text.replace(/^error:/gm, "\x1b[31;1merror:\x1b[0m") : text;
  }

  private command(input: string): ReplResult {
    const sp = input.search(/\s/);
    const cmd = sp < 0 ? input : input.slice(0, sp);
    const arg = sp < 0 ? "" : input.slice(sp + 1).trim();
    const needArg = () => {
      if (arg === "") throw new Error(`command '${cmd}' requires an argument`);
    };
    switch (cmd) {
      case ":q":
      case ":quit":
        return { out: "", quit: true };
      case ":?":
      case ":help":
        return { out: REPL_HELP };
      case ":p":
      case ":print": {
        needArg();
        const v = this.lazyExpr(this.parse(arg));
        forceDeep(v);
        return { out: replPrint(v, { maxDepth: Infinity, colour: !!this.opts.colour, rawTopString: true }) + "\n" };
      }
      case ":t":
        needArg();
        return { out: describeType(force(this.lazyExpr(this.parse(arg)))) + "\n" };
      case ":a":
      case ":add": {
        needArg();
        const note = this.addAttrs(this.lazyExpr(this.parse(arg)));
        this.scopeInputs.push(input);
        return { out: "", note, scoped: true };
      }
      case ":l":
      case ":load": {
        needArg();
        const file = canonPath(arg.startsWith("/") ? arg : `${this.cwd}/${arg}`);
        // a file that is a function is called with its defaults (as nix repl, and nix-build's auto-call)
        const v = autoCall(this.state.importFile(file, null), null, null);
        const note = this.addAttrs(v);
        this.scopeInputs.push(input);
        return { out: "", note, scoped: true };
      }
      case ":r":
      case ":reload":
        return this.reload();
      case ":te":
      case ":trace-enable": {
        if (arg === "") this.showTrace = !this.showTrace;
        else if (arg === "true" || arg === "1" || arg === "on") this.showTrace = true;
        else if (arg === "false" || arg === "0" || arg === "off") this.showTrace = false;
        else return { out: "", err: `error: unexpected argument '${arg}' to ${cmd}\n` };
        return { out: this.showTrace ? "showing error traces\n" : "not showing error traces\n" };
      }
      case ":doc": {
        needArg();
        return this.doc(force(this.lazyExpr(this.parse(arg))));
      }
      case ":e":
      case ":edit": {
        needArg();
        return { out: "", edit: this.location(force(this.lazyExpr(this.parse(arg)))) };
      }
      case ":b":
      case ":log": {
        needArg();
        const v = force(this.lazyExpr(this.parse(arg)));
        if (!(v instanceof NixAttrs && isDerivation(v))) return { out: "", err: `error: expression does not evaluate to a derivation, so I can't ${cmd === ":b" ? "build" : "show the log of"} it\n` };
        const dp = v.get("drvPath");
        if (dp === undefined) throw new Error("derivation has no 'drvPath' attribute");
        return { out: "", build: { kind: cmd === ":b" ? "build" : "log", drvPath: forceString(dp) } };
      }
      default:
        return { out: "", err: `error: unknown command '${cmd}'\n` };
    }
  }

  /** A fresh evaluator (files read again) with the scope's inputs replayed. */
  reload(): ReplResult {
    const inputs = this.scopeInputs;
    this.state = makeEvalState(this.nixPath, this.host, { cwd: this.cwd });
    this.names = new Map();
    this.values = [];
    this.scopeInputs = [];
    let out = "";
    let err = "";
    let note = "";
    for (const i of inputs) {
      const r = this.handle(i);
      out += r.out;
      err += r.err ?? "";
      note += r.note ?? "";
    }
    return { out, err, note };
  }

  private doc(v: Value): ReplResult {
    const name = v instanceof PrimOp ? v.name : v instanceof PrimOpApp ? v.op.name : null;
    if (name !== null) {
      const d = builtinDoc(name);
      return d !== null ? { out: d } : { out: "", err: `error: no documentation for the builtin '${name}'\n` };
    }
    if (v instanceof Lambda) {
      const d = docComment(v);
      if (d !== null) return { out: d };
      const p = sourcePos(v.info.pos);
      return { out: "", err: `error: the function at ${p.file || "«string»"}:${p.line}:${p.column} has no documentation comment (/** ... */)\n` };
    }
    return { out: "", err: `error: value does not have documentation\n` };
  }

  private location(v: Value): { file: string; line: number } {
    if (v instanceof NixPath) return { file: v.path, line: 1 };
    if (v instanceof Lambda) {
      const p = sourcePos(v.info.pos);
      if (p.file) return { file: p.file, line: p.line };
    }
    if (v instanceof NixAttrs) {
      // a package: its meta.position ("file:line")
      const meta = v.get("meta");
      const pos = meta !== undefined ? forceAttrs(meta).get("position") : undefined;
      if (pos !== undefined) {
        const s = force(pos);
        const text = s instanceof NixString ? s.s : typeof s === "string" ? s : "";
        const m = /^(.*):(\d+)$/.exec(text);
        if (m) return { file: m[1], line: Number(m[2]) };
      }
    }
    throw new Error("cannot find where this value is defined (a path, a function or a package with meta.position can be edited)");
  }

  /** Completions of the word before the cursor: variables, builtins, `attr.path.prefix`, or commands. */
  complete(line: string): { word: string; completions: string[] } {
    if (/^:\S*$/.test(line)) return { word: line, completions: COMMANDS.filter((c) => c.startsWith(line)) };
    const word = /[a-zA-Z0-9_'.\-]*$/.exec(line)![0];
    const dot = word.lastIndexOf(".");
    if (dot < 0) {
      const names = new Set([...this.names.keys(), ...this.state.globalNames.keys(), ...KEYWORDS]);
      return { word, completions: [...names].filter((n) => n.startsWith(word) && !n.startsWith("__")).sort() };
    }
    const base = word.slice(0, dot);
    const prefix = word.slice(dot + 1);
    restoreCallDepth(0);
    try {
      const v = force(this.lazyExpr(parse(base, "", this.cwd)));
      if (!(v instanceof NixAttrs)) return { word, completions: [] };
      return { word, completions: v.keys().filter((k) => k.startsWith(prefix)).map((k) => `${base}.${k}`) };
    } catch {
      return { word, completions: [] };
    }
  }

  private parse(src: string): Expr {
    try {
      return parse(src, "", this.cwd);
    } catch (e) {
      if (e instanceof ParseError && /unexpected end of file/.test(e.message) && !/expecting end of file/.test(e.message)) throw new Incomplete();
      if (e instanceof Error && e.name === "LexError" && /unexpected end of file/.test(e.message)) throw new Incomplete();
      throw e;
    }
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

class Incomplete extends Error {}

/** :t, as nix repl words it. */
function describeType(v: Value): string {
  if (v instanceof PrimOp) return `the built-in function '${v.name}'`;
  if (v instanceof PrimOpApp) return `the partially applied built-in function '${v.op.name}'`;
  return showType(v);
}

/** The `/** ... *\/` comment just before a function (or before `name =` binding it), as Nix 2.26's :doc shows it. */
function docComment(l: Lambda): string | null {
  const text = textBefore(l.info.pos);
  if (text === undefined) return null;
  let end = text.replace(/\s+$/, "");
  if (!end.endsWith("*/")) end = end.replace(/[a-zA-Z_][a-zA-Z0-9_'-]*(\s*\.\s*[a-zA-Z_][a-zA-Z0-9_'-]*)*\s*=$/, "").replace(/\s+$/, "");
  if (!end.endsWith("*/")) return null;
  const start = end.lastIndexOf("/**");
  if (start < 0) return null;
  const body = end.slice(start + 3, -2).replace(/\s+$/, "");
  // the text on the /** line stands alone; the common indentation of the others goes
  const [first, ...rest] = body.split("\n");
  const ind = Math.min(...rest.filter((s) => s.trim() !== "").map((s) => /^\s*/.exec(s)![0].length));
  const doc = [first.trim(), ...rest.map((s) => s.slice(Number.isFinite(ind) ? ind : 0))];
  while (doc.length > 0 && doc[0] === "") doc.shift();
  const p = sourcePos(l.info.pos);
  const where = `${p.file || "«string»"}:${p.line}:${p.column}`;
  return `Function defined at ${where}\n\n${doc.join("\n")}\n`;
}
