// The Nix parser: tokens -> syntax tree (ast.ts). Recursive descent for the
// statement-like forms, precedence climbing for operators, with the
// precedences and associativities of C++ Nix's grammar.
import type { AttrName, AttrsExpr, Binding, Bindings, Expr, Formal, LambdaExpr, Pos, StrExpr, VarExpr } from "./ast";
import { Lexer, LexError, Token } from "./lexer";

export class ParseError extends Error {
  constructor(message: string, readonly pos: Pos) {
    super(message);
    this.name = "ParseError";
  }
}

export function formatPos(pos: Pos): string {
  return `${pos.file === "" ? "«string»" : pos.file}:${pos.line}:${pos.column}`;
}

// binary operator -> [precedence, associativity]; higher binds tighter
const BINOPS: Record<string, [number, "left" | "right" | "none"]> = {
  "->": [1, "right"],
  "||": [2, "left"],
  "&&": [3, "left"],
  "==": [4, "none"],
  "!=": [4, "none"],
  "<": [5, "none"],
  ">": [5, "none"],
  "<=": [5, "none"],
  ">=": [5, "none"],
  "//": [6, "right"],
  // 7: prefix "!"
  "+": [8, "left"],
  "-": [8, "left"],
  "*": [9, "left"],
  "/": [9, "left"],
  "++": [10, "right"],
  "?": [11, "none"],
  // 12: prefix "-"
};
const NOT_PREC = 7;
const NEG_PREC = 12;

function describe(t: Token): string {
  switch (t.kind) {
    case "eof":
      return "end of file";
    case "id":
      return `identifier '${t.value}'`;
    case "int":
      return "integer";
    case "float":
      return "floating-point number";
    case "kw":
      return `'${t.value}'`;
    case "op":
      return `'${t.value}'`;
    case "str_open":
    case "str_close":
      return "'\"'";
    case "ind_open":
    case "ind_close":
      return "\"''\"";
    case "path":
    case "hpath":
    case "path_start":
      return "path";
    case "spath":
      return `<${t.value}>`;
    case "uri":
      return "URI";
    default:
      return t.kind;
  }
}

/** Parses Nix source. `file` is "" for -E/stdin; relative paths resolve against baseDir. */
export function parse(source: string, file: string, baseDir: string): Expr {
  try {
    const p = new Parser(new Lexer(source, file), baseDir);
    const e = p.parseExpr();
    p.expectEof();
    return e;
  } catch (e) {
    if (e instanceof LexError) throw new ParseError(e.message, e.pos);
    // deeper nesting than this thread's stack allows (the CLI parses on a big stack)
    if (e instanceof RangeError && /call stack/.test(e.message))
      throw new ParseError("expression nested too deeply for the parser's stack", { file, line: 1, column: 1 });
    throw e;
  }
}

class Parser {
  constructor(private readonly lx: Lexer, private readonly baseDir: string) {}

  private fail(t: Token, expecting?: string): never {
    throw new ParseError(`syntax error, unexpected ${describe(t)}${expecting ? `, expecting ${expecting}` : ""}`, t.pos);
  }

  private isOp(t: Token, v: string): boolean {
    return t.kind === "op" && t.value === v;
  }

  private isKw(t: Token, v: string): boolean {
    return t.kind === "kw" && t.value === v;
  }

  private expectOp(v: string): Token {
    const t = this.lx.next();
    if (!this.isOp(t, v)) this.fail(t, `'${v}'`);
    return t;
  }

  private expectKw(v: string): Token {
    const t = this.lx.next();
    if (!this.isKw(t, v)) this.fail(t, `'${v}'`);
    return t;
  }

  expectEof(): void {
    const t = this.lx.next();
    if (t.kind !== "eof") this.fail(t, "end of file");
  }

  // expr_function
  parseExpr(): Expr {
    const t = this.lx.peek();
    if (t.kind === "id") {
      const t1 = this.lx.peek(1);
      if (this.isOp(t1, ":")) {
        this.lx.next();
        this.lx.next();
        return { kind: "lambda", arg: t.value, body: this.parseExpr(), pos: t.pos };
      }
      if (this.isOp(t1, "@") && this.isOp(this.lx.peek(2), "{")) {
        this.lx.next();
        this.lx.next();
        return this.parseFormalsLambda(t.pos, t.value);
      }
    }
    if (this.isOp(t, "{") && this.looksLikeFormals()) return this.parseFormalsLambda(t.pos);
    if (this.isKw(t, "assert")) {
      this.lx.next();
      const cond = this.parseExpr();
      this.expectOp(";");
      return { kind: "assert", cond, body: this.parseExpr(), pos: t.pos };
    }
    if (this.isKw(t, "with")) {
      this.lx.next();
      const env = this.parseExpr();
      this.expectOp(";");
      return { kind: "with", env, body: this.parseExpr(), pos: t.pos };
    }
    if (this.isKw(t, "let") && !this.isOp(this.lx.peek(1), "{")) {
      this.lx.next();
      const bindings = this.parseBindings("in", false);
      this.expectKw("in");
      return { kind: "let", bindings, body: this.parseExpr(), pos: t.pos };
    }
    return this.parseIf();
  }

  /** After '{': decides between a formals pattern and an attribute set. */
  private looksLikeFormals(): boolean {
    const a = this.lx.peek(1);
    if (this.isOp(a, "}")) {
      const b = this.lx.peek(2);
      return this.isOp(b, ":") || this.isOp(b, "@");
    }
    if (this.isOp(a, "...")) return true;
    if (a.kind === "id") {
      const b = this.lx.peek(2);
      return this.isOp(b, ",") || this.isOp(b, "?") || this.isOp(b, "}");
    }
    return false;
  }

  private parseFormalsLambda(pos: Pos, atName?: string): Expr {
    this.expectOp("{");
    const entries: Formal[] = [];
    let ellipsis = false;
    const seen = new Set<string>();
    for (;;) {
      const t = this.lx.next();
      if (this.isOp(t, "}")) break;
      if (this.isOp(t, "...")) {
        ellipsis = true;
        const c = this.lx.next();
        if (!this.isOp(c, "}")) this.fail(c, "'}'");
        break;
      }
      if (t.kind !== "id") this.fail(t, "'}' or identifier");
      if (seen.has(t.value)) throw new ParseError(`duplicate formal function argument '${t.value}'`, t.pos);
      seen.add(t.value);
      let def: Expr | undefined;
      if (this.isOp(this.lx.peek(), "?")) {
        this.lx.next();
        def = this.parseExpr();
      }
      entries.push({ name: t.value, default: def, pos: t.pos });
      const sep = this.lx.next();
      if (this.isOp(sep, "}")) break;
      if (!this.isOp(sep, ",")) this.fail(sep, "',' or '}'");
    }
    let arg = atName;
    if (!arg && this.isOp(this.lx.peek(), "@")) {
      this.lx.next();
      const n = this.lx.next();
      if (n.kind !== "id") this.fail(n, "identifier");
      arg = n.value;
    }
    if (arg !== undefined && seen.has(arg)) throw new ParseError(`duplicate formal function argument '${arg}'`, pos);
    this.expectOp(":");
    const body = this.parseExpr();
    const lam: LambdaExpr = { kind: "lambda", formals: { entries, ellipsis }, body, pos };
    if (arg !== undefined) lam.arg = arg;
    return lam;
  }

  private parseIf(): Expr {
    const t = this.lx.peek();
    if (this.isKw(t, "if")) {
      this.lx.next();
      const cond = this.parseExpr();
      this.expectKw("then");
      const then = this.parseExpr();
      this.expectKw("else");
      return { kind: "if", cond, then, else: this.parseExpr(), pos: t.pos };
    }
    return this.parseOp(1);
  }

  private parseOp(minPrec: number): Expr {
    let left = this.parsePrefix(minPrec);
    for (;;) {
      const t = this.lx.peek();
      if (t.kind !== "op") break;
      const info = BINOPS[t.value];
      if (!info) break;
      const [prec, assoc] = info;
      if (prec < minPrec) break;
      this.lx.next();
      if (t.value === "?") {
        left = { kind: "hasAttr", expr: left, path: this.parseAttrPath(), pos: t.pos };
      } else {
        const right = this.parseOp(assoc === "right" ? prec : prec + 1);
        left = { kind: "binop", op: t.value as any, left, right, pos: t.pos };
      }
      if (assoc === "none") {
        const n = this.lx.peek();
        if (n.kind === "op" && BINOPS[n.value]?.[0] === prec) this.fail(n);
      }
    }
    return left;
  }

  private parsePrefix(minPrec: number): Expr {
    const t = this.lx.peek();
    if (this.isOp(t, "!")) {
      this.lx.next();
      return { kind: "not", expr: this.parseOp(Math.max(NOT_PREC + 1, 0)), pos: t.pos };
    }
    if (this.isOp(t, "-")) {
      this.lx.next();
      return { kind: "neg", expr: this.parseOp(NEG_PREC), pos: t.pos };
    }
    void minPrec;
    return this.parseApp();
  }

  private startsSimple(t: Token): boolean {
    switch (t.kind) {
      case "id":
      case "int":
      case "float":
      case "path":
      case "hpath":
      case "spath":
      case "uri":
      case "str_open":
      case "ind_open":
      case "path_start":
        return true;
      case "op":
        return t.value === "(" || t.value === "{" || t.value === "[";
      case "kw":
        return t.value === "rec" || (t.value === "let" && this.isOp(this.lx.peek(1), "{"));
      default:
        return false;
    }
  }

  private parseApp(): Expr {
    let fn = this.parseSelect();
    while (this.startsSimple(this.lx.peek())) {
      const arg = this.parseSelect();
      fn = { kind: "call", fn, arg, pos: fn.pos };
    }
    return fn;
  }

  private parseSelect(): Expr {
    const e = this.parseSimple();
    const t = this.lx.peek();
    if (this.isOp(t, ".")) {
      this.lx.next();
      const path = this.parseAttrPath();
      if (this.isKw(this.lx.peek(), "or")) {
        this.lx.next();
        return { kind: "select", expr: e, path, default: this.parseSelect(), pos: t.pos };
      }
      return { kind: "select", expr: e, path, pos: t.pos };
    }
    if (this.isKw(t, "or")) {
      // legacy: `f or` applies f to a variable named "or"
      this.lx.next();
      return { kind: "call", fn: e, arg: { kind: "var", name: "or", pos: t.pos }, pos: e.pos };
    }
    return e;
  }

  private parseAttrPath(): AttrName[] {
    const path: AttrName[] = [this.parseAttrName()];
    while (this.isOp(this.lx.peek(), ".")) {
      this.lx.next();
      path.push(this.parseAttrName());
    }
    return path;
  }

  private parseAttrName(): AttrName {
    const t = this.lx.next();
    if (t.kind === "id") return { kind: "static", name: t.value, pos: t.pos };
    if (this.isKw(t, "or")) return { kind: "static", name: "or", pos: t.pos };
    if (t.kind === "str_open") {
      const s = this.parseStringRest(t);
      return this.staticIfPlain(s, t.pos);
    }
    if (this.isOp(t, "${")) {
      const e = this.parseExpr();
      this.expectOp("}");
      return this.staticIfPlain(e, t.pos);
    }
    return this.fail(t, "identifier or string");
  }

  /** A string literal without interpolation names a static attribute. */
  private staticIfPlain(e: Expr, pos: Pos): AttrName {
    if (e.kind === "str" && e.parts.length === 1 && typeof e.parts[0] === "string") return { kind: "static", name: e.parts[0], pos };
    return { kind: "dynamic", expr: e, pos };
  }

  private parseSimple(): Expr {
    const t = this.lx.next();
    switch (t.kind) {
      case "id":
        if (t.value === "__curPos") return { kind: "var", name: "__curPos", pos: t.pos };
        return { kind: "var", name: t.value, pos: t.pos };
      case "int": {
        const v = BigInt(t.value);
        if (v > 9223372036854775807n) throw new ParseError(`invalid integer '${t.value}'`, t.pos);
        return { kind: "int", value: v, pos: t.pos };
      }
      case "float":
        return { kind: "float", value: parseFloat(t.value), pos: t.pos };
      case "str_open":
        return this.parseStringRest(t);
      case "ind_open":
        return this.parseIndStringRest(t);
      case "path":
        return { kind: "path", parts: [t.value], baseDir: this.baseDir, pos: t.pos };
      case "hpath":
        return { kind: "path", parts: [t.value], baseDir: this.baseDir, pos: t.pos };
      case "path_start":
        return this.parsePathRest(t);
      case "spath":
        return { kind: "searchPath", path: t.value, pos: t.pos };
      case "uri":
        return { kind: "str", parts: [t.value], pos: t.pos };
      case "kw":
        if (t.value === "rec") {
          this.expectOp("{");
          const bindings = this.parseBindings("}", true);
          this.expectOp("}");
          return { kind: "attrs", rec: true, bindings, pos: t.pos };
        }
        if (t.value === "let") {
          // legacy `let { ...; body = e; }`
          this.expectOp("{");
          const bindings = this.parseBindings("}", true);
          this.expectOp("}");
          const attrs: AttrsExpr = { kind: "attrs", rec: true, bindings, pos: t.pos };
          return { kind: "select", expr: attrs, path: [{ kind: "static", name: "body", pos: t.pos }], pos: t.pos };
        }
        return this.fail(t);
      case "op":
        if (t.value === "(") {
          const e = this.parseExpr();
          this.expectOp(")");
          return e;
        }
        if (t.value === "{") {
          const bindings = this.parseBindings("}", true);
          this.expectOp("}");
          return { kind: "attrs", rec: false, bindings, pos: t.pos };
        }
        if (t.value === "[") {
          const elems: Expr[] = [];
          while (!this.isOp(this.lx.peek(), "]")) {
            if (this.lx.peek().kind === "eof") this.fail(this.lx.peek());
            elems.push(this.parseSelect());
          }
          this.lx.next();
          return { kind: "list", elems, pos: t.pos };
        }
        return this.fail(t);
      default:
        return this.fail(t);
    }
  }

  private parseStringRest(open: Token): StrExpr {
    const parts: (string | Expr)[] = [];
    for (;;) {
      const t = this.lx.next();
      if (t.kind === "str_close") break;
      if (t.kind === "str") parts.push(t.value);
      else if (t.kind === "interp") {
        parts.push(this.parseExpr());
        this.expectOp("}");
      } else this.fail(t, "'\"'");
    }
    return { kind: "str", parts: mergeLiterals(parts), pos: open.pos };
  }

  private parsePathRest(start: Token): Expr {
    const parts: (string | Expr)[] = [start.value];
    for (;;) {
      const t = this.lx.next();
      if (t.kind === "path_end") break;
      if (t.kind === "path_str") parts.push(t.value);
      else if (t.kind === "interp") {
        parts.push(this.parseExpr());
        this.expectOp("}");
      } else this.fail(t);
    }
    return { kind: "path", parts: mergeLiterals(parts), baseDir: this.baseDir, pos: start.pos };
  }

  private parseIndStringRest(open: Token): StrExpr {
    const raw: (string | Expr)[] = [];
    for (;;) {
      const t = this.lx.next();
      if (t.kind === "ind_close") break;
      if (t.kind === "ind_str") raw.push(t.value);
      else if (t.kind === "interp") {
        raw.push(this.parseExpr());
        this.expectOp("}");
      } else this.fail(t, "\"''\"");
    }
    return { kind: "str", parts: stripIndentation(raw), pos: open.pos };
  }

  /** Bindings of an attribute set or let, up to (not including) `end`. */
  private parseBindings(end: "}" | "in", allowDynamic: boolean): Bindings {
    const b: Bindings = { static: new Map(), dynamic: [], inheritFrom: [] };
    for (;;) {
      const t = this.lx.peek();
      if ((end === "}" && this.isOp(t, "}")) || (end === "in" && this.isKw(t, "in"))) return b;
      if (this.isKw(t, "inherit")) {
        this.lx.next();
        let from: number | undefined;
        if (this.isOp(this.lx.peek(), "(")) {
          this.lx.next();
          b.inheritFrom.push(this.parseExpr());
          from = b.inheritFrom.length - 1;
          this.expectOp(")");
        }
        while (!this.isOp(this.lx.peek(), ";")) {
          const nt = this.lx.peek();
          const an = this.parseAttrName();
          if (an.kind === "dynamic") throw new ParseError("dynamic attributes not allowed in inherit", an.pos);
          const prev = b.static.get(an.name);
          if (prev) throw new ParseError(`attribute '${an.name}' already defined at ${formatPos(prev.pos)}`, an.pos);
          const value: Binding["value"] =
            from === undefined
              ? { kind: "inherit", expr: { kind: "var", name: an.name, pos: an.pos } as VarExpr }
              : { kind: "inheritFrom", from, name: an.name, pos: an.pos };
          b.static.set(an.name, { value, pos: nt.pos });
        }
        this.lx.next();
        continue;
      }
      if (t.kind === "eof") this.fail(t, end === "}" ? "'}'" : "'in'");
      const path = this.parseAttrPath();
      this.expectOp("=");
      const value = this.parseExpr();
      this.expectOp(";");
      this.addAttr(b, path, value, allowDynamic);
    }
  }

  /** Nix's addAttr: nested paths create or merge attribute sets. */
  private addAttr(b: Bindings, path: AttrName[], value: Expr, allowDynamic: boolean): void {
    const pathText = (n: number) => path.slice(0, n).map((a) => (a.kind === "static" ? a.name : '"${..}"')).join(".");
    let cur = b;
    for (let i = 0; i < path.length; i++) {
      const a = path[i];
      const last = i === path.length - 1;
      if (a.kind === "dynamic") {
        if (!allowDynamic) throw new ParseError("dynamic attributes not allowed in let", a.pos);
        if (last) cur.dynamic.push({ name: a.expr, value, pos: a.pos });
        else {
          const nested: AttrsExpr = { kind: "attrs", rec: false, bindings: { static: new Map(), dynamic: [], inheritFrom: [] }, pos: a.pos };
          cur.dynamic.push({ name: a.expr, value: nested, pos: a.pos });
          cur = nested.bindings;
        }
        continue;
      }
      const existing = cur.static.get(a.name);
      if (!last) {
        if (existing) {
          const e = existing.value.kind === "expr" ? existing.value.expr : undefined;
          if (!e || e.kind !== "attrs") throw new ParseError(`attribute '${pathText(i + 1)}' already defined at ${formatPos(existing.pos)}`, a.pos);
          cur = e.bindings;
        } else {
          const nested: AttrsExpr = { kind: "attrs", rec: false, bindings: { static: new Map(), dynamic: [], inheritFrom: [] }, pos: a.pos };
          cur.static.set(a.name, { value: { kind: "expr", expr: nested }, pos: a.pos });
          cur = nested.bindings;
        }
        continue;
      }
      if (existing) {
        const e = existing.value.kind === "expr" ? existing.value.expr : undefined;
        if (e && e.kind === "attrs" && value.kind === "attrs") {
          // merge `a = { ... }` into an existing `a.x = ...` set (and vice versa)
          const offset = e.bindings.inheritFrom.length;
          for (const [k, v] of value.bindings.static) {
            const dup = e.bindings.static.get(k);
            if (dup) throw new ParseError(`attribute '${pathText(i + 1)}.${k}' already defined at ${formatPos(dup.pos)}`, v.pos);
            e.bindings.static.set(k, v.value.kind === "inheritFrom" ? { ...v, value: { ...v.value, from: v.value.from + offset } } : v);
          }
          e.bindings.dynamic.push(...value.bindings.dynamic);
          e.bindings.inheritFrom.push(...value.bindings.inheritFrom);
          continue;
        }
        throw new ParseError(`attribute '${pathText(i + 1)}' already defined at ${formatPos(existing.pos)}`, a.pos);
      }
      if (value.kind === "lambda" && value.name === undefined) value.name = a.name;
      cur.static.set(a.name, { value: { kind: "expr", expr: value }, pos: a.pos });
    }
  }
}

function mergeLiterals(parts: (string | Expr)[]): (string | Expr)[] {
  const out: (string | Expr)[] = [];
  for (const p of parts) {
    if (typeof p === "string" && typeof out[out.length - 1] === "string") out[out.length - 1] = (out[out.length - 1] as string) + p;
    else out.push(p);
  }
  if (out.length === 0) out.push("");
  return out;
}

/** Nix's indentation stripping of '' strings (spaces only; tabs are content). */
function stripIndentation(parts: (string | Expr)[]): (string | Expr)[] {
  let minIndent = 1000000;
  let curIndent = 0;
  let atStart = true;
  for (const p of parts) {
    if (typeof p !== "string") {
      if (atStart) {
        atStart = false;
        if (curIndent < minIndent) minIndent = curIndent;
      }
      continue;
    }
    for (let i = 0; i < p.length; i++) {
      const c = p[i];
      if (atStart) {
        if (c === " ") curIndent++;
        else if (c === "\n") curIndent = 0;
        else {
          atStart = false;
          if (curIndent < minIndent) minIndent = curIndent;
        }
      } else if (c === "\n") {
        atStart = true;
        curIndent = 0;
      }
    }
  }
  const out: (string | Expr)[] = [];
  atStart = true;
  let dropped = 0;
  parts.forEach((p, idx) => {
    if (typeof p !== "string") {
      atStart = false;
      dropped = 0;
      out.push(p);
      return;
    }
    let s = "";
    for (let i = 0; i < p.length; i++) {
      const c = p[i];
      if (atStart) {
        if (c === " ") {
          if (dropped++ >= minIndent) s += c;
        } else if (c === "\n") {
          dropped = 0;
          s += c;
        } else {
          atStart = false;
          dropped = 0;
          s += c;
        }
      } else {
        s += c;
        if (c === "\n") atStart = true;
      }
    }
    if (idx === parts.length - 1) {
      // drop a last line consisting only of spaces
      const nl = s.lastIndexOf("\n");
      if (nl >= 0 && /^ *$/.test(s.slice(nl + 1))) s = s.slice(0, nl + 1);
    }
    out.push(s);
  });
  return mergeLiterals(out);
}
