// POSIX extended regular expressions (what C++ Nix's std::regex::extended
// accepts) translated to JS RegExps, cached.
import type { Pos } from "../ast";
import { EvalError } from "../value";
import { passFatal } from "../limits";

const CLASSES: Record<string, string> = {
  alpha: "a-zA-Z",
  digit: "0-9",
  alnum: "a-zA-Z0-9",
  upper: "A-Z",
  lower: "a-z",
  space: " \\t\\n\\r\\f\\v",
  blank: " \\t",
  punct: "!-\\/:-@\\[-`{-~",
  xdigit: "0-9A-Fa-f",
  cntrl: "\\x00-\\x1f\\x7f",
  print: "\\x20-\\x7e",
  graph: "\\x21-\\x7e",
  word: "a-zA-Z0-9_",
};

// one cache per mode, keyed by the regex itself: a key made by concatenation
// would be a new string at every call, hashed again each time
const caches = { full: new Map<string, RegExp>(), g: new Map<string, RegExp>() };

export function translateEre(re: string): string {
  let out = "";
  let i = 0;
  while (i < re.length) {
    const c = re[i];
    if (c === "\\") {
      const n = re[i + 1];
      if (n === undefined) throw new Error("trailing backslash");
      out += /[a-zA-Z0-9]/.test(n) ? (/[dDwWsSbB]/.test(n) ? "\\" + n : n) : "\\" + n;
      i += 2;
      continue;
    }
    if (c === "[") {
      let j = i + 1;
      let cls = "[";
      if (re[j] === "^") {
        cls += "^";
        j++;
      }
      if (re[j] === "]") {
        cls += "\\]";
        j++;
      }
      for (;;) {
        if (j >= re.length) throw new Error("unterminated bracket expression");
        const d = re[j];
        if (d === "]") break;
        if (d === "[" && re[j + 1] === ":") {
          const end = re.indexOf(":]", j + 2);
          if (end < 0) throw new Error("bad character class");
          const name = re.slice(j + 2, end);
          const rng = CLASSES[name];
          if (rng === undefined) throw new Error(`unknown character class '${name}'`);
          cls += rng;
          j = end + 2;
          continue;
        }
        if (d === "[" && (re[j + 1] === "." || re[j + 1] === "=")) {
          const end = re.indexOf(re[j + 1] + "]", j + 2);
          if (end < 0) throw new Error("bad collating element");
          cls += escapeInClass(re.slice(j + 2, end));
          j = end + 2;
          continue;
        }
        if (d === "\\" || d === "[" || d === "^" || d === "/") cls += "\\" + d;
        else cls += d;
        j++;
      }
      out += cls + "]";
      i = j + 1;
      continue;
    }
    if (c === "{") {
      const m = /^\{(\d*)(,?)(\d*)\}/.exec(re.slice(i));
      if (m) {
        out += m[0];
        i += m[0].length;
        continue;
      }
      out += "\\{";
      i++;
      continue;
    }
    if (c === "}") {
      out += "\\}";
      i++;
      continue;
    }
    if (c === "/") {
      out += "\\/";
      i++;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

function escapeInClass(s: string): string {
  return s.replace(/[\]\\^\-[]/g, (x) => "\\" + x);
}

/** mode "full": anchored match of the whole string; "g": global search. */
export function compileRegex(re: string, pos: Pos | null, mode: "full" | "g"): RegExp {
  const cache = caches[mode];
  let r = cache.get(re);
  if (r) {
    r.lastIndex = 0;
    return r;
  }
  try {
    const t = translateEre(re);
    r = mode === "full" ? new RegExp(`^(?:${t})$`, "s") : new RegExp(t, "gs");
  } catch (e) {
    passFatal(e);
    throw new EvalError(`invalid regular expression '${re}': ${(e as Error).message}`, pos);
  }
  cache.set(re, r);
  return r;
}
