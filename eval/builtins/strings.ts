// String builtins. Nix strings are byte strings: lengths and offsets count
// UTF-8 bytes, so non-ASCII strings go through Buffers.
import { EvalError, Lazy, NixAttrs, NixPath, NixString, Value, force, forceIntNumber, forceList, forceListLazy, elemForce, forceString, forceStringValue, mkString, strValue, ctxOf, isString } from "../value";
import type { Definer } from "./registry";
import type { Pos } from "../ast";
import { canonPath } from "../paths";
import { coerceToString, AS_INTERPOLATED, AS_TEXT, AS_TO_STRING } from "../coerce";
import { baseNameOf, dirOf } from "../paths";
import { compileRegex } from "./regex";
import { compareVersions, splitVersion, parseDrvName } from "./versions";
import { byteCount, decodeBytes, encodeBytes, joinRawBytes } from "../utf8";

// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

// The last long string asked about, and what was found for it: a loop of
// `substring i 1 s` over a long s (stringToCharacters) would otherwise scan
// or encode all of s at every step.
let lastLong: string | null = null;
let lastAscii = false;
let lastBytes: Buffer | null = null;
const LONG = 128;

function isAscii(s: string): boolean {
  if (s.length < LONG) return ASCII.test(s);
  if (s !== lastLong) {
    lastLong = s;
    lastAscii = ASCII.test(s);
    lastBytes = null;
  }
  return lastAscii;
}

function utf8Of(s: string): Buffer {
  if (s.length < LONG) return encodeBytes(s);
  if (s !== lastLong) isAscii(s); // makes s the remembered string
  return (lastBytes ??= encodeBytes(s));
}

export function byteLength(s: string): number {
  return isAscii(s) ? s.length : byteCount(s);
}

/** Bytes start.. of s (a character cut in two leaves raw bytes, eval/utf8.ts). */
export function byteSubstring(s: string, start: number, len: number): string {
  if (isAscii(s)) return s.substr(start, len);
  const b = utf8Of(s);
  return decodeBytes(b.subarray(start, Math.min(b.length, start + len)));
}

export function register(def: Definer): void {
  def("stringLength", 1, ([s], pos, state) => byteLength(strValue(coerceToString(state, s, pos, AS_INTERPOLATED))));
  def("substring", 3, ([st, ln, s], pos, state) => {
    const start = forceIntNumber(st, pos);
    const len = forceIntNumber(ln, pos);
    const sv = coerceToString(state, s, pos, AS_INTERPOLATED);
    if (start < 0) throw new EvalError("negative start position in 'substring'", pos);
    const str = strValue(sv);
    return mkString(byteSubstring(str, start, len < 0 ? Number.MAX_SAFE_INTEGER : len), ctxOf(sv));
  });
  def("concatStringsSep", 2, ([sep, l], pos, state) => {
    const sepv = forceStringValue(sep, pos);
    // the list is read lazily (elemForce): a forced string replaces its thunk
    // in the slot, so a long genList/map result keeps no thunk per element
    const xs = forceListLazy(l, pos);
    const parts: string[] = new Array(xs.length);
    let ctx: Set<string> | null = typeof sepv !== "string" && sepv.ctx.size > 0 ? new Set(sepv.ctx) : null;
    for (let i = 0; i < xs.length; i++) {
      const v = coerceToString(state, elemForce(xs, i), pos, AS_INTERPOLATED);
      if (typeof v === "string") parts[i] = v;
      else {
        parts[i] = v.s;
        if (v.ctx.size > 0) {
          ctx ??= new Set();
          for (const c of v.ctx) ctx.add(c);
        }
      }
    }
    // (the pieces of characters cut by substring join back into them here: stringAsChars, eval/utf8.ts)
    return mkString(joinRawBytes(parts.join(strValue(sepv))), ctx);
  });
  def("replaceStrings", 3, ([f, t, s], pos) => {
    const fromList = forceList(f, pos);
    const fromVals: (string | NixString)[] = new Array(fromList.length);
    for (let i = 0; i < fromList.length; i++) fromVals[i] = forceStringValue(fromList[i], pos);
    const to = forceList(t, pos);
    if (fromVals.length !== to.length) throw new EvalError("'from' and 'to' arguments passed to builtins.replaceStrings have different lengths", pos);
    const sv = forceStringValue(s, pos);
    const str = strValue(sv);
    const toCache: (string | NixString | undefined)[] = new Array(to.length);
    const fromStrs: string[] = new Array(fromVals.length);
    let anyEmpty = false;
    for (let i = 0; i < fromVals.length; i++) {
      fromStrs[i] = strValue(fromVals[i]);
      if (fromStrs[i] === "") anyEmpty = true;
    }
    if (!anyEmpty) return replaceNonEmpty(sv, str, fromStrs, to, toCache, pos);
    const ctx = new Set<string>(ctxOf(sv));
    let res = "";
    for (let p = 0; p <= str.length; ) {
      let found = false;
      for (let i = 0; i < fromStrs.length; i++) {
        const fs = fromStrs[i];
        if (str.startsWith(fs, p)) {
          found = true;
          const tv = (toCache[i] ??= forceStringValue(to[i], pos));
          res += strValue(tv);
          for (const c of ctxOf(tv)) ctx.add(c);
          if (fs.length === 0) {
            if (p < str.length) res += str[p];
            p++;
          } else p += fs.length;
          break;
        }
      }
      if (!found) {
        if (p < str.length) res += str[p];
        p++;
      }
    }
    return mkString(res, ctx);
  });
  def("split", 2, ([r, s], pos) => {
    const re = compileRegex(forceString(r, pos), pos, "g");
    const sv = forceStringValue(s, pos);
    const str = strValue(sv);
    const out: Lazy[] = [];
    let last = 0;
    re.lastIndex = 0;
    for (let m = re.exec(str); m !== null; m = re.exec(str)) {
      out.push(str.slice(last, m.index));
      out.push(m.slice(1).map((g) => (g === undefined ? null : g)));
      last = m.index + m[0].length;
      if (m[0].length === 0) {
        if (re.lastIndex >= str.length) {
          break;
        }
        re.lastIndex++;
      }
    }
    out.push(str.slice(last));
    return out;
  });
  def("match", 2, ([r, s], pos) => {
    const re = compileRegex(forceString(r, pos), pos, "full");
    const str = strValue(forceStringValue(s, pos));
    const m = re.exec(str);
    if (!m) return null;
    return m.slice(1).map((g) => (g === undefined ? null : g));
  });
  def("baseNameOf", 1, ([p], pos, state) => {
    const v = force(p);
    if (v instanceof NixPath) return baseNameOf(v.path);
    const s = coerceToString(state, v, pos, AS_TEXT);
    return mkString(baseNameOf(strValue(s)), ctxOf(s));
  });
  def("dirOf", 1, ([p], pos, state) => {
    const v = force(p);
    if (v instanceof NixPath) return new NixPath(dirOf(v.path));
    const s = coerceToString(state, v, pos, AS_TEXT);
    return mkString(dirOf(strValue(s)), ctxOf(s));
  });
  def("toString", 1, ([v], pos, state) => coerceToString(state, v, pos, AS_TO_STRING));
  def("parseDrvName", 1, ([s], pos) => {
    const { name, version } = parseDrvName(forceString(s, pos));
    return NixAttrs.from([["name", name], ["version", version]]);
  });
  def("compareVersions", 2, ([a, b], pos) => compareVersions(forceString(a, pos), forceString(b, pos)));
  def("splitVersion", 1, ([s], pos) => splitVersion(forceString(s, pos)));
  def("toPath", 1, ([s], pos, state) => {
    const v = coerceToString(state, s, pos, AS_TEXT);
    const str = strValue(v);
    if (!str.startsWith("/")) throw new EvalError(`string '${str}' doesn't represent an absolute path`, pos);
    return mkString(canonPath(str), ctxOf(v));
  });
  void isString;
  void (null as unknown as Value);
}

/**
 * replaceStrings without an empty pattern: from each position, the nearest
 * match of any pattern (the first listed on a tie, as Nix tries them in
 * order at every position) found with indexOf, and the text before it
 * copied whole, instead of trying every pattern at every character. A string
 * none of them occurs in is returned as it is.
 */
function replaceNonEmpty(
  sv: NixString | string,
  str: string,
  fromStrs: string[],
  to: readonly Lazy[],
  toCache: (string | NixString | undefined)[],
  pos: Pos | null,
): Value {
  const next: number[] = new Array(fromStrs.length);
  let any = false;
  for (let i = 0; i < fromStrs.length; i++) if ((next[i] = str.indexOf(fromStrs[i])) >= 0) any = true;
  if (!any) return sv;
  // the input's context, and that of every replacement used (made when one has some)
  let ctx: Set<string> | null = null;
  let res = "";
  let p = 0;
  for (;;) {
    let best = -1;
    for (let i = 0; i < next.length; i++) {
      if (next[i] >= 0 && next[i] < p) next[i] = str.indexOf(fromStrs[i], p);
      if (next[i] >= 0 && (best < 0 || next[i] < next[best])) best = i;
    }
    if (best < 0) break;
    const q = next[best];
    const tv = (toCache[best] ??= forceStringValue(to[best], pos));
    res += str.slice(p, q) + strValue(tv);
    if (typeof tv !== "string" && tv.ctx.size > 0) {
      ctx ??= new Set(ctxOf(sv));
      for (const c of tv.ctx) ctx.add(c);
    }
    p = q + fromStrs[best].length;
  }
  return mkString(res + str.slice(p), ctx ?? ctxOf(sv));
}
