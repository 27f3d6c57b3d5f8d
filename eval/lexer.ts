// The Nix scanner: source text -> tokens. Strings, indented strings and
// interpolated paths are modal (they contain `${ ... }` with ordinary tokens
// inside), so the lexer keeps a mode stack, like the flex states of C++ Nix.
//
// Speed matters mostly before the JIT has warmed up (every file of nixpkgs
// lib is parsed once per run), so the scanner does little work per
// character in JavaScript: runs of identifier, space, path and string
// characters are matched by sticky regexes (native code), operators by a
// switch on the character code, and positions (line/column) are computed
// only for the tokens the parser asks about, from a table of line starts.
import type { Pos } from "./ast";
import { addOrigin } from "./positions";

export type TokKind =
  | "id" | "int" | "float" | "path" | "hpath" | "spath" | "uri"
  | "str_open" | "str" | "str_close" // "..." pieces
  | "ind_open" | "ind_str" | "ind_esc" | "ind_close" // ''...'' pieces (ind_esc: an escape, `''$`, `'''`, `''\x`)
  | "path_start" | "path_str" | "path_end" // interpolated path pieces
  | "interp" // ${ (inside strings/paths)
  | "kw" | "op" | "eof";

export interface Token {
  kind: TokKind;
  /**
   * What the parser tests: the operator or keyword text for "op" and "kw"
   * tokens, else the kind (no operator or keyword is spelled like a kind).
   */
  t: string;
  /** Identifier/keyword/operator text, or the decoded literal text. */
  value: string;
  /** Offset of the token's first character. */
  start: number;
  /** Offset just past the token. */
  end: number;
}

export class LexError extends Error {
  constructor(message: string, readonly pos: Pos) {
    super(message);
  }
}

// word -> the same string (interned: the parser compares token types by identity)
const KEYWORDS = new Map(["if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or"].map((k) => [k, k]));

// Sticky regexes: set lastIndex, call test() (no match array is built), read lastIndex.
// Each can match the empty string, so test() never fails and resets lastIndex.
const ID_REST = /[a-zA-Z0-9_'-]*/y;
const SPACE = /(?:[ \t\r\n]+|#[^\n]*)*/y; // blanks and # comments
const URI_REST = /[a-zA-Z0-9%/?:@&=+$,\-_.!~*']*/y;
const SCHEME_REST = /[a-zA-Z0-9_+\-.]*/y;
const STR_RUN = /[^"$\\\r]*/y;
const IND_RUN = /[^'$\r]*/y;
const INT = /[0-9]*/y;
// Not sticky-with-empty: these fail when there is no match (lastIndex is then 0).
const FLOAT = /(?:[1-9][0-9]*\.[0-9]*|0?\.[0-9]+)(?:[Ee][+-]?[0-9]+)?/y;
// the start of a PATH/HPATH or interpolated path: prefix, "/", then a path char or "${"
const PATH_AHEAD = /[a-zA-Z0-9._\-+]*\/(?:[a-zA-Z0-9._\-+]|\$\{)/y;

/** Index just past the (possibly empty) match of a sticky `re` at `i`. */
function runEnd(re: RegExp, s: string, i: number): number {
  re.lastIndex = i;
  re.test(s);
  return re.lastIndex;
}

const isIdStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
const isDigit = (c: number) => c >= 48 && c <= 57;
// [a-zA-Z0-9._\-+]
const isPathChar = (c: number) => isIdStart(c) || isDigit(c) || c === 46 || c === 45 || c === 43;
// [a-zA-Z0-9%/?:@&=+$,\-_.!~*']
const isUriChar = (c: number) =>
  isIdStart(c) || isDigit(c) || c === 37 || c === 47 || c === 63 || c === 58 || c === 64 || c === 38 || c === 61 || c === 43 ||
  c === 36 || c === 44 || c === 45 || c === 46 || c === 33 || c === 126 || c === 42 || c === 39;
const isInterp = (s: string, j: number) => s.charCodeAt(j) === 36 && s.charCodeAt(j + 1) === 123;

const MODE_NORMAL = 0;
const MODE_STRING = 1;
const MODE_IND = 2;
const MODE_PATH = 3;

export class Lexer {
  private i = 0;
  /** Mode stack; "normal" frames also count braces (in `depths`) to find the end of `${`. */
  private modes: number[] = [MODE_NORMAL];
  private depths: number[] = [0];
  /** The mode on top of the stack. */
  private mode = MODE_NORMAL;
  /** Scanned but not yet consumed tokens: a ring of `count` tokens from `head` (the parser looks at most 3 ahead). */
  private ring: (Token | null)[] = [null, null, null, null];
  private head = 0;
  private count = 0;
  /** The position of the source's first character (positions.ts). */
  readonly base: Pos;

  /** `base`: the source's position when it is registered already (positions.ts). */
  constructor(readonly src: string, readonly file: string, base?: Pos) {
    this.base = base ?? addOrigin(file, src);
    this.hasNul = src.includes("\0");
  }

  /**
   * Whether the source holds a NUL byte. Nix's strings are C strings: a NUL
   * in a string's text is an error, an escaped one (`\<NUL>`) ends that
   * piece of the string (see nulChecked).
   */
  readonly hasNul: boolean;

  /**
   * A string piece's text where the source has a NUL: `raw` says whether a
   * NUL came from the text itself (an error, as in Nix) rather than from an
   * escape (Nix then keeps the piece only up to it).
   */
  private nulChecked(out: string, raw: boolean, start: number): string {
    if (raw) throw new LexError(nulError(out), this.posAt(start));
    const nul = out.indexOf("\0");
    return nul < 0 ? out : out.slice(0, nul);
  }

  /** The position of a token. */
  pos(t: Token): Pos {
    return this.base + t.start;
  }

  posAt(offset: number): Pos {
    return this.base + offset;
  }

  /** The next token, not consumed. */
  peek(): Token {
    if (this.count === 0) {
      this.ring[this.head] = this.mode === MODE_NORMAL ? this.scanNormal() : this.scanModal();
      this.count = 1;
    }
    return this.ring[this.head]!;
  }

  /** The token n places after the next one (n <= 3), not consumed. */
  peekAt(n: number): Token {
    while (this.count <= n) {
      this.ring[(this.head + this.count) & 3] = this.mode === MODE_NORMAL ? this.scanNormal() : this.scanModal();
      this.count++;
    }
    return this.ring[(this.head + n) & 3]!;
  }

  next(): Token {
    if (this.count === 0) return this.mode === MODE_NORMAL ? this.scanNormal() : this.scanModal();
    const t = this.ring[this.head]!;
    this.head = (this.head + 1) & 3;
    this.count--;
    return t;
  }

  private tok(kind: TokKind, value: string, start: number): Token {
    return { kind, t: kind, value, start, end: this.i };
  }

  private push(mode: number): void {
    this.modes.push(mode);
    this.depths.push(0);
    this.mode = mode;
  }

  private pop(): void {
    this.modes.pop();
    this.depths.pop();
    this.mode = this.modes[this.modes.length - 1];
  }

  private scanModal(): Token {
    switch (this.mode) {
      case MODE_STRING:
        return this.scanString();
      case MODE_IND:
        return this.scanInd();
      default:
        return this.scanPathPart();
    }
  }

  /** Skips blanks and comments from `i`; returns the offset of the next token. */
  private skipSpace(i: number): number {
    const s = this.src;
    for (;;) {
      // (-1 at the end: reading past it would deoptimise the compiled code)
      const c = i < s.length ? s.charCodeAt(i) : -1;
      if (c === 32 || c === 9 || c === 13 || c === 10 || c === 35) {
        SPACE.lastIndex = i;
        SPACE.test(s);
        i = SPACE.lastIndex;
      } else if (c === 47 && s.charCodeAt(i + 1) === 42) {
        const j = s.indexOf("*/", i + 2);
        if (j < 0) throw new LexError("unterminated /* comment", this.posAt(i));
        i = j + 2;
      } else return i;
    }
  }

  /** A token in normal mode. The common tokens (identifiers, punctuation) are scanned inline. */
  private scanNormal(): Token {
    const s = this.src;
    let start = this.i;
    // -1 at the end of the source (reading past it would deoptimise the compiled code)
    let c = start < s.length ? s.charCodeAt(start) : -1;
    if (c === 32 || c === 9 || c === 13 || c === 10 || c === 35 || c === 47) {
      start = this.skipSpace(start);
      this.i = start;
      c = start < s.length ? s.charCodeAt(start) : -1;
    }
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95) {
      ID_REST.lastIndex = start + 1;
      ID_REST.test(s);
      const j = ID_REST.lastIndex;
      const d = j < s.length ? s.charCodeAt(j) : -1;
      // '/', '.', '+' may continue a path (the other path chars are identifier chars), ':' a URI
      if (d === 47 || d === 46 || d === 43 || d === 58) {
        const t = this.pathOrUri(d);
        if (t !== null) return t;
      }
      this.i = j;
      const word = s.slice(start, j);
      const kw = KEYWORDS.get(word);
      if (kw === undefined) return { kind: "id", t: "id", value: word, start, end: j };
      return { kind: "kw", t: kw, value: kw, start, end: j };
    }
    let op: string | null;
    switch (c) {
      case 40: op = "("; break;
      case 41: op = ")"; break;
      case 59: op = ";"; break;
      case 58: op = ":"; break;
      case 44: op = ","; break;
      case 64: op = "@"; break;
      case 63: op = "?"; break;
      case 91: op = "["; break;
      case 93: op = "]"; break;
      case 61: op = s.charCodeAt(start + 1) === 61 ? "==" : "="; break;
      case 123:
        this.depths[this.depths.length - 1]++;
        op = "{";
        break;
      case 125: {
        const top = this.depths.length - 1;
        // at depth 0 inside `${`: the end of an interpolation, back to the enclosing string/path
        if (this.depths[top] === 0 && top > 0) this.pop();
        else this.depths[top]--;
        op = "}";
        break;
      }
      case 34:
        this.i = start + 1;
        this.push(MODE_STRING);
        return { kind: "str_open", t: "str_open", value: '"', start, end: start + 1 };
      default:
        return this.scanOther(c);
    }
    const end = start + op.length;
    this.i = end;
    return { kind: "op", t: op, value: op, start, end };
  }

  /** After an identifier: a path or URI starting at the identifier, or null. */
  private pathOrUri(d: number): Token | null {
    if (d !== 58) return this.matchPath();
    // URI: scheme ":" uri-chars (longest match wins over ID ':')
    const s = this.src;
    const start = this.i;
    const sch = runEnd(SCHEME_REST, s, start + 1);
    if (s.charCodeAt(sch) !== 58 || !isUriChar(s.charCodeAt(sch + 1))) return null;
    this.i = runEnd(URI_REST, s, sch + 1);
    return this.tok("uri", s.slice(start, this.i), start);
  }

  /** The less common tokens of normal mode: paths, numbers, '' strings, other operators, end of file. */
  private scanOther(c: number): Token {
    const s = this.src;
    const start = this.i;
    if (start >= s.length) return this.tok("eof", "", start);
    // paths must be tried before numbers and operators ('.', '/', '~', '<', '-', '+')
    if (isDigit(c) || c === 46 || c === 47 || c === 126 || c === 60 || c === 45 || c === 43) {
      const p = this.matchPath();
      if (p) return p;
    }
    if (isDigit(c) || (c === 46 && isDigit(s.charCodeAt(start + 1)))) return this.scanNumber();
    if (c === 39 && s.charCodeAt(start + 1) === 39) {
      // ''(\ *\n)? : a first line of only spaces is dropped
      let j = start + 2;
      let k = j;
      while (s.charCodeAt(k) === 32) k++;
      if (s.charCodeAt(k) === 10) j = k + 1;
      this.i = j;
      this.push(MODE_IND);
      return this.tok("ind_open", "''", start);
    }
    const op = matchOp(c, s.charCodeAt(start + 1), s.charCodeAt(start + 2));
    if (op === null) throw new LexError(`syntax error, unexpected character '${s[start]}'`, this.posAt(start));
    if (op === "${") this.depths[this.depths.length - 1]++;
    this.i = start + op.length;
    return { kind: "op", t: op, value: op, start, end: this.i };
  }

  private scanNumber(): Token {
    const s = this.src;
    const start = this.i;
    // FLOAT (([1-9][0-9]*\.[0-9]*)|(0?\.[0-9]+))([Ee][+-]?[0-9]+)? ; INT [0-9]+
    FLOAT.lastIndex = start;
    const f = FLOAT.test(s) ? FLOAT.lastIndex : start;
    const n = runEnd(INT, s, start);
    // the original scanner matched within 400 characters: keep its tokens for longer numbers
    if (f - start >= 400 || n - start >= 400) return this.scanLongNumber();
    if (f > n) {
      this.i = f;
      return this.tok("float", s.slice(start, f), start);
    }
    this.i = n;
    return this.tok("int", s.slice(start, n), start);
  }

  private scanLongNumber(): Token {
    const start = this.i;
    const window = this.src.slice(start, start + 400);
    const m = /^(?:(?:[1-9][0-9]*\.[0-9]*)|(?:0?\.[0-9]+))(?:[Ee][+-]?[0-9]+)?/.exec(window);
    const mi = /^[0-9]+/.exec(window);
    if (m && (!mi || m[0].length > mi[0].length)) {
      this.i = start + m[0].length;
      return this.tok("float", m[0], start);
    }
    this.i = start + mi![0].length;
    return this.tok("int", mi![0], start);
  }

  /** Paths: PATH, HPATH, SPATH, and the start of an interpolated path. */
  private matchPath(): Token | null {
    const s = this.src;
    const start = this.i;
    const c = s.charCodeAt(start);
    if (c === 60) {
      // <a/b>
      let j = start + 1;
      if (!isPathChar(s.charCodeAt(j))) return null;
      while (isPathChar(s.charCodeAt(j))) j++;
      while (s.charCodeAt(j) === 47 && isPathChar(s.charCodeAt(j + 1))) {
        j++;
        while (isPathChar(s.charCodeAt(j))) j++;
      }
      if (s.charCodeAt(j) !== 62) return null;
      const text = s.slice(start + 1, j);
      this.i = j + 1;
      return this.tok("spath", text, start);
    }
    let j = start;
    let home = false;
    if (c === 126) {
      // ~/...
      if (s.charCodeAt(j + 1) !== 47) return null;
      home = true;
      j++;
      const a = s.charCodeAt(j + 1);
      if (!isPathChar(a) && !isInterp(s, j + 1)) return null;
    } else {
      PATH_AHEAD.lastIndex = start;
      if (!PATH_AHEAD.test(s)) return null;
      while (isPathChar(s.charCodeAt(j))) j++;
    }
    // consume segments ("/" then path chars), stopping before "${"
    while (s.charCodeAt(j) === 47 && (isPathChar(s.charCodeAt(j + 1)) || isInterp(s, j + 1))) {
      j++;
      while (isPathChar(s.charCodeAt(j))) j++;
      if (isInterp(s, j)) break;
    }
    const text = s.slice(start, j);
    if (isInterp(s, j)) {
      // interpolated path: emit path_start with the literal prefix
      this.i = j;
      this.push(MODE_PATH);
      return this.tok("path_start", text, start);
    }
    if (s.charCodeAt(j) === 47) throw new LexError(`path '${text}/' has a trailing slash`, this.posAt(start));
    this.i = j;
    return this.tok(home ? "hpath" : "path", text, start);
  }

  /** Inside an interpolated path: literal pieces, `${`, or the end. */
  private scanPathPart(): Token {
    const s = this.src;
    const start = this.i;
    if (isInterp(s, start)) return this.openInterp(start);
    let j = start;
    while (j < s.length) {
      const c = s.charCodeAt(j);
      if (isPathChar(c)) j++;
      else if (c === 47 && (isPathChar(s.charCodeAt(j + 1)) || isInterp(s, j + 1))) j++;
      else break;
      if (isInterp(s, j)) break;
    }
    if (j > start) {
      this.i = j;
      return this.tok("path_str", s.slice(start, j), start);
    }
    if (s.charCodeAt(j) === 47) throw new LexError(`path has a trailing slash`, this.posAt(start));
    this.pop();
    return this.tok("path_end", "", start);
  }

  private scanString(): Token {
    const s = this.src;
    const start = this.i;
    if (start >= s.length) throw new LexError("syntax error, unexpected end of file, expecting '\"'", this.posAt(start));
    const c = s.charCodeAt(start);
    if (c === 34) {
      this.i++;
      this.pop();
      return this.tok("str_close", '"', start);
    }
    if (isInterp(s, start)) return this.openInterp(start);
    let out = "";
    let j = start;
    let rawNul = false;
    for (;;) {
      // plain characters up to the next '"', '$', '\\' or CR
      const k = runEnd(STR_RUN, s, j);
      if (k > j) {
        out += s.slice(j, k);
        if (this.hasNul && s.slice(j, k).includes("\0")) rawNul = true;
      }
      j = k;
      if (j >= s.length) throw new LexError("syntax error, unexpected end of file, expecting '\"'", this.posAt(start));
      const d = s.charCodeAt(j);
      if (d === 34) break;
      if (d === 36) {
        const e = s.charCodeAt(j + 1);
        if (e === 123) break;
        // "$$" is a literal "$$" (so "$${" is not an interpolation)
        if (e === 36) {
          out += "$$";
          j += 2;
        } else {
          out += "$";
          j++;
        }
      } else if (d === 92) {
        // a backslash at the very end: nothing can close the string
        if (j + 1 >= s.length) throw new LexError("syntax error, unexpected end of file, expecting '\"'", this.posAt(start));
        const e = s[j + 1];
        if (e === "n") out += "\n";
        else if (e === "r") out += "\r";
        else if (e === "t") out += "\t";
        else if (e === "\r") {
          out += "\n";
          if (s[j + 2] === "\n") j++;
        } else out += e;
        j += 2;
      } else {
        // CR and CRLF become LF, as Nix's unescapeStr
        out += "\n";
        j += s.charCodeAt(j + 1) === 10 ? 2 : 1;
      }
    }
    this.i = j;
    if (this.hasNul) out = this.nulChecked(out, rawNul, start);
    return this.tok("str", out, start);
  }

  /** `${` at start: the interpolated expression is scanned in normal mode until its `}`. */
  private openInterp(start: number): Token {
    this.i = start + 2;
    this.push(MODE_NORMAL);
    return this.tok("interp", "${", start);
  }

  private scanInd(): Token {
    const s = this.src;
    const start = this.i;
    if (start >= s.length) throw new LexError("syntax error, unexpected end of file, expecting \"''\"", this.posAt(start));
    const c = s.charCodeAt(start);
    if (c === 39 && s.charCodeAt(start + 1) === 39) return this.scanIndQuote();
    if (isInterp(s, start)) return this.openInterp(start);
    let out = "";
    let j = start;
    for (;;) {
      // plain characters up to the next quote, '$' or CR
      const k = runEnd(IND_RUN, s, j);
      if (k > j) out += s.slice(j, k);
      j = k;
      if (j >= s.length) throw new LexError("syntax error, unexpected end of file, expecting \"''\"", this.posAt(start));
      const d = s.charCodeAt(j);
      const e = s.charCodeAt(j + 1);
      if (d === 39) {
        if (e === 39) break;
        out += "'";
        j++;
      } else if (d === 36) {
        if (e === 123) break;
        if (e === 36) {
          out += "$$";
          j += 2;
        } else {
          out += "$";
          j++;
        }
      } else {
        out += "\n";
        j += e === 10 ? 2 : 1;
      }
    }
    this.i = j;
    if (this.hasNul && out.includes("\0")) this.nulChecked(out, true, start);
    return this.tok("ind_str", out, start);
  }

  /** At `''` inside an indented string: an escape (`''$`, `'''`, `''\x`) or the end. */
  private scanIndQuote(): Token {
    const s = this.src;
    const start = this.i;
    const c = s.charCodeAt(start + 2);
    if (c === 36) {
      this.i = start + 3;
      return this.tok("ind_esc", "$", start);
    }
    if (c === 39) {
      this.i = start + 3;
      return this.tok("ind_esc", "''", start);
    }
    if (c === 92) {
      const e = s[start + 3];
      if (e === undefined) throw new LexError("syntax error, unexpected end of file", this.posAt(start));
      let v = e === "n" ? "\n" : e === "r" ? "\r" : e === "t" ? "\t" : e;
      let len = 4;
      if (e === "\r") {
        v = "\n";
        if (s[start + 4] === "\n") len = 5;
      }
      this.i = start + len;
      return this.tok("ind_esc", v, start);
    }
    this.i = start + 2;
    this.pop();
    return this.tok("ind_close", "''", start);
  }
}

/** The operator starting with char codes c, d, e (longest match), or null. */
function matchOp(c: number, d: number, e: number): string | null {
  switch (c) {
    case 42: return "*";
    case 46: return d === 46 && e === 46 ? "..." : ".";
    case 33: return d === 61 ? "!=" : "!";
    case 60: return d === 61 ? "<=" : "<";
    case 62: return d === 61 ? ">=" : ">";
    case 45: return d === 62 ? "->" : "-";
    case 43: return d === 43 ? "++" : "+";
    case 47: return d === 47 ? "//" : "/";
    case 38: return d === 38 ? "&&" : null;
    case 124: return d === 124 ? "||" : null;
    case 36: return d === 123 ? "${" : null;
    default: return null;
  }
}

/** Nix's error for a string with a NUL byte (shown as U+2400). */
export function nulError(s: string): string {
  return `input string '${s.replace(/\0/g, "\u2400")}' cannot be represented as Nix string because it contains null bytes`;
}
