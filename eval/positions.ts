// Source positions as numbers, like C++ Nix's PosIdx: every parsed source
// (file or expression text) gets a range of one position space, and a
// position is its base plus the offset into the text. The parser makes no
// object per node and closures capture a number; the file, line and column
// are worked out only when an error, a trace or unsafeGetAttrPos needs them.
import type { Pos, SourcePos } from "./ast";
import { passFatal } from "./limits";

interface Origin {
  base: number;
  file: string;
  /** The text's length, and the text itself (null until first needed, for a tree from the parse cache). */
  length: number;
  text: string | null;
  readText: (() => string) | null;
  /** Offsets of the first character of each line, made on first use. */
  lineStarts: number[] | null;
}

const origins: Origin[] = [];
// position 0 is never handed out, so a Pos is never falsy
let nextBase = 1;

/** Registers a source text; returns the position of its first character. */
export function addOrigin(file: string, text: string): Pos {
  return register({ base: nextBase, file, length: text.length, text, readText: null, lineStarts: null });
}

/**
 * Registers a source text known by its length only (a tree from the parse
 * cache): readText gets it when a line number or snippet is needed (like
 * Nix, which also reads a file again for that).
 */
export function addUnreadOrigin(file: string, length: number, readText: () => string): Pos {
  return register({ base: nextBase, file, length, text: null, readText, lineStarts: null });
}

function register(o: Origin): Pos {
  // one past the end is a position too (the end of the text)
  nextBase += o.length + 1;
  origins.push(o);
  return o.base;
}

function textOf(o: Origin): string {
  if (o.text === null) {
    try {
      o.text = o.readText!();
    } catch (e) {
      passFatal(e);
      o.text = ""; // gone since: positions stay numbers, lines start at 1
    }
  }
  return o.text;
}

function originOf(p: Pos): Origin | undefined {
  let lo = 0;
  let hi = origins.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (origins[mid].base <= p) lo = mid;
    else hi = mid - 1;
  }
  const o = origins[lo];
  return o !== undefined && o.base <= p && p <= o.base + o.length ? o : undefined;
}

/** The file ("" for -E and stdin), line and column of a position: 1-based, the column in bytes of UTF-8, as Nix counts it. */
export function sourcePos(p: Pos): SourcePos {
  const o = originOf(p);
  if (o === undefined) return { file: "", line: 1, column: 1 };
  const offset = p - o.base;
  const ls = o.lineStarts ?? (o.lineStarts = lineStartsOf(textOf(o)));
  let lo = 0;
  let hi = ls.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ls[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  const start = ls[lo];
  const text = textOf(o);
  let column = offset - start + 1;
  for (let i = start; i < offset; i++) {
    if (text.charCodeAt(i) >= 0x80) {
      column = Buffer.byteLength(text.slice(start, offset)) + 1;
      break;
    }
  }
  return { file: o.file, line: lo + 1, column };
}

/** The source text before a position, if it is known (the repl's :doc looks for a comment there). */
export function textBefore(p: Pos): string | undefined {
  const o = originOf(p);
  return o === undefined ? undefined : textOf(o).slice(0, p - o.base);
}

/** The file of a position ("" for -E and stdin). */
export function fileOf(p: Pos): string {
  return originOf(p)?.file ?? "";
}

/** The lines of the text a position is in (for error snippets), if it is known. */
export function linesOf(p: Pos): string[] | undefined {
  const o = originOf(p);
  return o === undefined ? undefined : textOf(o).split("\n");
}

function lineStartsOf(s: string): number[] {
  const starts = [0];
  for (let k = s.indexOf("\n"); k >= 0; k = s.indexOf("\n", k + 1)) starts.push(k + 1);
  return starts;
}
