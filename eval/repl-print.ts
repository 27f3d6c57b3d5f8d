// Printing values as nix repl (Nix 2.26) does: values forced as they are
// printed, sets and lists of more than one item (or of one set or list)
// over several lines indented by two, nesting shown to `maxDepth` levels
// (deeper ones as `{ ... }` and `[ ... ]`), derivations as
// «derivation /nix/store/….drv», a value seen before as «repeated», and
// an item that fails to evaluate as «error: message». ANSI colours when
// asked (on a terminal, unless NO_COLOR).
import { describeLambda, formatFloat, printAttrName, quoteString } from "./print";
import { Lambda, Lazy, NixAttrs, NixFloat, NixPath, NixString, PrimOp, PrimOpApp, Value, force, materialize, EvalError } from "./value";
import { isDerivation } from "./operators";
import { callDepthNow, restoreCallDepth } from "./call";
import { passFatal } from "./limits";

export interface ReplPrintOptions {
  /** levels of sets and lists shown (Infinity for :p) */
  maxDepth: number;
  colour: boolean;
  /** a string at the top is printed as it is, not quoted (:p) */
  rawTopString?: boolean;
}

const C = { num: "\x1b[36;1m", str: "\x1b[35;1m", fn: "\x1b[34;1m", drv: "\x1b[32;1m", err: "\x1b[31;1m", reset: "\x1b[0m" };

export function replPrint(v: Lazy, opts: ReplPrintOptions): string {
  const seen = new Set<unknown>();
  const paint = (c: string, s: string) => (opts.colour ? c + s + C.reset : s);
  const indent = (d: number) => "  ".repeat(d);

  /** forces `x`; an error becomes «error: …» (below the top: the top's error is the caller's) */
  const forced = (x: Lazy): { v: Value } | { err: string } => {
    const depth = callDepthNow();
    try {
      return { v: force(x) };
    } catch (e) {
      passFatal(e);
      if ((e as Error)?.name === "Interrupted") throw e; // Ctrl-C stops the whole printing
      restoreCallDepth(depth);
      return { err: e instanceof EvalError ? e.message : (e as Error)?.message ?? String(e) };
    }
  };

  const drvPath = (a: NixAttrs): string => {
    const p = a.get("drvPath");
    if (p === undefined) return "«derivation»";
    const f = forced(p);
    if ("err" in f) return "«derivation»";
    const s = f.v instanceof NixString ? f.v.s : typeof f.v === "string" ? f.v : "???";
    return `«derivation ${s}»`;
  };

  const big = (items: Lazy[]): boolean => {
    if (items.length > 1) return true;
    if (items.length === 0) return false;
    const f = forced(items[0]);
    return "v" in f && (Array.isArray(f.v) || f.v instanceof NixAttrs);
  };

  const go = (x: Lazy, depth: number): string => {
    const f = forced(x);
    if ("err" in f) return paint(C.err, `«error: ${f.err}»`);
    const v = f.v;
    if (v === null) return paint(C.num, "null");
    if (v === true || v === false) return paint(C.num, String(v));
    if (typeof v === "number" || typeof v === "bigint") return paint(C.num, String(v));
    if (v instanceof NixFloat) return paint(C.num, formatFloat(v.v));
    if (typeof v === "string" || v instanceof NixString) {
      const s = typeof v === "string" ? v : v.s;
      return depth === 0 && opts.rawTopString ? s : paint(C.str, quoteString(s));
    }
    if (v instanceof NixPath) return paint(C.drv, v.path);
    if (v instanceof Lambda) return paint(C.fn, describeLambda(v));
    if (v instanceof PrimOp) return paint(C.fn, `«primop ${v.name}»`);
    if (v instanceof PrimOpApp) return paint(C.fn, `«partially applied primop ${v.op.name}»`);
    if (v instanceof NixAttrs) {
      if (isDerivation(v)) return paint(C.drv, drvPath(v));
      if (v.size > 0 && seen.has(v)) return paint(C.str, "«repeated»");
      seen.add(v);
      if (depth >= opts.maxDepth) return "{ ... }";
      if (v.size === 0) return "{ }";
      const items = v.values as Lazy[];
      if (!big(items)) return `{ ${printAttrName(v.names[0])} = ${go(items[0], depth + 1)}; }`;
      let out = "{\n";
      for (let i = 0; i < v.names.length; i++) out += `${indent(depth + 1)}${printAttrName(v.names[i])} = ${go(items[i], depth + 1)};\n`;
      return out + indent(depth) + "}";
    }
    if (Array.isArray(v)) {
      if (v.length > 0 && seen.has(v)) return paint(C.str, "«repeated»");
      seen.add(v);
      if (depth >= opts.maxDepth) return "[ ... ]";
      if (v.length === 0) return "[ ]";
      const items = materialize(v);
      if (!big(items)) return `[ ${go(items[0], depth + 1)} ]`;
      let out = "[\n";
      for (const e of items) out += `${indent(depth + 1)}${go(e, depth + 1)}\n`;
      return out + indent(depth) + "]";
    }
    return "«unknown»";
  };
  // the top value's own error is the caller's to report in full
  force(v);
  return go(v, 0);
}
