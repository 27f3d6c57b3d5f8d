// The Nix scanner: source text -> tokens. Strings, indented strings and
// interpolated paths are modal (they contain `${ ... }` with ordinary tokens
// inside), so the lexer keeps a mode stack, like the flex states of C++ Nix.
import type { Pos } from "./ast";

export type TokKind =
  | "id" | "int" | "float" | "path" | "hpath" | "spath" | "uri"
  | "str_open" | "str" | "str_close" // "..." pieces
  | "ind_open" | "ind_str" | "ind_close" // ''...'' pieces
  | "path_start" | "path_str" | "path_end" // interpolated path pieces
  | "interp" // ${ (inside strings/paths)
  | "kw" | "op" | "eof";

export interface Token {
  kind: TokKind;
  /** Identifier/keyword/operator text, or the decoded literal text. */
  value: string;
  pos: Pos;
  /** Offset just past the token. */
  end: number;
}

export class LexError extends Error {
  constructor(message: string, readonly pos: Pos) {
    super(message);
  }
}

const KEYWORDS = new Set(["if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or"]);
// longest first
const OPS = ["...", "==", "!=", "<=", ">=", "&&", "||", "->", "//", "++", "${", "(", ")", "{", "}", "[", "]", ";", ":", ",", "@", "?", ".", "=", "<", ">", "+", "-", "*", "/", "!"];

const isIdStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
const isIdChar = (c: number) => isIdStart(c) || (c >= 48 && c <= 57) || c === 39 || c === 45;
const isDigit = (c: number) => c >= 48 && c <= 57;
// [a-zA-Z0-9._\-+]
const isPathChar = (c: number) => isIdStart(c) || isDigit(c) || c === 46 || c === 45 || c === 43;
const URI_CHARS = /[a-zA-Z0-9%/?:@&=+$,\-_.!~*']/;
const isUriChar = (c: number) => c < 128 && URI_CHARS.test(String.fromCharCode(c));

type Mode = "normal" | "string" | "ind" | "path";

export class Lexer {
  private i = 0;
  private line = 1;
  private lineStart = 0;
  /** Mode stack; "normal" frames also count braces to find the end of `${`. */
  private modes: { mode: Mode; depth: number }[] = [{ mode: "normal", depth: 0 }];
  private peeked: Token[] = [];

  constructor(readonly src: string, readonly file: string) {}

  posAt(offset: number): Pos {
    // positions are computed incrementally in advance(); this handles lookbehind
    let line = 1;
    let ls = 0;
    for (let k = 0; k < offset; k++) if (this.src.charCodeAt(k) === 10) {
      line++;
      ls = k + 1;
    }
    return { file: this.file, line, column: offset - ls + 1 };
  }

  private here(): Pos {
    return { file: this.file, line: this.line, column: this.i - this.lineStart + 1 };
  }

  private advanceTo(j: number): void {
    const s = this.src;
    for (let k = this.i; k < j; k++) {
      if (s.charCodeAt(k) === 10) {
        this.line++;
        this.lineStart = k + 1;
      }
    }
    this.i = j;
  }

  private tok(kind: TokKind, value: string, pos: Pos): Token {
    return { kind, value, pos, end: this.i };
  }

  peek(n = 0): Token {
    while (this.peeked.length <= n) this.peeked.push(this.scan());
    return this.peeked[n];
  }

  next(): Token {
    return this.peeked.length ? this.peeked.shift()! : this.scan();
  }

  private get mode(): Mode {
    return this.modes[this.modes.length - 1].mode;
  }

  private scan(): Token {
    switch (this.mode) {
      case "string":
        return this.scanString();
      case "ind":
        return this.scanInd();
      case "path":
        return this.scanPathPart();
      default:
        return this.scanNormal();
    }
  }

  private skipSpace(): void {
    const s = this.src;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 32 || c === 9 || c === 13 || c === 10) this.advanceTo(this.i + 1);
      else if (c === 35) {
        // # comment
        let j = this.i;
        while (j < s.length && s.charCodeAt(j) !== 10) j++;
        this.advanceTo(j);
      } else if (c === 47 && s.charCodeAt(this.i + 1) === 42) {
        const start = this.here();
        const j = s.indexOf("*/", this.i + 2);
        if (j < 0) throw new LexError("unterminated /* comment", start);
        this.advanceTo(j + 2);
      } else return;
    }
  }

  private scanNormal(): Token {
    this.skipSpace();
    const s = this.src;
    const pos = this.here();
    if (this.i >= s.length) return this.tok("eof", "", pos);
    const c = s.charCodeAt(this.i);
    const start = this.i;

    // paths: must be checked before operators ('.', '/', '~', '<')
    const p = this.matchPath();
    if (p) return p;

    if (isIdStart(c)) {
      let j = this.i + 1;
      while (j < s.length && isIdChar(s.charCodeAt(j))) j++;
      // URI: scheme ":" uri-chars (longest match wins over ID ':')
      if (s.charCodeAt(j) === 58) {
        let k = j;
        // scheme may contain + - . but ID chars cover letters/digits; re-scan as scheme
        let sch = this.i + 1;
        while (sch < s.length && (isIdStart(s.charCodeAt(sch)) || isDigit(s.charCodeAt(sch)) || s[sch] === "+" || s[sch] === "-" || s[sch] === ".")) sch++;
        if (s.charCodeAt(sch) === 58 && isUriChar(s.charCodeAt(sch + 1))) {
          k = sch + 1;
          while (k < s.length && isUriChar(s.charCodeAt(k))) k++;
          this.advanceTo(k);
          return this.tok("uri", s.slice(start, k), pos);
        }
      }
      this.advanceTo(j);
      const word = s.slice(start, j);
      return this.tok(KEYWORDS.has(word) ? "kw" : "id", word, pos);
    }
    if (isDigit(c) || (c === 46 && isDigit(s.charCodeAt(this.i + 1)))) {
      // FLOAT (([1-9][0-9]*\.[0-9]*)|(0?\.[0-9]+))([Ee][+-]?[0-9]+)? ; INT [0-9]+
      const m = /^(?:(?:[1-9][0-9]*\.[0-9]*)|(?:0?\.[0-9]+))(?:[Ee][+-]?[0-9]+)?/.exec(s.slice(this.i, this.i + 400));
      const mi = /^[0-9]+/.exec(s.slice(this.i, this.i + 400));
      if (m && (!mi || m[0].length > mi[0].length)) {
        this.advanceTo(this.i + m[0].length);
        return this.tok("float", m[0], pos);
      }
      this.advanceTo(this.i + mi![0].length);
      return this.tok("int", mi![0], pos);
    }
    if (c === 34) {
      this.advanceTo(this.i + 1);
      this.modes.push({ mode: "string", depth: 0 });
      return this.tok("str_open", '"', pos);
    }
    if (c === 39 && s.charCodeAt(this.i + 1) === 39) {
      // ''(\ *\n)? : a first line of only spaces is dropped
      let j = this.i + 2;
      let k = j;
      while (s.charCodeAt(k) === 32) k++;
      if (s.charCodeAt(k) === 10) j = k + 1;
      this.advanceTo(j);
      this.modes.push({ mode: "ind", depth: 0 });
      return this.tok("ind_open", "''", pos);
    }
    for (const op of OPS) {
      if (s.startsWith(op, this.i)) {
        this.advanceTo(this.i + op.length);
        const top = this.modes[this.modes.length - 1];
        if (op === "{" || op === "${") top.depth++;
        else if (op === "}") {
          if (top.depth === 0 && this.modes.length > 1) {
            // end of an interpolation: back to the enclosing string/path
            this.modes.pop();
            return this.tok("op", "}", pos);
          }
          top.depth--;
        }
        if (op === "${") return this.tok("op", "${", pos);
        return this.tok("op", op, pos);
      }
    }
    throw new LexError(`syntax error, unexpected character '${s[this.i]}'`, pos);
  }

  /** Paths: PATH, HPATH, SPATH, and the start of an interpolated path. */
  private matchPath(): Token | null {
    const s = this.src;
    const pos = this.here();
    const c = s.charCodeAt(this.i);
    if (c === 60) {
      // <a/b>
      let j = this.i + 1;
      if (!isPathChar(s.charCodeAt(j))) return null;
      while (isPathChar(s.charCodeAt(j))) j++;
      while (s.charCodeAt(j) === 47 && isPathChar(s.charCodeAt(j + 1))) {
        j++;
        while (isPathChar(s.charCodeAt(j))) j++;
      }
      if (s.charCodeAt(j) !== 62) return null;
      const text = s.slice(this.i + 1, j);
      this.advanceTo(j + 1);
      return this.tok("spath", text, pos);
    }
    let j = this.i;
    let home = false;
    if (c === 126) {
      // ~/...
      if (s.charCodeAt(j + 1) !== 47) return null;
      home = true;
      j++;
    } else {
      while (isPathChar(s.charCodeAt(j))) j++;
    }
    // need at least one "/" followed by a path char or ${
    if (s.charCodeAt(j) !== 47) return null;
    const afterSlash = s.charCodeAt(j + 1);
    const interpAfter = afterSlash === 36 && s.charCodeAt(j + 2) === 123;
    if (!isPathChar(afterSlash) && !interpAfter) return null;
    // consume segments
    while (s.charCodeAt(j) === 47 && (isPathChar(s.charCodeAt(j + 1)) || (s.charCodeAt(j + 1) === 36 && s.charCodeAt(j + 2) === 123))) {
      j++;
      while (isPathChar(s.charCodeAt(j))) j++;
      if (s.charCodeAt(j) === 36 && s.charCodeAt(j + 1) === 123) break;
    }
    const text = s.slice(this.i, j);
    if (s.charCodeAt(j) === 36 && s.charCodeAt(j + 1) === 123) {
      // interpolated path: emit path_start with the literal prefix
      this.advanceTo(j);
      this.modes.push({ mode: "path", depth: 0 });
      return this.tok("path_start", text, pos);
    }
    if (s.charCodeAt(j) === 47) {
      throw new LexError(`path '${text}/' has a trailing slash`, pos);
    }
    this.advanceTo(j);
    return this.tok(home ? "hpath" : "path", text, pos);
  }

  /** Inside an interpolated path: literal pieces, `${`, or the end. */
  private scanPathPart(): Token {
    const s = this.src;
    const pos = this.here();
    if (s.charCodeAt(this.i) === 36 && s.charCodeAt(this.i + 1) === 123) {
      this.advanceTo(this.i + 2);
      this.modes.push({ mode: "normal", depth: 0 });
      return this.tok("interp", "${", pos);
    }
    let j = this.i;
    while (j < s.length) {
      const c = s.charCodeAt(j);
      if (isPathChar(c)) j++;
      else if (c === 47 && (isPathChar(s.charCodeAt(j + 1)) || (s.charCodeAt(j + 1) === 36 && s.charCodeAt(j + 2) === 123))) j++;
      else break;
      if (s.charCodeAt(j) === 36 && s.charCodeAt(j + 1) === 123) break;
    }
    if (j > this.i) {
      const text = s.slice(this.i, j);
      this.advanceTo(j);
      return this.tok("path_str", text, pos);
    }
    if (s.charCodeAt(j) === 47) throw new LexError(`path has a trailing slash`, pos);
    this.modes.pop();
    return this.tok("path_end", "", pos);
  }

  private scanString(): Token {
    const s = this.src;
    const pos = this.here();
    if (this.i >= s.length) throw new LexError("syntax error, unexpected end of file, expecting '\"'", pos);
    const c = s.charCodeAt(this.i);
    if (c === 34) {
      this.advanceTo(this.i + 1);
      this.modes.pop();
      return this.tok("str_close", '"', pos);
    }
    if (c === 36 && s.charCodeAt(this.i + 1) === 123) {
      this.advanceTo(this.i + 2);
      this.modes.push({ mode: "normal", depth: 0 });
      return this.tok("interp", "${", pos);
    }
    let out = "";
    let j = this.i;
    while (j < s.length) {
      const d = s.charCodeAt(j);
      if (d === 34) break;
      if (d === 36) {
        if (s.charCodeAt(j + 1) === 123) break;
        if (s.charCodeAt(j + 1) === 36) {
          // "$$" is a literal "$$" (so "$${" is not an interpolation)
          out += "$$";
          j += 2;
          continue;
        }
        out += "$";
        j++;
        continue;
      }
      if (d === 92) {
        // a backslash at the very end: nothing can close the string
        if (j + 1 >= s.length) throw new LexError("syntax error, unexpected end of file, expecting '\"'", pos);
        const e = s[j + 1];
        if (e === "n") out += "\n";
        else if (e === "r") out += "\r";
        else if (e === "t") out += "\t";
        else if (e === "\r") {
          out += "\n";
          if (s[j + 2] === "\n") j++;
        } else out += e;
        j += 2;
        continue;
      }
      if (d === 13) {
        // CR and CRLF become LF, as Nix's unescapeStr
        out += "\n";
        j += s.charCodeAt(j + 1) === 10 ? 2 : 1;
        continue;
      }
      out += s[j];
      j++;
    }
    if (j >= s.length) throw new LexError("syntax error, unexpected end of file, expecting '\"'", pos);
    this.advanceTo(j);
    return this.tok("str", out, pos);
  }

  private scanInd(): Token {
    const s = this.src;
    const pos = this.here();
    if (this.i >= s.length) throw new LexError("syntax error, unexpected end of file, expecting \"''\"", pos);
    if (s.startsWith("''$", this.i)) {
      this.advanceTo(this.i + 3);
      return this.tok("ind_str", "$", pos);
    }
    if (s.startsWith("'''", this.i)) {
      this.advanceTo(this.i + 3);
      return this.tok("ind_str", "''", pos);
    }
    if (s.startsWith("''\\", this.i)) {
      const e = s[this.i + 3];
      if (e === undefined) throw new LexError("syntax error, unexpected end of file", pos);
      let v = e === "n" ? "\n" : e === "r" ? "\r" : e === "t" ? "\t" : e;
      let len = 4;
      if (e === "\r") {
        v = "\n";
        if (s[this.i + 4] === "\n") len = 5;
      }
      this.advanceTo(this.i + len);
      return this.tok("ind_str", v, pos);
    }
    if (s.startsWith("''", this.i)) {
      this.advanceTo(this.i + 2);
      this.modes.pop();
      return this.tok("ind_close", "''", pos);
    }
    if (s.startsWith("${", this.i)) {
      this.advanceTo(this.i + 2);
      this.modes.push({ mode: "normal", depth: 0 });
      return this.tok("interp", "${", pos);
    }
    let j = this.i;
    let out = "";
    while (j < s.length) {
      const d = s.charCodeAt(j);
      if (d === 39 && s.charCodeAt(j + 1) === 39) break;
      if (d === 36 && s.charCodeAt(j + 1) === 123) break;
      if (d === 36 && s.charCodeAt(j + 1) === 36) {
        out += "$$";
        j += 2;
        continue;
      }
      if (d === 13) {
        out += "\n";
        j += s.charCodeAt(j + 1) === 10 ? 2 : 1;
        continue;
      }
      out += s[j];
      j++;
    }
    if (j >= s.length) throw new LexError("syntax error, unexpected end of file, expecting \"''\"", pos);
    this.advanceTo(j);
    return this.tok("ind_str", out, pos);
  }
}
