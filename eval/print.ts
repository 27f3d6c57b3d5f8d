// Printing values as `nix-instantiate --eval` (Nix 2.26) does.
import { sourcePos } from "./positions";
import { byteCount, decodeBytes, encodeBytes } from "./utf8";
import { Lambda, Lazy, NixAttrs, NixFloat, NixPath, NixString, PrimOp, PrimOpApp, Thunk, Value, beingEvaluated, force } from "./value";

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

/** How printValue prints: Nix's PrintOptions, as far as the printers here use them. */
interface PrintStyle {
  /** ValuePrinter's forms («thunk», «lambda ...»); else printAmbiguous's (<CODE>, <LAMBDA>) */
  trace: boolean;
  maxDepth: number;
  maxAttrs: number;
  maxItems: number;
  /** in bytes */
  maxString: number;
  /** a set's `type` attribute first (error messages) */
  typeFirst: boolean;
}

const AMBIGUOUS: PrintStyle = { trace: false, maxDepth: Infinity, maxAttrs: Infinity, maxItems: Infinity, maxString: Infinity, typeFirst: false };
const TRACE: PrintStyle = { ...AMBIGUOUS, trace: true };
/** Nix's errorPrintOptions: values in error messages ("expected a list but found a set: { a = 1; }"). */
const ERROR: PrintStyle = { trace: true, maxDepth: 10, maxAttrs: 10, maxItems: 10, maxString: 1024, typeFirst: true };

/** A value as an error message shows it (Nix's errorPrintOptions), without forcing anything. */
export function printErrorValue(v: Lazy): string {
  return printValue(v, { style: ERROR });
}

/**
 * A value as Nix prints it. By default as `nix-instantiate --eval` does
 * (printAmbiguous: `<CODE>`, `<LAMBDA>`, `<PRIMOP>`); with `trace`, as
 * builtins.trace does (Nix's ValuePrinter: `«thunk»`, `«lambda f @ pos»`,
 * `«primop map»`, `«partially applied primop map»`, and `«potential
 * infinite recursion»` for a value being evaluated). A set seen before is
 * `«repeated»` (trace: an empty one too), and so is a list seen before in the
 * same place: Nix keys lists by the Value that holds them, here the thunk
 * (or, without one, the list itself), so a list holding itself prints
 * once more inside before it repeats.
 */
export function printValue(l: Lazy, opts: { strict?: boolean; trace?: boolean; style?: PrintStyle } = {}): string {
  const style = opts.style ?? (opts.trace ? TRACE : AMBIGUOUS);
  const trace = style.trace;
  const seen = new Set<unknown>();
  const parts: string[] = [];
  // (the limits are for the whole value, as Nix's printer counts)
  let attrsPrinted = 0;
  let itemsPrinted = 0;
  const go = (x: Lazy, top: boolean, depth: number) => {
    const holder: unknown = x;
    if (x instanceof Thunk) {
      if (x.code !== null && !top) {
        parts.push(trace ? (beingEvaluated(x) ? "«potential infinite recursion»" : "«thunk»") : "<CODE>");
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
    else if (typeof v === "string" || v instanceof NixString) {
      const s = typeof v === "string" ? v : v.s;
      const n = style.maxString === Infinity ? 0 : byteCount(s);
      if (n > style.maxString) parts.push(quoteString(decodeBytes(encodeBytes(s).subarray(0, style.maxString))), ` «${n - style.maxString} bytes elided»`);
      else parts.push(quoteString(s));
    } else if (v instanceof NixPath) parts.push(v.path);
    else if (Array.isArray(v)) {
      if (v.length > 0) {
        if (seen.has(holder)) {
          parts.push("«repeated»");
          return;
        }
        seen.add(holder);
        if (depth >= style.maxDepth) {
          parts.push("[ ... ]");
          return;
        }
      }
      parts.push("[ ");
      for (let i = 0; i < v.length; i++) {
        if (itemsPrinted++ >= style.maxItems) {
          const n = v.length - i;
          parts.push(`«${n} item${n === 1 ? "" : "s"} elided» `);
          break;
        }
        go(v[i], false, depth + 1);
        parts.push(" ");
      }
      parts.push("]");
    } else if (v instanceof NixAttrs) {
      if (v.size > 0 || trace) {
        if (seen.has(v)) {
          parts.push("«repeated»");
          return;
        }
        seen.add(v);
      }
      if (v.size > 0 && depth >= style.maxDepth) {
        parts.push("{ ... }");
        return;
      }
      let order = v.names.map((_, i) => i);
      if (style.typeFirst) {
        const t = v.names.indexOf("type");
        if (t > 0) order = [t, ...order.filter((i) => i !== t)];
      }
      parts.push("{ ");
      for (let k = 0; k < order.length; k++) {
        if (attrsPrinted++ >= style.maxAttrs) {
          const n = order.length - k;
          parts.push(`«${n} attribute${n === 1 ? "" : "s"} elided» `);
          break;
        }
        const i = order[k];
        parts.push(printAttrName(v.names[i]), " = ");
        go(v.values[i], false, depth + 1);
        parts.push("; ");
      }
      parts.push("}");
    } else if (v instanceof Lambda) parts.push(trace ? describeLambda(v) : "<LAMBDA>");
    else if (v instanceof PrimOp) parts.push(trace ? `«primop ${v.name}»` : "<PRIMOP>");
    else if (v instanceof PrimOpApp) parts.push(trace ? `«partially applied primop ${v.op.name}»` : "<PRIMOP-APP>");
    else parts.push("<UNKNOWN>");
  };
  go(l, true, 0);
  return parts.join("");
}
