// Printing values as `nix-instantiate --eval` (Nix 2.26) does.
import { sourcePos } from "./positions";
import { Lambda, Lazy, NixAttrs, NixFloat, NixPath, NixString, PrimOp, PrimOpApp, Thunk, Value, force } from "./value";

const KEYWORDS = new Set(["if", "then", "else", "assert", "with", "let", "in", "rec", "inherit"]);
const IDENT = /^[a-zA-Z_][a-zA-Z0-9_'-]*$/;

/** A lambda as Nix names it in error messages: «lambda NAME @ file:line:col». */
export function describeLambda(l: Lambda): string {
  const p = sourcePos(l.info.pos);
  return `«lambda${l.info.name ? " " + l.info.name : ""} @ ${p.file || "«string»"}:${p.line}:${p.column}»`;
}

export function printAttrName(name: string): string {
  return IDENT.test(name) && !KEYWORDS.has(name) ? name : quoteString(name);
}

export function quoteString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"' || c === "\\") out += "\\" + c;
    else if (c === "\n") out += "\\n";
    else if (c === "\r") out += "\\r";
    else if (c === "\t") out += "\\t";
    else if (c === "$" && s[i + 1] === "{") out += "\\$";
    else out += c;
  }
  return out + '"';
}

/** C's printf("%g") with the default precision 6, as std::ostream prints doubles. */
export function formatFloat(f: number): string {
  if (Number.isNaN(f)) return "nan";
  if (!Number.isFinite(f)) return f > 0 ? "inf" : "-inf";
  if (f === 0) return Object.is(f, -0) ? "-0" : "0";
  const exp = Math.floor(Math.log10(Math.abs(f)));
  let s = f.toExponential(5); // d.ddddde±x, rounded to 6 significant digits
  const [mant, e] = s.split("e");
  const x = Number(e);
  void exp;
  if (x < -4 || x >= 6) {
    const m = mant.replace(/\.?0+$/, "");
    return `${m}e${x < 0 ? "-" : "+"}${String(Math.abs(x)).padStart(2, "0")}`;
  }
  s = f.toFixed(Math.max(0, 5 - x));
  if (s.includes(".")) s = s.replace(/\.?0+$/, "");
  return s;
}

export function printValue(l: Lazy, opts: { strict?: boolean } = {}): string {
  const seen = new Set<unknown>();
  const parts: string[] = [];
  const go = (x: Lazy, top: boolean) => {
    if (x instanceof Thunk) {
      if (x.code !== null && !top) {
        parts.push("<CODE>");
        return;
      }
      x = force(x);
    }
    const v = x as Value;
    if (v === null) parts.push("null");
    else if (v === true) parts.push("true");
    else if (v === false) parts.push("false");
    else if (typeof v === "number" || typeof v === "bigint") parts.push(String(v));
    else if (v instanceof NixFloat) parts.push(formatFloat(v.v));
    else if (typeof v === "string") parts.push(quoteString(v));
    else if (v instanceof NixString) parts.push(quoteString(v.s));
    else if (v instanceof NixPath) parts.push(v.path);
    else if (Array.isArray(v)) {
      if (v.length > 0) {
        if (seen.has(v)) {
          parts.push("«repeated»");
          return;
        }
        seen.add(v);
      }
      parts.push("[ ");
      for (const e of v) {
        go(e, false);
        parts.push(" ");
      }
      parts.push("]");
    } else if (v instanceof NixAttrs) {
      if (v.size > 0) {
        if (seen.has(v)) {
          parts.push("«repeated»");
          return;
        }
        seen.add(v);
      }
      parts.push("{ ");
      for (let i = 0; i < v.names.length; i++) {
        parts.push(printAttrName(v.names[i]), " = ");
        go(v.values[i], false);
        parts.push("; ");
      }
      parts.push("}");
    } else if (v instanceof Lambda) parts.push("<LAMBDA>");
    else if (v instanceof PrimOp) parts.push("<PRIMOP>");
    else if (v instanceof PrimOpApp) parts.push("<PRIMOP-APP>");
    else parts.push("<UNKNOWN>");
  };
  void opts;
  go(l, true);
  return parts.join("");
}
