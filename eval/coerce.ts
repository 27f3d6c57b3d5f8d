// Coercion of values to strings (interpolation, toString, `+`), as C++
// Nix's coerceToString.
import type { Pos } from "./ast";
import { EvalError, Lambda, Lazy, NixAttrs, NixFloat, NixPath, NixString, Value, force, showType, EMPTY_CTX, elemForce } from "./value";
import type { EvalState } from "./state";
import { callFunction } from "./call";
import { describeLambda } from "./print";

export interface CoerceOptions {
  /** toString semantics: numbers, bools, null and lists coerce too. */
  coerceMore: boolean;
  /** Paths are copied to the store (interpolation) rather than kept as text. */
  copyToStore: boolean;
}

/** Nix's float formatting for toString (std::to_string: six decimals). */
// The options as shared objects (one allocation, not one per call).
/** Interpolation: strings, paths (copied to the store), sets with __toString or outPath. */
export const AS_INTERPOLATED: CoerceOptions = Object.freeze({ coerceMore: false, copyToStore: true });
/** builtins.toString: also numbers, Booleans, null and lists; paths stay text. */
export const AS_TO_STRING: CoerceOptions = Object.freeze({ coerceMore: true, copyToStore: false });
/** Strings, paths as text, sets with __toString or outPath. */
export const AS_TEXT: CoerceOptions = Object.freeze({ coerceMore: false, copyToStore: false });
/** As toString, with paths copied to the store. */
export const AS_TO_STRING_COPIED: CoerceOptions = Object.freeze({ coerceMore: true, copyToStore: true });

export function floatToString(f: number): string {
  if (!Number.isFinite(f)) return Number.isNaN(f) ? (Object.is(f, NaN) ? "nan" : "-nan") : f > 0 ? "inf" : "-inf";
  return f.toFixed(6);
}

export function coerceToString(state: EvalState, l: Lazy, pos: Pos | null, opts: CoerceOptions): string | NixString {
  const v = force(l);
  if (typeof v === "string" || v instanceof NixString) return v;
  if (v instanceof NixPath) {
    if (!opts.copyToStore) return v.path;
    const sp = state.copyPathToStore(v.path, pos);
    return new NixString(sp, new Set([sp]));
  }
  if (v instanceof NixAttrs) {
    const ts = v.get("__toString");
    if (ts !== undefined) {
      const r = callFunction(force(ts), v, pos);
      return coerceToString(state, r, pos, opts);
    }
    const out = v.get("outPath");
    if (out !== undefined) return coerceToString(state, out, pos, opts);
    throw new EvalError(`cannot coerce a set to a string: ${briefSet(v)}`, pos);
  }
  if (opts.coerceMore) {
    if (typeof v === "number" || typeof v === "bigint") return String(v);
    if (v instanceof NixFloat) return floatToString(v.v);
    if (v === true) return "1";
    if (v === false || v === null) return "";
    if (Array.isArray(v)) {
      let s = "";
      let ctx: Set<string> | null = null;
      for (let i = 0; i < v.length; i++) {
        const ev = elemForce(v, i);
        const part = coerceToString(state, ev, pos, opts);
        if (typeof part === "string") s += part;
        else {
          s += part.s;
          ctx ??= new Set();
          for (const c of part.ctx) ctx.add(c);
        }
        if (i < v.length - 1 && (!Array.isArray(ev) || ev.length !== 0)) s += " ";
      }
      return ctx ? new NixString(s, ctx) : s;
    }
  }
  throw new EvalError(`cannot coerce ${showType(v)} to a string${brief(v)}`, pos);
}

function brief(v: Value): string {
  if (typeof v === "bigint" || typeof v === "boolean" || typeof v === "number") return `: ${v}`;
  if (v instanceof NixFloat) return `: ${v.v}`;
  if (v instanceof Lambda) return `: ${describeLambda(v)}`;
  return "";
}

function briefSet(v: NixAttrs): string {
  const keys = v.keys();
  if (keys.length === 0) return "{ }";
  return `{ ${keys.slice(0, 3).map((k) => `${k} = «thunk»;`).join(" ")}${keys.length > 3 ? " «" + (keys.length - 3) + " attributes elided»" : ""} }`;
}

export { EMPTY_CTX };
