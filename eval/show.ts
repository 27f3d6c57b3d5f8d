// Prints a syntax tree the way Nix's Expr::show does (nix-instantiate
// --parse, and the expression text in "assertion ... failed" messages):
// fully parenthesised, operators desugared to the builtins Nix calls
// (`a - b` is `(__sub a b)`), attributes sorted with inherits first.
import { flattenCall, type AttrName, type Bindings, type Expr } from "./ast";
import { compareStrings } from "./value";
import { formatFloat, printAttrName, quoteString } from "./print";
import { canonPath } from "./paths";

/** Nix string literal syntax (the same escaping as value printing). */
export const showString = quoteString;

/** A dynamic name that is a constant string is a static name to Nix. */
function constName(a: AttrName): string | null {
  if (a.kind === "static") return a.name;
  const e = a.expr;
  return e.kind === "str" && e.parts.length === 1 && typeof e.parts[0] === "string" ? e.parts[0] : null;
}

function showAttrPath(path: AttrName[]): string {
  return path
    .map((a) => {
      const n = constName(a);
      return n !== null ? printAttrName(n) : `"\${${showExpr((a as { expr: Expr }).expr)}}"`;
    })
    .join(".");
}

function showParts(parts: (string | Expr)[]): string {
  return `(${parts.map((p) => (typeof p === "string" ? showString(p) : showExpr(p))).join(" + ")})`;
}

function showBindings(b: Bindings): string {
  type Entry = { name: string; text: string };
  const plain: Entry[] = [];
  const inherits: string[] = [];
  const froms = new Map<number, string[]>();
  const dynamic: string[] = [];
  for (const [name, bind] of b.static) {
    const v = bind.value;
    if (v.kind === "expr") plain.push({ name, text: showExpr(v.expr) });
    else if (v.kind === "inherit") inherits.push(name);
    else {
      const l = froms.get(v.from) ?? [];
      l.push(name);
      froms.set(v.from, l);
    }
  }
  for (const d of b.dynamic) {
    const n = constName({ kind: "dynamic", expr: d.name, pos: d.pos });
    if (n !== null) plain.push({ name: n, text: showExpr(d.value) });
    else dynamic.push(`"\${${showExpr(d.name)}}" = ${showExpr(d.value)}; `);
  }
  const byName = (a: string, b: string) => compareStrings(a, b);
  let out = "";
  if (inherits.length) out += `inherit ${inherits.sort(byName).map(printAttrName).join(" ")}; `;
  for (const [from, names] of [...froms].sort((x, y) => x[0] - y[0]))
    out += `inherit (${showExpr(b.inheritFrom[from])}) ${names.sort(byName).map(printAttrName).join(" ")}; `;
  for (const e of plain.sort((x, y) => byName(x.name, y.name))) out += `${printAttrName(e.name)} = ${e.text}; `;
  return out + dynamic.join("");
}

const CALLS: Record<string, (l: string, r: string) => string> = {
  "<": (l, r) => `(__lessThan ${l} ${r})`,
  ">": (l, r) => `(__lessThan ${r} ${l})`,
  "<=": (l, r) => `(! (__lessThan ${r} ${l}))`,
  ">=": (l, r) => `(! (__lessThan ${l} ${r}))`,
  "-": (l, r) => `(__sub ${l} ${r})`,
  "*": (l, r) => `(__mul ${l} ${r})`,
  "/": (l, r) => `(__div ${l} ${r})`,
};

export function showExpr(e: Expr): string {
  switch (e.kind) {
    case "int":
      return String(e.value);
    case "float":
      return formatFloat(e.value);
    case "str":
      if (e.parts.length === 1 && typeof e.parts[0] === "string") return showString(e.parts[0]);
      return showParts(e.parts);
    case "path":
      if (e.parts.length === 1 && typeof e.parts[0] === "string") {
        const p = e.parts[0];
        return p.startsWith("/") || p.startsWith("~") ? p : canonPath(`${e.baseDir}/${p}`);
      }
      return showParts(e.parts);
    case "searchPath":
      return `(__findFile __nixPath ${showString(e.path)})`;
    case "var":
      return e.name;
    case "select":
      return `(${showExpr(e.expr)}).${showAttrPath(e.path)}${e.default ? ` or (${showExpr(e.default)})` : ""}`;
    case "hasAttr":
      return `((${showExpr(e.expr)}) ? ${showAttrPath(e.path)})`;
    case "attrs":
      return `${e.rec ? "rec " : ""}{ ${showBindings(e.bindings)}}`;
    case "list":
      return `[ ${e.elems.map((x) => `(${showExpr(x)}) `).join("")}]`;
    case "lambda": {
      let head = "";
      if (e.formals) {
        const fs = [...e.formals.entries].sort((a, b) => compareStrings(a.name, b.name)).map((f) => (f.default ? `${f.name} ? ${showExpr(f.default)}` : f.name));
        if (e.formals.ellipsis) fs.push("...");
        head = fs.length ? `{ ${fs.join(", ")} }` : "{ }";
        if (e.arg !== undefined) head += ` @ ${e.arg}`;
      } else head = e.arg!;
      return `(${head}: ${showExpr(e.body)})`;
    }
    case "call": {
      const { fn, args } = flattenCall(e);
      return `(${showExpr(fn)} ${args.map(showExpr).join(" ")})`;
    }
    case "let":
      return `(let ${showBindings(e.bindings)}in ${showExpr(e.body)})`;
    case "with":
      return `(with ${showExpr(e.env)}; ${showExpr(e.body)})`;
    case "if":
      return `(if ${showExpr(e.cond)} then ${showExpr(e.then)} else ${showExpr(e.else)})`;
    case "assert":
      return `assert ${showExpr(e.cond)}; ${showExpr(e.body)}`;
    case "not":
      return `(! ${showExpr(e.expr)})`;
    case "neg":
      return `(__sub 0 ${showExpr(e.expr)})`;
    case "binop": {
      const l = showExpr(e.left);
      const r = showExpr(e.right);
      const call = CALLS[e.op];
      return call ? call(l, r) : `(${l} ${e.op} ${r})`;
    }
  }
}
