// The Nix syntax tree: the contract between the parser (parser.ts) and the
// compiler/evaluator. The parser does the purely syntactic desugaring Nix does
// at parse time:
//   - indented strings have their indentation stripped and escapes decoded;
//   - nested attribute paths in bindings are merged (`a.b = 1; a.c = 2;`
//     becomes `a = { b = 1; c = 2; }`), with "attribute 'a.b' already defined"
//     errors raised by the parser;
//   - `let { ...; body = e; }` (legacy let) becomes Select(rec-attrs, "body");
//   - URIs become string literals;
//   - `inherit x;` becomes a binding whose value is Var x marked `inherited`
//     (it resolves in the *enclosing* scope even inside rec/let);
//   - `inherit (e) x y;` stores e once in `inheritFrom` and the bindings refer
//     to it by index, so e is evaluated once and shared.

/**
 * A source position: a number in the position space of eval/positions.ts
 * (a source's base plus an offset), as C++ Nix's PosIdx. sourcePos() gives
 * its file, line and column.
 */
export type Pos = number;

/** A position's file ("" for -E / stdin), line and column (1-based; columns in characters). */
export interface SourcePos {
  file: string;
  line: number;
  column: number;
}

export type AttrName =
  | { kind: "static"; name: string; pos: Pos }
  | { kind: "dynamic"; expr: Expr; pos: Pos };

/** The value side of one binding in an attribute set or let. */
export type BindingValue =
  | { kind: "expr"; expr: Expr } // `name = expr;`
  | { kind: "inherit"; expr: VarExpr } // `inherit name;` (looked up outside rec/let scope)
  | { kind: "inheritFrom"; from: number; name: string; pos: Pos }; // `inherit (e) name;`

export interface Binding {
  value: BindingValue;
  pos: Pos; // position of the attribute name
}

export interface Bindings {
  /** Statically named attributes, in source order of first definition. */
  static: Map<string, Binding>;
  /** `"${e}" = v;` / `${e} = v;` entries (not allowed in let), in source order. */
  dynamic: { name: Expr; value: Expr; pos: Pos }[];
  /** The expressions of `inherit (e) ...;` clauses, indexed by BindingValue.from. */
  inheritFrom: Expr[];
}

export type Expr =
  | IntExpr
  | FloatExpr
  | StrExpr
  | PathExpr
  | SearchPathExpr
  | VarExpr
  | SelectExpr
  | HasAttrExpr
  | AttrsExpr
  | ListExpr
  | LambdaExpr
  | CallExpr
  | LetExpr
  | WithExpr
  | IfExpr
  | AssertExpr
  | NotExpr
  | NegExpr
  | BinOpExpr;

export interface IntExpr { kind: "int"; value: bigint; pos: Pos }
export interface FloatExpr { kind: "float"; value: number; pos: Pos }

/**
 * A string literal, plain or indented, possibly with interpolations. Literal
 * parts are already unescaped. A string with no interpolation has exactly one
 * string part (possibly "").
 */
export interface StrExpr { kind: "str"; parts: (string | Expr)[]; pos: Pos }

/**
 * A path literal. `parts` is the path text with interpolations, e.g.
 * `./foo/${x}.nix` is ["./foo/", x, ".nix"]. Resolution of relative paths
 * (against `baseDir`, the directory of the file being parsed, or the cwd for
 * -E) and of `~/` (against $HOME) happens at evaluation time.
 */
export interface PathExpr { kind: "path"; parts: (string | Expr)[]; baseDir: string; pos: Pos }

/** `<nixpkgs/lib>`: path is "nixpkgs/lib". Evaluates as `builtins.findFile builtins.nixPath path`. */
export interface SearchPathExpr { kind: "searchPath"; path: string; pos: Pos }

export interface VarExpr { kind: "var"; name: string; pos: Pos }

/** `e.a.b` or `e.a.b or default`. */
export interface SelectExpr { kind: "select"; expr: Expr; path: AttrName[]; default?: Expr; pos: Pos }

/** `e ? a.b` */
export interface HasAttrExpr { kind: "hasAttr"; expr: Expr; path: AttrName[]; pos: Pos }

export interface AttrsExpr { kind: "attrs"; rec: boolean; bindings: Bindings; pos: Pos }

export interface ListExpr { kind: "list"; elems: Expr[]; pos: Pos }

export interface Formal { name: string; default?: Expr; pos: Pos }

/**
 * `x: body`, `{ a, b ? 1, ... }: body`, `args@{ a }: body`, `{ a }@args: body`.
 * `arg` is the plain or `@` name; `formals` is present for pattern lambdas.
 */
export interface LambdaExpr {
  kind: "lambda";
  arg?: string;
  formals?: { entries: Formal[]; ellipsis: boolean };
  body: Expr;
  /** Name the lambda is bound to (`foo = x: ...`), for error traces; set by the parser where obvious. */
  name?: string;
  pos: Pos;
  /**
   * Set by the parse cache (ast-cache.ts) when `body` is decoded only when
   * first read: what compiling the lambda needs to know of it before then.
   */
  outline?: { let: boolean; letSize: number };
}

export interface CallExpr { kind: "call"; fn: Expr; arg: Expr; pos: Pos }

/** `let bindings in body`. bindings.dynamic is always empty. */
export interface LetExpr { kind: "let"; bindings: Bindings; body: Expr; pos: Pos }

export interface WithExpr { kind: "with"; env: Expr; body: Expr; pos: Pos }
export interface IfExpr { kind: "if"; cond: Expr; then: Expr; else: Expr; pos: Pos }
export interface AssertExpr { kind: "assert"; cond: Expr; body: Expr; pos: Pos }
export interface NotExpr { kind: "not"; expr: Expr; pos: Pos }
/** Unary minus. Nix evaluates `-e` as `__sub 0 e`. */
export interface NegExpr { kind: "neg"; expr: Expr; pos: Pos }

export type BinOp =
  | "+" | "-" | "*" | "/"
  | "++" | "//"
  | "==" | "!=" | "<" | "<=" | ">" | ">="
  | "&&" | "||" | "->";

export interface BinOpExpr { kind: "binop"; op: BinOp; left: Expr; right: Expr; pos: Pos }

/** `f a b c` as its function and arguments (the parser nests calls left to right). */
export function flattenCall(e: CallExpr): { fn: Expr; args: Expr[] } {
  const args: Expr[] = [];
  let f: Expr = e;
  while (f.kind === "call") {
    args.unshift(f.arg);
    f = f.fn;
  }
  return { fn: f, args };
}
