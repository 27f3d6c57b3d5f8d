// fromTOML: smol-toml parses; what Nix 2.26 (toml11) refuses and smol-toml
// accepts is refused here with toml11's words: integers outside 64 bits,
// floats too big for a double, and strings with NUL bytes (Nix's strings are
// C strings).
import type { Pos } from "../ast";
import { EvalError, Lazy, NixAttrs, NixFloat, Value, mkInt, strValue, forceStringValue } from "../value";
import type { Definer } from "./registry";
import { parse as parseToml } from "smol-toml";
import { passFatal } from "../limits";
import { nulError } from "../lexer";

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

export function register(def: Definer): void {
  def("fromTOML", 1, ([s], pos) => {
    const text = strValue(forceStringValue(s, pos));
    let doc: unknown;
    try {
      doc = parseToml(text, { integersAsBigInt: true });
    } catch (e) {
      passFatal(e);
      throw new EvalError(`while parsing TOML: ${(e as Error).message}`, pos);
    }
    // (toml11 refuses such a number while parsing, before anything else is looked at)
    const err = hasBigNumber(doc) ? numberError(text) : null;
    if (err !== null) throw new EvalError(`while parsing TOML: ${err}`, pos);
    return tomlToValue(doc, pos);
  });
}

/** Whether a parsed document holds an integer beyond 64 bits or an infinite float (maybe `inf`). */
function hasBigNumber(x: unknown): boolean {
  if (typeof x === "bigint") return x > INT64_MAX || x < INT64_MIN;
  if (typeof x === "number") return x === Infinity || x === -Infinity;
  if (Array.isArray(x)) return x.some(hasBigNumber);
  if (typeof x === "object" && x !== null && !(x instanceof Date)) return Object.values(x).some(hasBigNumber);
  return false;
}

function tomlToValue(x: unknown, pos: Pos | null): Value {
  if (x === null || x === undefined) return null;
  if (typeof x === "bigint") return mkInt(x);
  if (typeof x === "number") return new NixFloat(x);
  if (typeof x === "string") {
    if (x.includes("\0")) throw nulInToml(x, pos);
    return x;
  }
  if (typeof x === "boolean") return x;
  if (Array.isArray(x)) return x.map((e) => tomlToValue(e, pos));
  if (x instanceof Date || (typeof x === "object" && x && "toISOString" in x)) {
    throw new EvalError("while parsing TOML: Dates and times are not supported", pos);
  }
  const m = new Map<string, Lazy>();
  for (const [k, v] of Object.entries(x as Record<string, unknown>)) {
    if (k.includes("\0")) throw nulInToml(k, pos);
    m.set(k, tomlToValue(v, pos));
  }
  return NixAttrs.fromMap(m);
}

function nulInToml(s: string, pos: Pos | null): EvalError {
  return new EvalError(`while parsing TOML: error: ${nulError(s)}`, pos);
}

// A number literal where a value may start (not inside a bare key or a date).
const NUMBER = /[+-]?(?:0x[0-9A-Fa-f_]+|0o[0-7_]+|0b[01_]+|inf|nan|[0-9][0-9_]*(?:\.[0-9_]+)?(?:[eE][+-]?[0-9_]+)?)/y;

/**
 * toml11's report for the first number literal of `text` that does not fit
 * (null if there is none: an infinity is also written `inf`): an integer
 * beyond 64 bits or a float beyond a double's range. Strings and comments
 * are skipped.
 */
function numberError(text: string): string | null {
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "#") {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? text.length : nl;
      continue;
    }
    if (c === '"' || c === "'") {
      i = skipString(text, i);
      continue;
    }
    if (/[A-Za-z0-9_+-]/.test(c) && (i === 0 || !/[A-Za-z0-9_.:-]/.test(text[i - 1]))) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      let end = i + 1;
      while (end < text.length && /[A-Za-z0-9_.:+-]/.test(text[end])) end++; // the whole word
      if (m && i + m[0].length === end && !/^\s*[=.]/.test(text.slice(end, end + 40))) {
        const msg = checkNumber(m[0]);
        if (msg) return snippet(text, end, msg);
      }
      i = end;
      continue;
    }
    i++;
  }
  return null;
}

/** toml11's message for a literal that does not fit, or null. */
function checkNumber(lit: string): [string, string] | null {
  const t = lit.replace(/_/g, "");
  const body = t.replace(/^[+-]/, "");
  const kind = body.startsWith("0x") ? "hex" : body.startsWith("0o") ? "oct" : body.startsWith("0b") ? "bin" : /[.eE]|inf|nan/.test(body) ? "float" : "dec";
  if (kind === "float") {
    if (/inf|nan/.test(body) || Number.isFinite(Number(t))) return null;
    return ["toml::parse_floating: failed to read floating point value from stream", "here"];
  }
  const n = kind === "dec" ? BigInt(t) : BigInt(body);
  if (kind === "dec") return n > INT64_MAX || n < INT64_MIN ? ["toml::parse_dec_integer: too large integer: current max digits = 2^63", "must be < 2^63"] : null;
  return n > INT64_MAX ? [`toml::parse_${kind}_integer: too large integer: current max value = 2^63`, "must be < 2^63"] : null;
}

/** The offset just after the string starting at `i` (basic, literal, or multi-line). */
function skipString(text: string, i: number): number {
  const q = text[i];
  const triple = text.startsWith(q.repeat(3), i);
  const close = triple ? q.repeat(3) : q;
  let j = i + close.length;
  while (j < text.length) {
    if (q === '"' && text[j] === "\\") {
      j += 2;
      continue;
    }
    if (text.startsWith(close, j)) {
      j += close.length;
      while (triple && text[j] === q) j++; // up to two more quotes belong to the string
      return j;
    }
    if (!triple && text[j] === "\n") return j;
    j++;
  }
  return j;
}

/** toml11's report: the message, then the line with a caret at `at`. */
function snippet(text: string, at: number, [msg, note]: [string, string]): string {
  const lineStart = text.lastIndexOf("\n", at - 1) + 1;
  const nl = text.indexOf("\n", at);
  const line = text.slice(lineStart, nl < 0 ? text.length : nl);
  const no = String(text.slice(0, lineStart).split("\n").length);
  const pad = " ".repeat(no.length);
  return `[error] ${msg}\n --> fromTOML\n ${pad} |\n ${no} | ${line}\n ${pad} | ${" ".repeat(at - lineStart)}^-- ${note}\n`;
}
