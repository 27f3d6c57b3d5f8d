// toJSON and fromJSON.
import type { Pos } from "../ast";
import { EvalError, StackOverflow, Lazy, Thunk, NixAttrs, NixFloat, NixPath, NixString, Value, force, forceStringValue, strValue, isFunction, mkString, ctxOf, mkInt, materialize } from "../value";
import type { Definer } from "./registry";
import type { EvalState } from "../state";
import { coerceToString, AS_INTERPOLATED } from "../coerce";
import { callFunction, isApplication } from "../call";
import { nulError } from "../lexer";
import { hasRawBytes, utf8Complaint } from "../utf8";

export function register(def: Definer): void {
  def("toJSON", 1, ([v], pos, state) => {
    const ctx = new Set<string>();
    const s = toJSON(state, v, pos, ctx);
    return mkString(s, ctx);
  });
  def("fromJSON", 1, ([s], pos) => new JsonParser(strValue(forceStringValue(s, pos)), pos).parseTop());
}

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\x00-\x1f]/;
// eslint-disable-next-line no-control-regex
const ESCAPED = /["\\\x00-\x1f]/g;

function escapeChar(ch: string): string {
  switch (ch) {
    case '"':
      return '\\"';
    case "\\":
      return "\\\\";
    case "\n":
      return "\\n";
    case "\r":
      return "\\r";
    case "\t":
      return "\\t";
    case "\b":
      return "\\b";
    case "\f":
      return "\\f";
    default:
      return "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0");
  }
}

/** JSON string escaping as nlohmann::json dumps it: quotes, backslashes and control characters below 0x20 (not DEL); most strings need none, one regex test. */
export function jsonString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  return '"' + s.replace(ESCAPED, escapeChar) + '"';
}

/** Floats as nlohmann::json prints them (shortest round trip, always with a '.' or exponent). */
/**
 * Doubles as nlohmann::json (C++ Nix's JSON writer) prints them: the
 * shortest round-trip digits, fixed notation with ".0" for integral values
 * up to 15 digits, else exponent notation like "1e+20" or "1.5e-07".
 */
export function jsonFloat(f: number): string {
  if (!Number.isFinite(f)) return "null";
  if (f === 0) return Object.is(f, -0) ? "-0.0" : "0.0";
  const sign = f < 0 ? "-" : "";
  const [m, e] = Math.abs(f).toExponential().split("e");
  const digits = m.replace(".", "");
  const k = digits.length;
  const n = Number(e) + 1; // value = 0.digits * 10^n
  let body: string;
  if (k <= n && n <= 15) body = digits + "0".repeat(n - k) + ".0";
  else if (0 < n && n <= 15) body = digits.slice(0, n) + "." + digits.slice(n);
  else if (-4 < n && n <= 0) body = "0." + "0".repeat(-n) + digits;
  else {
    const x = n - 1;
    const exp = `e${x < 0 ? "-" : "+"}${String(Math.abs(x)).padStart(2, "0")}`;
    body = (k === 1 ? digits : digits[0] + "." + digits.slice(1)) + exp;
  }
  return sign + body;
}

/** A string as JSON text: nlohmann::json refuses bytes that are not UTF-8. */
function utf8Text(s: string, pos: Pos | null): string {
  if (!hasRawBytes(s)) return s;
  const r = utf8Complaint(s);
  if ("error" in r) throw new EvalError(`JSON serialization error: [json.exception.type_error.316] ${r.error}`, pos);
  return r.text;
}

/**
 * How many lists and sets toJSON enters one inside the other before it stops
 * as Nix does when its native stack runs out: Nix 2.26 converts 95,000
 * nested lists and 90,000 nested sets, and not 100,000 (also not from
 * derivation's __structuredAttrs). A cyclic or runaway structure then fails
 * in bounded time.
 */
const MAX_JSON_DEPTH = 97_000;


/**
 * The JSON of a value. With `forceThunks` false (`nix-instantiate --eval
 * --json` without --strict), an unevaluated thunk is an error, as in Nix.
 * The text is collected in pieces and joined once (a nested value's text is
 * never copied into its parent's).
 */
export function toJSON(state: EvalState, l: Lazy, pos: Pos | null, ctx: Set<string>, forceThunks = true): string {
  const out: string[] = [];
  writeJSON(state, l, pos, ctx, forceThunks, out, 0);
  return out.length === 1 ? out[0] : out.join("");
}

function writeJSON(state: EvalState, l: Lazy, pos: Pos | null, ctx: Set<string>, forceThunks: boolean, out: string[], depth: number): void {
  if (!forceThunks && l instanceof Thunk && l.code !== null) {
    const err = new EvalError(`cannot convert ${isApplication(l) ? "a function application" : "a thunk"} to JSON`, pos);
    err.ownPos = true; // shown even where the trace shows the same position, as Nix does
    throw err;
  }
  const v = force(l);
  if (v === null) out.push("null");
  else if (typeof v === "boolean") out.push(v ? "true" : "false");
  else if (typeof v === "number" || typeof v === "bigint") out.push(String(v));
  else if (v instanceof NixFloat) out.push(jsonFloat(v.v));
  else if (typeof v === "string") out.push(jsonString(utf8Text(v, pos)));
  else if (v instanceof NixString) {
    for (const c of v.ctx) ctx.add(c);
    out.push(jsonString(utf8Text(v.s, pos)));
  } else if (v instanceof NixPath) {
    const s = coerceToString(state, v, pos, AS_INTERPOLATED);
    for (const c of ctxOf(s)) ctx.add(c);
    out.push(jsonString(strValue(s)));
  } else if (Array.isArray(v)) {
    if (depth >= MAX_JSON_DEPTH) throw new StackOverflow();
    const xs = materialize(v);
    out.push("[");
    for (let i = 0; i < xs.length; i++) {
      if (i > 0) out.push(",");
      try {
        writeJSON(state, xs[i], pos, ctx, forceThunks, out, depth + 1);
      } catch (err) {
        // --json output names the element, as Nix 2.26 does; builtins.toJSON's traces stay as they were
        if (!forceThunks && err instanceof EvalError) err.addTrace(`while evaluating list element at index ${i}`);
        throw err;
      }
    }
    out.push("]");
  } else if (v instanceof NixAttrs) {
    const ts = v.get("__toString");
    if (ts !== undefined) {
      const s = coerceToString(state, callFunction(force(ts), v, pos), pos, AS_INTERPOLATED);
      for (const c of ctxOf(s)) ctx.add(c);
      out.push(jsonString(strValue(s)));
      return;
    }
    if (depth >= MAX_JSON_DEPTH) throw new StackOverflow();
    const outPath = v.get("outPath");
    if (outPath !== undefined) return writeJSON(state, outPath, pos, ctx, forceThunks, out, depth + 1);
    const keys = v.keys();
    out.push("{");
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (i > 0) out.push(",");
      out.push(jsonString(utf8Text(k, pos)), ":");
      const at = forceThunks ? pos : (v.positions?.get(k) ?? pos);
      try {
        writeJSON(state, v.get(k)!, at, ctx, forceThunks, out, depth + 1);
      } catch (e) {
        if (e instanceof EvalError) e.addTrace(`while evaluating attribute '${k}'`, forceThunks ? undefined : at);
        throw e;
      }
    }
    out.push("}");
  } else if (isFunction(v)) throw new EvalError("cannot convert a function to JSON", pos);
  else throw new EvalError(`cannot convert ${typeof v} to JSON`, pos);
}

class JsonParser {
  i = 0;
  constructor(private readonly s: string, private readonly pos: Pos | null) {}

  fail(msg: string): never {
    throw new EvalError(`JSON parse error: ${msg} at offset ${this.i}`, this.pos);
  }

  ws(): void {
    while (this.i < this.s.length && " \t\n\r".includes(this.s[this.i])) this.i++;
  }

  parseTop(): Value {
    this.ws();
    const v = this.value();
    this.ws();
    if (this.i !== this.s.length) this.fail("trailing characters");
    return v;
  }

  value(): Value {
    this.ws();
    const c = this.s[this.i];
    if (c === "{") {
      this.i++;
      const m = new Map<string, Lazy>();
      this.ws();
      if (this.s[this.i] === "}") {
        this.i++;
        return NixAttrs.fromMap(m);
      }
      for (;;) {
        this.ws();
        if (this.s[this.i] !== '"') this.fail("expected a string key");
        const k = this.str();
        this.ws();
        if (this.s[this.i] !== ":") this.fail("expected ':'");
        this.i++;
        m.set(k, this.value());
        this.ws();
        if (this.s[this.i] === ",") {
          this.i++;
          continue;
        }
        if (this.s[this.i] === "}") {
          this.i++;
          return NixAttrs.fromMap(m);
        }
        this.fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      this.i++;
      const out: Lazy[] = [];
      this.ws();
      if (this.s[this.i] === "]") {
        this.i++;
        return out;
      }
      for (;;) {
        out.push(this.value());
        this.ws();
        if (this.s[this.i] === ",") {
          this.i++;
          continue;
        }
        if (this.s[this.i] === "]") {
          this.i++;
          return out;
        }
        this.fail("expected ',' or ']'");
      }
    }
    if (c === '"') return this.str();
    if (this.s.startsWith("true", this.i)) {
      this.i += 4;
      return true;
    }
    if (this.s.startsWith("false", this.i)) {
      this.i += 5;
      return false;
    }
    if (this.s.startsWith("null", this.i)) {
      this.i += 4;
      return null;
    }
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (!m || m[0] === "" || m[0] === "-") this.fail(c === undefined ? "unexpected end of input" : `unexpected '${c}'`);
    this.i += m[0].length;
    // as nlohmann::json reads numbers, and Nix takes them
    if (m[2] || m[3]) return this.float(m[0]);
    const n = BigInt(m[0]);
    if (n > 18446744073709551615n || n < -9223372036854775808n) return this.float(m[0]); // fits neither uint64 nor int64
    if (n > 9223372036854775807n) throw new EvalError(`unsigned json number ${m[0]} outside of Nix integer range`, this.pos);
    return mkInt(n);
  }

  float(text: string): NixFloat {
    const f = parseFloat(text);
    if (!Number.isFinite(f)) throw new EvalError(`[json.exception.out_of_range.406] number overflow parsing '${text}'`, this.pos).addTrace("while decoding a JSON string");
    return new NixFloat(f);
  }

  str(): string {
    this.i++;
    let out = "";
    let nul = false;
    for (;;) {
      if (this.i >= this.s.length) this.fail("unterminated string");
      const c = this.s[this.i];
      if (c === '"') {
        this.i++;
        // Nix's strings are C strings
        if (nul) throw new EvalError(nulError(out), this.pos);
        return out;
      }
      if (c === "\\") {
        const e = this.s[this.i + 1];
        this.i += 2;
        if (e === "u") {
          const hex = this.s.slice(this.i, this.i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("bad \\u escape");
          const code = parseInt(hex, 16);
          if (code === 0) nul = true;
          out += String.fromCharCode(code);
          this.i += 4;
        } else if (e in ESC) out += ESC[e];
        else this.fail("bad escape");
        continue;
      }
      if (c.charCodeAt(0) < 0x20) this.fail("control character in string");
      out += c;
      this.i++;
    }
  }
}

const NUMBER = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

const ESC: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
