// The Nix parser: tokens -> syntax tree (ast.ts). Recursive descent for the
// statement-like forms, precedence climbing for operators, with the
// precedences and associativities of C++ Nix's grammar.
import { isStackOverflow, onTrialRun } from "./limits";
import type { AttrName, AttrsExpr, BinOp, Binding, Bindings, Expr, Formal, LambdaExpr, Pos, StrExpr, VarExpr } from "./ast";
import { Lexer, LexError, type Token } from "./lexer";
import { sourcePos } from "./positions";

export class ParseError extends Error {
  constructor(message: string, readonly pos: Pos) {
    super(message);
    this.name = "ParseError";
  }
}

export function formatPos(pos: Pos): string {
  const p = sourcePos(pos);
  return `${p.file === "" ? "«string»" : p.file}:${p.line}:${p.column}`;
}

// binary operator -> precedence (higher binds tighter); associativity below
const BINOP_PREC = new Map<string, number>([
  ["->", 1],
  ["||", 2],
  ["&&", 3],
  ["==", 4],
  ["!=", 4],
  ["<", 5],
  [">", 5],
  ["<=", 5],
  [">=", 5],
  ["//", 6],
  // 7: prefix "!"
  ["+", 8],
  ["-", 8],
  ["*", 9],
  ["/", 9],
  ["++", 10],
  ["?", 11],
  // 12: prefix "-"
]);
const NOT_PREC = 7;
const NEG_PREC = 12;
const isRightAssoc = (prec: number) => prec === 1 || prec === 6 || prec === 10;
const isNonAssoc = (prec: number) => prec === 4 || prec === 5 || prec === 11;

/** Token types (Token.t) that start a simple expression (`let` too when followed by `{`). */
const SIMPLE_START = new Set(["id", "int", "float", "path", "hpath", "spath", "uri", "str_open", "ind_open", "path_start", "(", "{", "[", "rec"]);

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

/**
 * Parses Nix source. `file` is "" for -E/stdin; relative paths resolve
 * against baseDir; `base` is the source's position if it is registered
 * already (positions.ts addOrigin).
 */
export function parse(source: string, file: string, baseDir: string, base?: Pos): Expr {
  const lx = new Lexer(source, file, base);
  try {
    const p = new Parser(lx, baseDir);
    const e = p.parseExpr();
    p.expectEof();
    return e;
  } catch (e) {
    if (e instanceof LexError) throw new ParseError(e.message, e.pos);
    // deeper nesting than this thread's stack allows (a trial run moves to the big stack)
    if (isStackOverflow(e) && !onTrialRun()) throw new ParseError("expression nested too deeply for the parser's stack", lx.base);
    throw e;
  }
}

// Most of the parsing happens before the JIT has warmed up, where every call
// costs: the grammar levels below are merged where that saves calls per
// token (parseOp includes the prefix operators, parseSelect the simple
// expressions), and tokens are tested by their interned type (Token.t).
// Tokens are requested from the lexer exactly when the original grammar
// functions did, so that a scan error and a parse error are reported in
// the same order.
class Parser {
  constructor(private readonly lx: Lexer, private readonly baseDir: string) {}

  /** A token's position. */
  private pos(t: Token): Pos {
    return this.lx.base + t.start;
  }

  private fail(t: Token, expecting?: string): never {
    throw new ParseError(`syntax error, unexpected ${describe(t)}${expecting ? `, expecting ${expecting}` : ""}`, this.pos(t));
  }

  /** Consumes the operator or keyword `v` (or fails). */
  private expect(v: string): Token {
    const t = this.lx.next();
    if (t.t !== v) this.fail(t, `'${v}'`);
    return t;
  }

  expectEof(): void {
    const t = this.lx.next();
    if (t.kind !== "eof") this.fail(t, "end of file");
  }

  // expr_function
  parseExpr(): Expr {
    const lx = this.lx;
    const t = lx.peek();
    switch (t.t) {
      case "id": {
        const t1 = lx.peekAt(1);
        if (t1.t === ":") {
          lx.next();
          lx.next();
          return { kind: "lambda", arg: t.value, body: this.parseExpr(), pos: this.pos(t) };
        }
        if (t1.t === "@" && lx.peekAt(2).t === "{") {
          lx.next();
          lx.next();
          return this.parseFormalsLambda(this.pos(t), t.value);
        }
        break;
      }
      case "{":
        if (this.looksLikeFormals()) return this.parseFormalsLambda(this.pos(t));
        break;
      case "assert": {
        lx.next();
        const cond = this.parseExpr();
        this.expect(";");
        return { kind: "assert", cond, body: this.parseExpr(), pos: this.pos(t) };
      }
      case "with": {
        lx.next();
        const env = this.parseExpr();
        this.expect(";");
        return { kind: "with", env, body: this.parseExpr(), pos: this.pos(t) };
      }
      case "let":
        if (lx.peekAt(1).t !== "{") {
          lx.next();
          const bindings = this.parseBindings("in", false);
          this.expect("in");
          return { kind: "let", bindings, body: this.parseExpr(), pos: this.pos(t) };
        }
        break;
      case "if": {
        lx.next();
        const cond = this.parseExpr();
        this.expect("then");
        const then = this.parseExpr();
        this.expect("else");
        return { kind: "if", cond, then, else: this.parseExpr(), pos: this.pos(t) };
      }
    }
    return this.parseOp(1);
  }

  /** After '{': decides between a formals pattern and an attribute set. */
  private looksLikeFormals(): boolean {
    const a = this.lx.peekAt(1);
    if (a.t === "}") {
      const b = this.lx.peekAt(2);
      return b.t === ":" || b.t === "@";
    }
    if (a.t === "...") return true;
    if (a.t === "id") {
      const b = this.lx.peekAt(2).t;
      return b === "," || b === "?" || b === "}";
    }
    return false;
  }

  private parseFormalsLambda(pos: Pos, atName?: string): Expr {
    const lx = this.lx;
    this.expect("{");
    const entries: Formal[] = [];
    let ellipsis = false;
    const seen = new Set<string>();
    for (;;) {
      const t = lx.next();
      if (t.t === "}") break;
      if (t.t === "...") {
        ellipsis = true;
        const c = lx.next();
        if (c.t !== "}") this.fail(c, "'}'");
        break;
      }
      if (t.kind !== "id") this.fail(t, "'}' or identifier");
      if (seen.has(t.value)) throw new ParseError(`duplicate formal function argument '${t.value}'`, this.pos(t));
      seen.add(t.value);
      let def: Expr | undefined;
      if (lx.peek().t === "?") {
        lx.next();
        def = this.parseExpr();
      }
      entries.push({ name: t.value, default: def, pos: this.pos(t) });
      const sep = lx.next();
      if (sep.t === "}") break;
      if (sep.t !== ",") this.fail(sep, "',' or '}'");
    }
    let arg = atName;
    if (!arg && lx.peek().t === "@") {
      lx.next();
      const n = lx.next();
      if (n.kind !== "id") this.fail(n, "identifier");
      arg = n.value;
    }
    if (arg !== undefined && seen.has(arg)) throw new ParseError(`duplicate formal function argument '${arg}'`, pos);
    this.expect(":");
    const body = this.parseExpr();
    const lam: LambdaExpr = { kind: "lambda", formals: { entries, ellipsis }, body, pos };
    if (arg !== undefined) lam.arg = arg;
    return lam;
  }

  /** Binary operators of precedence >= minPrec over prefix-operator and application operands. */
  private parseOp(minPrec: number): Expr {
    const lx = this.lx;
    let left: Expr;
    const p = lx.peek();
    if (p.t === "!") {
      lx.next();
      left = { kind: "not", expr: this.parseOp(NOT_PREC + 1), pos: this.pos(p) };
    } else if (p.t === "-") {
      lx.next();
      left = { kind: "neg", expr: this.parseOp(NEG_PREC), pos: this.pos(p) };
    } else left = this.parseApp();
    for (;;) {
      const t = lx.peek();
      // keyword and other token types never collide with operator text
      const prec = BINOP_PREC.get(t.t);
      if (prec === undefined || prec < minPrec) break;
      lx.next();
      if (prec === 11) {
        left = { kind: "hasAttr", expr: left, path: this.parseAttrPath(), pos: this.pos(t) };
      } else {
        const right = this.parseOp(isRightAssoc(prec) ? prec : prec + 1);
        left = { kind: "binop", op: t.value as BinOp, left, right, pos: this.pos(t) };
      }
      if (isNonAssoc(prec)) {
        const n = lx.peek();
        if (n.kind === "op" && BINOP_PREC.get(n.value) === prec) this.fail(n);
      }
    }
    return left;
  }

  private parseApp(): Expr {
    const lx = this.lx;
    let fn = this.parseSelect();
    for (;;) {
      const t = lx.peek().t;
      if (!SIMPLE_START.has(t) && !(t === "let" && lx.peekAt(1).t === "{")) return fn;
      const arg = this.parseSelect();
      fn = { kind: "call", fn, arg, pos: fn.pos };
    }
  }

  /** A simple expression, with `.attrpath` and `or default` after it. */
  private parseSelect(): Expr {
    const lx = this.lx;
    const e = this.parseSimple();
    const t = lx.peek();
    if (t.t === ".") {
      lx.next();
      const path = this.parseAttrPath();
      if (lx.peek().t === "or") {
        lx.next();
        return { kind: "select", expr: e, path, default: this.parseSelect(), pos: e.pos };
      }
      return { kind: "select", expr: e, path, pos: e.pos };
    }
    if (t.t === "or") {
      // legacy: `f or` applies f to a variable named "or"
      lx.next();
      return { kind: "call", fn: e, arg: { kind: "var", name: "or", pos: this.pos(t) }, pos: e.pos };
    }
    return e;
  }

  private parseAttrPath(): AttrName[] {
    const path: AttrName[] = [this.parseAttrName()];
    while (this.lx.peek().t === ".") {
      this.lx.next();
      path.push(this.parseAttrName());
    }
    return path;
  }

  private parseAttrName(): AttrName {
    const t = this.lx.next();
    switch (t.t) {
      case "id":
        return { kind: "static", name: t.value, pos: this.pos(t) };
      case "or":
        return { kind: "static", name: "or", pos: this.pos(t) };
      case "str_open":
        return this.staticIfPlain(this.parseStringRest(t), this.pos(t));
      case "${": {
        const e = this.parseExpr();
        this.expect("}");
        return this.staticIfPlain(e, this.pos(t));
      }
      default:
        return this.fail(t, "identifier or string");
    }
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
        return { kind: "var", name: t.value, pos: this.pos(t) };
      case "str_open":
        return this.parseStringRest(t);
      case "op":
        return this.parseBracketed(t);
      case "int": {
        const v = BigInt(t.value);
        if (v > 9223372036854775807n) throw new ParseError(`invalid integer '${t.value}'`, this.pos(t));
        return { kind: "int", value: v, pos: this.pos(t) };
      }
      case "float":
        return { kind: "float", value: parseFloat(t.value), pos: this.pos(t) };
      case "ind_open":
        return this.parseIndStringRest(t);
      case "path":
      case "hpath":
        return { kind: "path", parts: [t.value], baseDir: this.baseDir, pos: this.pos(t) };
      case "path_start":
        return this.parsePathRest(t);
      case "spath":
        return { kind: "searchPath", path: t.value, pos: this.pos(t) };
      case "uri":
        return { kind: "str", parts: [t.value], pos: this.pos(t) };
      case "kw":
        if (t.value === "rec") {
          this.expect("{");
          const bindings = this.parseBindings("}", true);
          this.expect("}");
          return { kind: "attrs", rec: true, bindings, pos: this.pos(t) };
        }
        if (t.value === "let") {
          // legacy `let { ...; body = e; }`
          this.expect("{");
          const bindings = this.parseBindings("}", true);
          this.expect("}");
          const attrs: AttrsExpr = { kind: "attrs", rec: true, bindings, pos: this.pos(t) };
          return { kind: "select", expr: attrs, path: [{ kind: "static", name: "body", pos: this.pos(t) }], pos: this.pos(t) };
        }
        return this.fail(t);
      default:
        return this.fail(t);
    }
  }

  /** `( e )`, `{ bindings }` or `[ elems ]` after its opening token `t`. */
  private parseBracketed(t: Token): Expr {
    const lx = this.lx;
    switch (t.t) {
      case "(": {
        const e = this.parseExpr();
        this.expect(")");
        return e;
      }
      case "{": {
        const bindings = this.parseBindings("}", true);
        this.expect("}");
        return { kind: "attrs", rec: false, bindings, pos: this.pos(t) };
      }
      case "[": {
        const elems: Expr[] = [];
        for (let n = lx.peek(); n.t !== "]"; n = lx.peek()) {
          if (n.kind === "eof") this.fail(n);
          elems.push(this.parseSelect());
        }
        lx.next();
        return { kind: "list", elems, pos: this.pos(t) };
      }
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
        this.expect("}");
      } else this.fail(t, "'\"'");
    }
    return { kind: "str", parts: mergeLiterals(parts), pos: this.pos(open) };
  }

  private parsePathRest(start: Token): Expr {
    const parts: (string | Expr)[] = [start.value];
    for (;;) {
      const t = this.lx.next();
      if (t.kind === "path_end") break;
      if (t.kind === "path_str") parts.push(t.value);
      else if (t.kind === "interp") {
        parts.push(this.parseExpr());
        this.expect("}");
      } else this.fail(t);
    }
    return { kind: "path", parts: mergeLiterals(parts), baseDir: this.baseDir, pos: this.pos(start) };
  }

  private parseIndStringRest(open: Token): StrExpr {
    const raw: (string | Expr | Escaped)[] = [];
    for (;;) {
      const t = this.lx.next();
      if (t.kind === "ind_close") break;
      if (t.kind === "ind_str") raw.push(t.value);
      else if (t.kind === "ind_esc") raw.push(new Escaped(t.value));
      else if (t.kind === "interp") {
        raw.push(this.parseExpr());
        this.expect("}");
      } else this.fail(t, "\"''\"");
    }
    return { kind: "str", parts: stripIndentation(raw, this.lx.hasNul), pos: this.pos(open) };
  }

  /** Bindings of an attribute set or let, up to (not including) `end`. */
  private parseBindings(end: "}" | "in", allowDynamic: boolean): Bindings {
    const lx = this.lx;
    const b: Bindings = { static: new Map(), dynamic: [], inheritFrom: [] };
    for (;;) {
      const t = lx.peek();
      if (t.t === end) return b;
      if (t.t === "inherit") {
        lx.next();
        this.parseInherit(b);
        continue;
      }
      if (t.kind === "eof") this.fail(t, end === "}" ? "'}'" : "'in'");
      const path = this.parseAttrPath();
      this.expect("=");
      const value = this.parseExpr();
      this.expect(";");
      const a = path[0];
      if (path.length === 1 && a.kind === "static" && !b.static.has(a.name)) {
        // the common case `name = value;` (what addAttr does for it)
        if (value.kind === "lambda" && value.name === undefined) value.name = a.name;
        b.static.set(a.name, { value: { kind: "expr", expr: value }, pos: a.pos });
      } else this.addAttr(b, path, value, allowDynamic);
    }
  }

  /** `inherit a b;` or `inherit (e) a b;` after the `inherit` keyword. */
  private parseInherit(b: Bindings): void {
    const lx = this.lx;
    let from: number | undefined;
    if (lx.peek().t === "(") {
      lx.next();
      b.inheritFrom.push(this.parseExpr());
      from = b.inheritFrom.length - 1;
      this.expect(")");
    }
    while (lx.peek().t !== ";") {
      const nt = lx.peek();
      const an = this.parseAttrName();
      if (an.kind === "dynamic") throw new ParseError("dynamic attributes not allowed in inherit", an.pos);
      const prev = b.static.get(an.name);
      if (prev) throw new ParseError(`attribute '${an.name}' already defined at ${formatPos(prev.pos)}`, an.pos);
      const value: Binding["value"] =
        from === undefined
          ? { kind: "inherit", expr: { kind: "var", name: an.name, pos: an.pos } as VarExpr }
          : { kind: "inheritFrom", from, name: an.name, pos: an.pos };
      b.static.set(an.name, { value, pos: this.pos(nt) });
    }
    lx.next();
  }

  /** Nix's addAttr: nested paths create or merge attribute sets. */
  private addAttr(b: Bindings, path: AttrName[], value: Expr, allowDynamic: boolean): void {
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
          if (!e || e.kind !== "attrs") throw new ParseError(`attribute '${pathText(path, i + 1)}' already defined at ${formatPos(existing.pos)}`, a.pos);
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
            if (dup) throw new ParseError(`attribute '${pathText(path, i + 1)}.${k}' already defined at ${formatPos(dup.pos)}`, v.pos);
            e.bindings.static.set(k, v.value.kind === "inheritFrom" ? { ...v, value: { ...v.value, from: v.value.from + offset } } : v);
          }
          e.bindings.dynamic.push(...value.bindings.dynamic);
          e.bindings.inheritFrom.push(...value.bindings.inheritFrom);
          continue;
        }
        throw new ParseError(`attribute '${pathText(path, i + 1)}' already defined at ${formatPos(existing.pos)}`, a.pos);
      }
      if (value.kind === "lambda" && value.name === undefined) value.name = a.name;
      cur.static.set(a.name, { value: { kind: "expr", expr: value }, pos: a.pos });
    }
  }
}

/** The first n names of an attribute path, for error messages. */
function pathText(path: AttrName[], n: number): string {
  return path
    .slice(0, n)
    .map((a) => (a.kind === "static" ? a.name : '"${..}"'))
    .join(".");
}

/** Joins adjacent literal parts; an empty list becomes [""]. */
function mergeLiterals(parts: (string | Expr)[]): (string | Expr)[] {
  if (parts.length === 1) return parts;
  const out: (string | Expr)[] = [];
  for (const p of parts) {
    if (typeof p === "string" && typeof out[out.length - 1] === "string") out[out.length - 1] = (out[out.length - 1] as string) + p;
    else out.push(p);
  }
  if (out.length === 0) out.push("");
  return out;
}

/** The text of an escape in a '' string (`''$`, `'''`, `''\x`). */
class Escaped {
  constructor(readonly text: string) {}
}

/**
 * Nix's indentation stripping of '' strings (spaces only; tabs are content):
 * the smallest indentation of the lines that have content (interpolations
 * and escapes count as content, even an escaped space or newline) is removed
 * from every line, and a last line of only spaces is dropped. An escape's
 * text is then stripped as if it were plain text (so `''\ ` at the start of
 * a line is a space that may be removed). Works on runs of characters, not
 * one at a time.
 */
function stripIndentation(parts: (string | Expr | Escaped)[], hasNul = false): (string | Expr)[] {
  const minIndent = minIndentation(parts);
  const out: (string | Expr)[] = [];
  let atStart = true;
  let dropped = 0; // spaces seen so far at the start of the current line
  for (let idx = 0; idx < parts.length; idx++) {
    const part = parts[idx];
    const p = part instanceof Escaped ? part.text : part;
    if (typeof p !== "string") {
      atStart = false;
      dropped = 0;
      out.push(p);
      continue;
    }
    let s = "";
    let i = 0;
    while (i < p.length) {
      if (atStart) {
        let j = i;
        while (p.charCodeAt(j) === 32) j++;
        // keep the spaces beyond the first minIndent of this line
        const keep = dropped + (j - i) - Math.max(dropped, minIndent);
        if (keep > 0) s += " ".repeat(keep);
        dropped += j - i;
        i = j;
        if (i >= p.length) break;
        dropped = 0;
        if (p.charCodeAt(i) === 10) {
          s += "\n";
          i++;
          continue;
        }
        atStart = false;
      }
      const nl = p.indexOf("\n", i);
      if (nl < 0) {
        s += p.slice(i);
        break;
      }
      s += p.slice(i, nl + 1);
      i = nl + 1;
      atStart = true;
    }
    if (idx === parts.length - 1) {
      // drop a last line consisting only of spaces
      const nl = s.lastIndexOf("\n");
      if (nl >= 0 && /^ *$/.test(s.slice(nl + 1))) s = s.slice(0, nl + 1);
    }
    // an escaped NUL (`''\<NUL>`) ends its piece: Nix keeps each piece as a C string
    if (hasNul && s.includes("\0")) s = s.slice(0, s.indexOf("\0"));
    out.push(s);
  }
  return mergeLiterals(out);
}

/** The indentation stripIndentation removes: the least of the lines with content. */
function minIndentation(parts: (string | Expr | Escaped)[]): number {
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
    let i = 0;
    while (i < p.length) {
      if (atStart) {
        const c = p.charCodeAt(i);
        if (c === 32) curIndent++;
        else if (c === 10) curIndent = 0;
        else {
          atStart = false;
          if (curIndent < minIndent) minIndent = curIndent;
        }
        i++;
        continue;
      }
      // skip the rest of a line with content
      const nl = p.indexOf("\n", i);
      if (nl < 0) break;
      i = nl + 1;
      atStart = true;
      curIndent = 0;
    }
  }
  return minIndent;
}
